"""How an eval builds each item's agent from ``thinkact run``-style options.

``agent_maker`` is the one place that turns CLI options into an ``Agent``: one backend for the
whole eval, and per run its own tools in its own workspace, with the run options' budget,
sampling, verify and context strategy. Each item's run is recorded like ``thinkact run``'s
(``config["setup"]`` included), so ``thinkact run --resume RUN`` could continue it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from thinkact.agent import (
    Agent,
    Budget,
    GenerationOptions,
    HideToolOutputs,
    Summarize,
    VerifyPolicy,
)
from thinkact.backends.base import ModelBackend
from thinkact.eval.suite import Item
from thinkact.paths import default_workspace
from thinkact.tools.base import Tool
from thinkact.traces.base import TraceStore

MakeAgent = Callable[[str, Item, int, list[Tool]], Agent]
"""``(run_id, item, epoch, extra_tools) -> Agent``: the agent of one item's run."""

RUN_OPTIONS: dict[str, Any] = {
    "provider": None, "model": None, "base_url": None, "api_key_env": None,
    "checkpoint": None, "script": None, "max_steps": None, "max_tool_calls": None,
    "max_thinking_tokens": None, "max_step_tokens": None, "thinking_tokens": None,
    "min_thinking_tokens": None,
    "timeout": None, "final_answer_grace": None, "max_cost": None, "context_strategy": None,
    "tools": None, "workspace": None, "system_prompt": None, "temperature": None,
    "top_p": None, "seed": None, "verify": None, "facts_db": None,
}
"""Every run option an eval takes, with its default (None: the agent's own default)."""

_BUDGET = {"max_steps": "max_steps", "max_tool_calls": "max_tool_calls",
           "max_thinking_tokens": "max_thinking_tokens",
           "max_thinking_tokens_per_step": "max_step_tokens",
           "thinking_tokens_per_step": "thinking_tokens", "max_wall_time_s": "timeout",
           "max_cost_usd": "max_cost", "final_answer_grace_s": "final_answer_grace"}
EPOCH_SEED_STRIDE = 1000  # epoch e samples with seed + 1000 e; heavy adds k on top


def build_backend(o: dict[str, Any]) -> ModelBackend:
    """The eval's one backend, as ``thinkact run`` would build it from the same options."""
    from thinkact.cli.setup import build_run_backend

    script = Path(o["script"]) if o.get("script") else None
    checkpoint = Path(o["checkpoint"]) if o.get("checkpoint") else None
    return build_run_backend(o.get("provider"), o.get("model"), o.get("base_url"),
                             o.get("api_key_env"), script, checkpoint, None)


def agent_maker(o: dict[str, Any], backend: ModelBackend, trace: TraceStore) -> MakeAgent:
    """``MakeAgent`` over ``backend`` from run options ``o`` (keys of ``RUN_OPTIONS``);
    bad options raise ``UsageError`` when the first agent is built."""
    from thinkact.cli.common import UsageError
    from thinkact.cli.setup import RunAgent

    o = {**RUN_OPTIONS, **o}
    budget = {key: o[opt] for key, opt in _BUDGET.items() if o[opt] is not None}
    strategy = o["context_strategy"] or "hide"
    if strategy not in ("hide", "summarize"):
        raise UsageError(f"--context-strategy must be hide or summarize, not {strategy!r}")
    if (o["temperature"] or 0) < 0 or not 0 < (o["top_p"] or 1) <= 1:
        raise UsageError("--temperature must be >= 0 and --top-p in (0, 1]")
    if (o["verify"] or 0) < 0:
        raise UsageError(f"--verify must be 0 or more, not {o['verify']}")

    def make(run_id: str, item: Item, epoch: int, extra: list[Tool]) -> Agent:
        plan = _plan(o, item.tools)
        ws = Path(o["workspace"]) / run_id if o["workspace"] else default_workspace(run_id)
        ws.mkdir(parents=True, exist_ok=True)
        seed = None if o["seed"] is None else int(o["seed"]) + EPOCH_SEED_STRIDE * epoch
        sampling = GenerationOptions(temperature=o["temperature"], top_p=o["top_p"], seed=seed,
                                     min_thinking_tokens=o["min_thinking_tokens"])
        return RunAgent(backend, tools=[*plan.build_builtin(ws), *extra], setup=plan.record(),
                        system_prompt=o["system_prompt"], budget=Budget(**budget),
                        context=Summarize() if strategy == "summarize" else HideToolOutputs(),
                        trace=trace, workspace=ws, options=sampling,
                        verify=VerifyPolicy(rounds=o["verify"] or 0))

    return make


def _plan(o: dict[str, Any], tools: tuple[str, ...] | None) -> Any:
    from thinkact.cli.setup import plan_tools

    names = ",".join(tools) if tools is not None else o.get("tools")
    return plan_tools({"tools": names if names != "" else "none", "shell": False,
                       "yes_shell": None, "mcp": None, "no_mcp": True,
                       "facts_db": Path(o["facts_db"]) if o.get("facts_db") else None}, {})


def check_tools(o: dict[str, Any], tool_sets: list[tuple[str, ...] | None]) -> None:
    """Build (and drop) the tools once in a scratch folder: bad names raise ``UsageError``."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for tools in tool_sets or [None]:
            _plan(o, tools).build_builtin(Path(scratch))
