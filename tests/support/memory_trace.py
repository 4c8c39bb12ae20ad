"""An in-memory ``TraceStore`` for tests, following the same ``load_state`` rule as the
SQLite store: the first ``RunStarted.messages``, then for each step that reached
``StepFinished`` its messages in event order (``AssistantMessage.message``, tool messages
from ``ToolResultEvent``, ``Notice.message``). Events are stored as JSON so anything that
would not survive a real store fails here too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from thinkact.events import (
    EVENT_ADAPTER,
    AssistantMessage,
    Event,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolResultEvent,
)
from thinkact.messages import Message
from thinkact.traces.base import ResumeState, RunSummary


class MemoryTraceStore:
    def __init__(self) -> None:
        self._runs: dict[str, list[str]] = {}
        self._started: dict[str, float] = {}

    def append(self, run_id: str, event: Event) -> None:
        self._runs.setdefault(run_id, []).append(EVENT_ADAPTER.dump_json(event).decode())
        self._started.setdefault(run_id, time.time())

    def events(self, run_id: str) -> Iterator[Event]:
        if run_id not in self._runs:
            raise KeyError(run_id)
        for raw in self._runs[run_id]:
            yield EVENT_ADAPTER.validate_json(raw)

    def load_state(self, run_id: str) -> ResumeState:
        first: RunStarted | None = None
        messages: list[Message] = []
        pending: list[Message] = []
        steps = calls = pending_calls = 0
        usage = None
        finished = False
        for ev in self.events(run_id):
            if isinstance(ev, RunStarted):
                first = first or ev
                if ev.resumed_from_step is None:
                    messages.extend(ev.messages)
                pending, pending_calls, finished = [], 0, False
            elif isinstance(ev, StepStarted):
                pending, pending_calls = [], 0
            elif isinstance(ev, AssistantMessage):
                pending.append(ev.message)
                usage = ev.usage if usage is None else usage + ev.usage
            elif isinstance(ev, ToolResultEvent):
                pending.append(Message.tool(ev.result))
                pending_calls += ev.result.error not in ("repeated", "budget")
            elif isinstance(ev, Notice) and ev.message is not None:
                pending.append(ev.message)
            elif isinstance(ev, StepFinished):
                messages.extend(pending)
                calls += pending_calls
                pending, pending_calls, steps = [], 0, ev.step
            elif isinstance(ev, RunFinished):
                finished = ev.status == "completed"
        assert first is not None
        state = ResumeState(run_id=run_id, task=first.task, model=first.model,
                            config=first.config, messages=messages, steps_done=steps,
                            tool_calls=calls, finished=finished)
        if usage is not None:
            state.usage = usage
        return state

    def list_runs(self, limit: int = 50) -> list[RunSummary]:
        out = []
        for run_id in list(self._runs)[-limit:]:
            evs = list(self.events(run_id))
            start = evs[0]
            assert isinstance(start, RunStarted)
            end = evs[-1]
            out.append(RunSummary(
                run_id=run_id, task=start.task, model=start.model,
                status=end.status if isinstance(end, RunFinished) else "running",
                steps=sum(isinstance(e, StepFinished) for e in evs),
                tool_calls=sum(isinstance(e, ToolResultEvent) for e in evs),
                started_at=self._started[run_id]))
        return out

    def close(self) -> None:
        return None
