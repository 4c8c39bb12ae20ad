"""``thinkact trace list/show/export`` through typer's CliRunner on a real trace database
holding a run that was killed mid-step and resumed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.trace_events import answer_step, finished, started, tool_step
from thinkact.cli.main import app
from thinkact.events import EVENT_ADAPTER, StepStarted
from thinkact.messages import Message
from thinkact.traces import SQLiteTraceStore

RUN = "20261129-010203-abcdef"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.sqlite"
    with SQLiteTraceStore(path) as store:
        for ev in [started(RUN), *tool_step(1), *tool_step(2, finish=False, tag="-lost"),
                   started(RUN, resumed_from=1), *tool_step(2), *answer_step(3),
                   finished(3, 2)]:
            store.append(RUN, ev)
        for ev in [started("20261129-020000-000000"), *tool_step(1, finish=False)]:
            store.append("20261129-020000-000000", ev)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with sqlite3.connect(path) as raw:  # as if its writer had been killed
        raw.execute("UPDATE runs SET pid = ? WHERE id = '20261129-020000-000000'", (gone.pid,))
    return path


runner = CliRunner()


def test_list(db: Path) -> None:
    res = runner.invoke(app, ["trace", "list", "--trace-db", str(db)])
    assert res.exit_code == 0, res.output
    assert RUN in res.output and "completed" in res.output
    # the second run's writer process is gone: shown as interrupted, not running
    assert "interrupted" in res.output and "running" not in res.output


def test_list_is_readable_at_80_columns(tmp_path: Path) -> None:
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        store.append(RUN, started(RUN).model_copy(update={
            "task": "Summarise the quarterly report, then compare it with last year's " * 3}))
    res = CliRunner().invoke(app, ["trace", "list", "--trace-db", str(tmp_path / "t.sqlite")],
                             env={"COLUMNS": "80"}, terminal_width=80)
    lines = res.output.splitlines()
    assert res.exit_code == 0 and all(len(line) <= 80 for line in lines), res.output
    assert lines[0].split() == ["run", "status", "steps", "calls", "tokens", "task"]
    assert lines[1].startswith(RUN) and "Summarise the" in lines[1]
    assert lines[1].endswith("…")


def test_show_renders_final_trace_and_marks_superseded(db: Path) -> None:
    res = runner.invoke(app, ["trace", "show", RUN[:12], "--trace-db", str(db)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "step 2: " in out and "superseded" in out
    assert "-lost" not in out  # the abandoned attempt is summarised, not replayed
    assert "resumed" in out and "thinking about step 2 ✓" in out
    assert "→ files" in out and "result of c2-0" in out
    assert "There are 3 files." in out and "completed (answered) 3 steps" in out
    full = runner.invoke(app, ["trace", "show", RUN, "--all", "--trace-db", str(db)])
    assert "-lost" in full.output


def test_show_unfinished_run_says_how_to_resume(db: Path) -> None:
    res = runner.invoke(app, ["trace", "show", "20261129-02", "--trace-db", str(db)])
    assert res.exit_code == 0 and "--resume 20261129-020000-000000" in res.output


def test_export_events_and_messages(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    res = runner.invoke(app, ["trace", "export", RUN, "-o", str(out), "--trace-db", str(db)])
    assert res.exit_code == 0, res.output
    events = [EVENT_ADAPTER.validate_json(line) for line in out.read_text().splitlines()]
    with SQLiteTraceStore(db) as store:
        assert events == list(store.events(RUN))
        conversation = store.load_state(RUN).messages
        superseded = [r.superseded for r in store.records(RUN)]
    # the attempt a resume redid is marked as such, line by line
    marked = [json.loads(line).get("superseded", False) for line in out.read_text().splitlines()]
    assert marked == superseded and any(marked) and not all(marked)
    final = runner.invoke(app, ["trace", "export", RUN, "--final", "--trace-db", str(db)])
    steps = [e.step for e in map(EVENT_ADAPTER.validate_json, final.output.splitlines())
             if isinstance(e, StepStarted)]
    assert steps == [1, 2, 3]
    msgs = runner.invoke(app, ["trace", "export", RUN, "--messages", "--trace-db", str(db)])
    assert [Message.model_validate(json.loads(x)) for x in msgs.output.splitlines()] == \
        conversation


def test_errors_exit_2(db: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["trace", "show", "nope", "--trace-db", str(db)])
    assert res.exit_code == 2 and "no run 'nope'" in res.output
    res = runner.invoke(app, ["trace", "show", "2026", "--trace-db", str(db)])
    assert res.exit_code == 2 and "ambiguous" in res.output
    res = runner.invoke(app, ["trace", "list", "--trace-db", str(tmp_path / "missing.db")])
    assert res.exit_code == 2 and "no trace database" in res.output
