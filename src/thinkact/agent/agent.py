"""The public entry point: ``Agent(backend, tools=...)``; ``start(task)`` / ``resume(run_id)``
give a ``Run`` to iterate, ``events`` / ``arun`` / ``run`` drive one."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from thinkact.agent.budget import Spend
from thinkact.agent.config import AgentConfig, ToolsConfig
from thinkact.agent.loop import Run, RunSetup
from thinkact.agent.repeat import RepeatDetector
from thinkact.backends.base import ModelBackend
from thinkact.events import Event, RunFinished, RunStatus
from thinkact.messages import Message, Usage
from thinkact.paths import default_workspace
from thinkact.tools.base import Tool, ToolContext
from thinkact.tools.toolset import ApprovalPolicy, Toolset
from thinkact.traces.base import TraceStore


def new_run_id() -> str:
    """Time-sortable and short: ``20261129-034512-ab12cd`` (UTC)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


T = TypeVar("T")


def run_then_close(work: Callable[[], Awaitable[T]], close: Callable[[], Awaitable[None]]) -> T:
    """``work()`` in a new event loop, then ``close()`` in the same loop whatever happens."""

    async def main() -> T:
        try:
            return await work()
        finally:
            await close()

    return asyncio.run(main())


@dataclass
class RunResult:
    run_id: str
    answer: str | None
    status: RunStatus
    reason: str
    steps: int
    tool_calls: int
    usage: Usage = field(default_factory=Usage)
    messages: list[Message] = field(default_factory=list)


class Agent:
    """A model, its tools and the rules of a run (``config``). Reusable across runs (not
    concurrently). ``Agent(backend, tools=[...], budget=Budget(...))`` takes ``AgentConfig``
    fields as keywords; ``AgentConfig.build()`` makes the whole agent from a config."""

    def __init__(
        self,
        backend: ModelBackend,
        tools: Sequence[Tool] | Toolset = (),
        *,
        config: AgentConfig | None = None,
        trace: TraceStore | None = None,
        approval: ApprovalPolicy | None = None,
        **settings: Any,
    ) -> None:
        self.backend = backend
        self.toolset = tools if isinstance(tools, Toolset) else Toolset(tools)
        if approval is not None:
            self.toolset.approval = approval
        if config is None:  # tools given as objects: the record names them
            settings.setdefault("tools", ToolsConfig(names=self.toolset.names))
            config = AgentConfig(**settings)
        elif settings:
            config = config.replace(**settings)
        self.config = config
        self.trace = trace

    @classmethod
    def from_config(cls, config: AgentConfig, *, run_id: str | None = None,
                    backend: ModelBackend | None = None, trace: TraceStore | None = None,
                    tools: Sequence[Tool] | None = None,
                    approver: ApprovalPolicy | None = None) -> Agent:
        """The agent ``config`` describes: its backend (or ``backend``, shared), its built-in
        tools by name (none named, on the bundled model: its world's, ``with_embedded_tools``)
        in its workspace (default: a fresh one named after ``run_id``), plus ``tools`` (e.g.
        MCP tools). ``approver`` answers for the shell tool (default: from
        ``config.tools.shell_approval``). Bad names or options raise ``ValueError``; code tools
        whose jail cannot start here raise ``SandboxUnavailable``."""
        from thinkact.backends.factory import build, resolve
        from thinkact.tools.approval import shell_approver
        from thinkact.tools.registry import build_tools
        from thinkact.tools.world import with_embedded_tools

        if backend is None:
            spec = resolve(config.backend)
            config, backend = config.replace(backend=spec), build(spec)
        config = with_embedded_tools(config)  # no tools chosen: the ones it was trained with
        workspace = config.workspace or default_workspace(run_id or new_run_id())
        workspace.mkdir(parents=True, exist_ok=True)
        config = config.replace(workspace=workspace)
        t = config.tools
        names = t.names
        shell = names is not None and "shell" in names
        if shell and approver is None:
            approver = shell_approver(t.shell_approval == "off")
        built = [] if names == [] else build_tools(
            names, workspace=workspace, facts_db=Path(t.facts_db) if t.facts_db else None,
            shell=shell, approver=approver, unsafe=t.unsafe_python, network=t.python_network,
            **t.options)
        if not t.unsafe_python and {"python", "shell"} & {tool.spec.name for tool in built}:
            from thinkact.sandbox import check_available, check_workspace

            check_available(t.python_network)  # refuse now, not at the first call
            if os.geteuid() == 0:  # the workspace is handed to the jail's uid
                check_workspace(workspace)
        return cls(backend, [*built, *(tools or ())], config=config, trace=trace)

    def _setup(self, run_id: str) -> RunSetup:
        # never the current directory: as root the jail hands its workspace to another uid
        workspace = self.config.workspace or default_workspace(run_id)
        workspace.mkdir(parents=True, exist_ok=True)
        return RunSetup(
            backend=self.backend, toolset=self.toolset, config=self.config,
            repeats=RepeatDetector(self.config.repeat),
            ctx=ToolContext(run_id=run_id, workspace=workspace), trace=self.trace)

    def initial_messages(self, task: str) -> list[Message]:
        prompt = self.config.system_prompt
        return [*([Message.system(prompt)] if prompt else []), Message.user(task)]

    def start(self, task: str, run_id: str | None = None,
              messages: list[Message] | None = None) -> Run:
        """A new run of ``task`` (iterate ``run.events()`` to run it). ``messages``: the
        opening conversation instead of the task alone (the system prompt is put first when
        it has none)."""
        run_id = run_id or new_run_id()
        opening = list(messages) if messages is not None else self.initial_messages(task)
        prompt = self.config.system_prompt
        if prompt and not any(m.role == "system" for m in opening):
            opening.insert(0, Message.system(prompt))
        return Run(self._setup(run_id), run_id, task, opening, Spend())

    def resume(self, run_id: str) -> Run:
        """The recorded run ``run_id``, to go on from its last complete step under the same
        id; ``ValueError`` without a trace store or for a finished run, ``KeyError`` for an
        unknown one."""
        if self.trace is None:
            raise ValueError("resume needs a trace store: pass trace=... to Agent")
        state = self.trace.load_state(run_id)
        if state.finished:
            raise ValueError(f"run {run_id} already finished; nothing to resume")
        setup = self._setup(run_id)
        setup.repeats.replay(state.messages)
        # Tools with state in a process (the python kernel) tell the model it is gone.
        setup.ctx.extra["resumed_tools"] = sorted(
            {c.name for m in state.messages for c in m.tool_calls or ()})
        spend = Spend(steps=state.steps_done, tool_calls=state.tool_calls, usage=state.usage,
                      thinking_tokens=state.usage.reasoning_tokens)
        price = self.config.budget.price or getattr(self.backend, "price", None)
        if price is not None:
            u = state.usage
            spend.cost_usd = price.cost(u.prompt_tokens, u.completion_tokens, u.cached_tokens)
        return Run(setup, run_id, state.task, list(state.messages), spend,
                   resumed_from=state.steps_done)

    async def events(self, task: str, run_id: str | None = None,
                     messages: list[Message] | None = None) -> AsyncIterator[Event]:
        """Run ``task``, yielding every event as it happens (and recording it first)."""
        async for event in self.start(task, run_id, messages).events():
            yield event

    async def resume_events(self, run_id: str) -> AsyncIterator[Event]:
        """Continue a recorded run from its last complete step, under the same run id."""
        async for event in self.resume(run_id).events():
            yield event

    async def arun(self, task: str, run_id: str | None = None) -> RunResult:
        return await _result(self.start(task, run_id))

    async def aresume(self, run_id: str) -> RunResult:
        return await _result(self.resume(run_id))

    def run(self, task: str, run_id: str | None = None) -> RunResult:
        """Synchronous ``arun``; tools are closed at the end (their resources belong to the
        event loop this call creates)."""
        return run_then_close(lambda: self.arun(task, run_id), self.aclose)

    async def aclose(self) -> None:
        await self.toolset.aclose()

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _result(run: Run) -> RunResult:
    finished: RunFinished | None = None
    async for event in run.events():
        if isinstance(event, RunFinished):
            finished = event
    assert finished is not None
    return RunResult(run_id=run.run_id, answer=run.answer, status=finished.status,
                     reason=finished.reason, steps=finished.steps,
                     tool_calls=finished.tool_calls, usage=finished.usage,
                     messages=list(run.history))
