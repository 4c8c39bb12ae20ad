"""An in-memory ``TraceStore`` for tests. ``load_state`` is the shared resume rule
(``thinkact.traces.replay.replay_state``); events are stored as JSON so anything that would
not survive a real store fails here too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from thinkact.events import (
    EVENT_ADAPTER,
    Event,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolResultEvent,
)
from thinkact.traces.base import ResumeState, RunSummary
from thinkact.traces.replay import replay_state


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

    def has_run(self, run_id: str) -> bool:
        return run_id in self._runs

    def load_state(self, run_id: str) -> ResumeState:
        return replay_state(run_id, self.events(run_id))

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
