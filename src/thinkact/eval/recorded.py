"""How an item's recorded run ended, read back from its trace."""

from __future__ import annotations

from dataclasses import dataclass

from thinkact.events import FinalAnswer, RunFinished, RunStarted
from thinkact.traces.sqlite import SQLiteTraceStore


@dataclass
class Ended:
    answer: str | None
    finished: RunFinished


def recorded_end(trace: SQLiteTraceStore, run_id: str) -> Ended | None:
    """How the recorded run ended for good (its last segment finished, not interrupted)."""
    if not trace.has_run(run_id):
        return None
    events = [r.event for r in trace.records(run_id, include_deltas=False)]
    start = max(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    segment = events[start:]
    finished = next((e for e in segment if isinstance(e, RunFinished)), None)
    if finished is None or finished.reason == "interrupted":
        return None
    answer = next((e.content for e in reversed(segment) if isinstance(e, FinalAnswer)), None)
    return Ended(answer, finished)
