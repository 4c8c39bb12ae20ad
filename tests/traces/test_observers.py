"""Store observers see every committed event with its position; one that raises is logged
and the run records on."""

from __future__ import annotations

from pathlib import Path

from support.ui_runs import _turn, record
from thinkact.messages import Message
from thinkact.traces import EventRecord, SQLiteTraceStore


def test_observers_get_each_committed_record_and_cannot_break_the_run(tmp_path: Path) -> None:
    seen: list[tuple[str, EventRecord]] = []

    def broken(run_id: str, rec: EventRecord) -> None:
        raise RuntimeError("observer bug")

    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        store.subscribe(broken)
        store.subscribe(lambda run_id, rec: seen.append((run_id, rec)))
        done = Message(role="assistant", reasoning="ok", content="Done.")
        record(store, "r", "Check one.", [_turn(1), done])
        stored = store.records("r")
    assert [r.seq for _, r in seen] == [r.seq for r in stored]
    assert [(r.step, r.segment, r.event.type) for _, r in seen] == \
        [(r.step, r.segment, r.event.type) for r in stored]
    assert {run for run, _ in seen} == {"r"}
    assert seen[-1][1].event.type == "run_finished"
