"""The trace-store protocol: an append-only, durable record of every event of a run.

The agent loop appends each event as it happens. ``load_state`` rebuilds what a resumed run
needs from the record: the conversation up to the last *complete* step (a ``StepFinished``
was written), the counters, the original task and the latest segment's config. Events after
the last complete step are kept in the record but not replayed into the conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from thinkact.events import Event, RunStatus
from thinkact.messages import Message, ToolResult, Usage


@dataclass
class RunSummary:
    run_id: str
    task: str
    model: str
    status: RunStatus | Literal["running"]
    steps: int
    tool_calls: int
    started_at: float
    finished_at: float | None = None


@dataclass
class ResumeState:
    run_id: str
    task: str
    model: str
    config: dict[str, Any]  # of the latest segment (a resume may change options)
    messages: list[Message]  # initial conversation + every complete step
    steps_done: int
    tool_calls: int
    usage: Usage = field(default_factory=Usage)
    finished: bool = False
    # the ToolResult behind each tool message this run added, in order (errors included)
    results: list[ToolResult] = field(default_factory=list)


class TraceStore(Protocol):
    def append(self, run_id: str, event: Event) -> None:
        """Durably record one event (the first for a run is ``RunStarted``)."""
        ...

    def events(self, run_id: str) -> Iterator[Event]:
        """Every recorded event of a run, in order."""
        ...

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds any event of ``run_id`` (no replay)."""
        ...

    def load_state(self, run_id: str) -> ResumeState:
        """Rebuild a run's state for resuming; raises ``KeyError`` for an unknown run."""
        ...

    def list_runs(self, limit: int = 50) -> list[RunSummary]: ...

    def close(self) -> None: ...
