"""The public entry point: ``Agent(backend, tools=...).events(task)`` / ``arun`` / ``run``."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from thinkact.agent.budget import Budget, Spend
from thinkact.agent.context import ContextStrategy, HideToolOutputs
from thinkact.agent.loop import Run, RunSetup
from thinkact.agent.repeat import RepeatDetector, RepeatPolicy
from thinkact.agent.verify import VerifyPolicy
from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.events import Event, RunFinished
from thinkact.messages import Message, Usage
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
    status: str  # completed | stopped | failed
    reason: str
    steps: int
    tool_calls: int
    usage: Usage = field(default_factory=Usage)
    messages: list[Message] = field(default_factory=list)


class Agent:
    """A model, its tools and the rules of a run. Reusable across runs (not concurrently)."""

    def __init__(
        self,
        backend: ModelBackend,
        tools: Sequence[Tool] | Toolset = (),
        system_prompt: str | None = None,
        budget: Budget | None = None,
        context: ContextStrategy | None = None,
        trace: TraceStore | None = None,
        workspace: Path | None = None,
        options: GenerationOptions | None = None,
        approval: ApprovalPolicy | None = None,
        repeat: RepeatPolicy | None = None,
        output_reserve: int | None = None,
        verify: VerifyPolicy | None = None,
    ) -> None:
        self.backend = backend
        self.toolset = tools if isinstance(tools, Toolset) else Toolset(tools)
        if approval is not None:
            self.toolset.approval = approval
        self.system_prompt = system_prompt
        self.budget = budget or Budget()
        self.context = context or HideToolOutputs()
        self.trace = trace
        self.workspace = workspace
        self.options = options or GenerationOptions()
        self.repeat = repeat or RepeatPolicy()
        self.output_reserve = output_reserve
        self.verify = verify or VerifyPolicy()
        self.meta: dict[str, Any] = {}  # recorded with the config (heavy mode: the group)

    def config(self) -> dict[str, Any]:
        """What the trace records about how this run was set up (JSON-safe, no secrets)."""
        backend_config = getattr(self.backend, "config", None)
        describe = getattr(backend_config, "describe", None)
        return {
            "model": self.backend.model_name,
            "context_window": self.backend.context_window,
            "backend": describe() if callable(describe) else {},
            "tools": self.toolset.names,
            "budget": self.budget.describe(),
            "context": self.context.name,
            "options": asdict(self.options),
            "repeat": asdict(self.repeat),
            "verify": asdict(self.verify),
            "system_prompt": self.system_prompt,
            "workspace": str(self.workspace) if self.workspace else None,
            **self.meta,
        }

    def _setup(self, run_id: str) -> RunSetup:
        workspace = self.workspace or Path.cwd()
        return RunSetup(
            backend=self.backend, toolset=self.toolset, budget=self.budget,
            context=self.context, options=self.options,
            repeats=RepeatDetector(self.repeat),
            ctx=ToolContext(run_id=run_id, workspace=workspace), trace=self.trace,
            output_reserve=self.output_reserve, config=self.config(), verify=self.verify,
        )

    def initial_messages(self, task: str) -> list[Message]:
        msgs = [Message.system(self.system_prompt)] if self.system_prompt else []
        return [*msgs, Message.user(task)]

    def _new_run(self, task: str, run_id: str | None,
                 messages: list[Message] | None = None) -> Run:
        run_id = run_id or new_run_id()
        opening = list(messages) if messages is not None else self.initial_messages(task)
        if self.system_prompt and not any(m.role == "system" for m in opening):
            opening.insert(0, Message.system(self.system_prompt))
        return Run(self._setup(run_id), run_id, task, opening, Spend())

    def _resumed_run(self, run_id: str) -> tuple[Run, int]:
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
        price = self.budget.price or getattr(self.backend, "price", None)
        if price is not None:
            u = state.usage
            spend.cost_usd = price.cost(u.prompt_tokens, u.completion_tokens, u.cached_tokens)
        return Run(setup, run_id, state.task, list(state.messages), spend), state.steps_done

    async def events(self, task: str, run_id: str | None = None,
                     messages: list[Message] | None = None) -> AsyncIterator[Event]:
        """Run ``task``, yielding every event as it happens (and recording it first).
        ``messages``: the opening conversation instead of the task alone (the system prompt
        is put first when it has none)."""
        async for event in self._new_run(task, run_id, messages).events():
            yield event

    async def resume_events(self, run_id: str) -> AsyncIterator[Event]:
        """Continue a recorded run from its last complete step, under the same run id."""
        run, done = self._resumed_run(run_id)
        async for event in run.events(resumed_from=done):
            yield event

    async def arun(self, task: str, run_id: str | None = None) -> RunResult:
        run = self._new_run(task, run_id)
        return await _result(run, run.events())

    async def aresume(self, run_id: str) -> RunResult:
        run, done = self._resumed_run(run_id)
        return await _result(run, run.events(resumed_from=done))

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


async def _result(run: Run, stream: AsyncIterator[Event]) -> RunResult:
    finished: RunFinished | None = None
    async for event in stream:
        if isinstance(event, RunFinished):
            finished = event
    assert finished is not None
    return RunResult(run_id=run.run_id, answer=run.answer, status=finished.status,
                     reason=finished.reason, steps=finished.steps,
                     tool_calls=finished.tool_calls, usage=finished.usage,
                     messages=list(run.history))
