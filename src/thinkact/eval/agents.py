"""How an eval builds each item's agent from ``thinkact run``-style options.

``agent_maker`` is the one place that turns CLI options into an ``Agent``: one backend for the
whole eval, and per run its own tools in its own workspace, with the run options' budget,
sampling, verify and context strategy, as the same ``AgentConfig`` that ``thinkact run``
makes of them. Each item's run records that config, so ``thinkact run --resume RUN`` could
continue it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from thinkact.agent import Agent, AgentConfig
from thinkact.backends.base import ModelBackend
from thinkact.eval.suite import Item
from thinkact.sandbox import SandboxUnavailable
from thinkact.tools.base import Tool
from thinkact.traces.base import TraceStore

MakeAgent = Callable[[str, Item, int, list[Tool]], Agent]
"""``(run_id, item, epoch, extra_tools) -> Agent``: the agent of one item's run."""

RUN_OPTIONS: dict[str, Any] = {
    "recipe": None, "provider": None, "model": None, "base_url": None, "api_key_env": None,
    "checkpoint": None, "script": None, "max_steps": None, "max_tool_calls": None,
    "max_thinking_tokens": None, "max_step_tokens": None, "thinking_tokens": None,
    "min_thinking_tokens": None,
    "timeout": None, "final_answer_grace": None, "max_cost": None, "context_strategy": None,
    "tools": None, "workspace": None, "system_prompt": None, "temperature": None,
    "top_p": None, "seed": None, "verify": None, "facts_db": None, "unsafe_python": False,
}
"""Every run option an eval takes, with its default (None: the agent's own default)."""

EPOCH_SEED_STRIDE = 1000  # epoch e samples with seed + 1000 e; heavy adds k on top


def _config(o: dict[str, Any], tools: tuple[str, ...] | None = None) -> AgentConfig:
    """The ``AgentConfig`` that ``thinkact run`` makes of the same options (``tools``: the
    item's own tool names instead of ``o["tools"]``); ``UsageError`` for bad ones."""
    from thinkact.cli.common import UsageError
    from thinkact.cli.setup import RunFlags
    from thinkact.recipes import apply_recipe

    try:  # a recipe fills the options not given; an item's own tools still win
        o = apply_recipe({**RUN_OPTIONS, **o}, o.get("recipe"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    names = ",".join(tools) if tools is not None else o["tools"]
    path = {k: Path(o[k]) if o[k] else None for k in ("script", "checkpoint", "facts_db")}
    flags = RunFlags(**{**{k: o[k] for k in RUN_OPTIONS if k not in path and k != "recipe"}, **path,
                        "tools": names if names != "" else "none", "workspace": None,
                        "no_mcp": True})
    return flags.config(None)


def build_backend(o: dict[str, Any]) -> ModelBackend:
    """The eval's one backend, as ``thinkact run`` would build it from the same options."""
    from thinkact.backends.config import ConfigError
    from thinkact.backends.factory import build
    from thinkact.cli.common import UsageError

    try:
        return build(_config(o).backend)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def agent_maker(o: dict[str, Any], backend: ModelBackend, trace: TraceStore) -> MakeAgent:
    """``MakeAgent`` over ``backend`` from run options ``o`` (keys of ``RUN_OPTIONS``);
    bad options raise ``UsageError`` when the first agent is built."""
    from thinkact.cli.common import UsageError

    _config(o)  # bad options fail here
    workspace = {**RUN_OPTIONS, **o}["workspace"]
    seed = {**RUN_OPTIONS, **o}["seed"]

    def make(run_id: str, item: Item, epoch: int, extra: list[Tool]) -> Agent:
        config = _config(o, item.tools)
        options = replace(config.options, seed=None if seed is None
                          else int(seed) + EPOCH_SEED_STRIDE * epoch)
        config = config.replace(options=options,
                                workspace=Path(workspace) / run_id if workspace else None)
        try:
            return config.build(run_id=run_id, backend=backend, trace=trace, tools=extra)
        except (ValueError, SandboxUnavailable) as exc:
            raise UsageError(str(exc)) from None

    return make


def check_tools(o: dict[str, Any], tool_sets: list[tuple[str, ...] | None]) -> None:
    """Build (and drop) the tools once in a scratch folder: bad names raise ``UsageError``."""
    import asyncio
    import tempfile

    from thinkact.backends.scripted import ScriptedBackend
    from thinkact.cli.common import UsageError

    with tempfile.TemporaryDirectory() as scratch:
        for tools in tool_sets or [None]:
            config = _config(o, tools).replace(workspace=Path(scratch))
            try:
                agent = config.build(backend=ScriptedBackend([]))
            except (ValueError, SandboxUnavailable) as exc:
                raise UsageError(str(exc)) from None
            asyncio.run(agent.aclose())
