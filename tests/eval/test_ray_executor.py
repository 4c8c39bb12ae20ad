"""``--executor ray`` on a local Ray cluster gives exactly the local executor's rows, and
every run's trace (from the workers' shards) in the eval's trace database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from support.cli_run import files_turns, thinkact, write_script
from thinkact.traces.sqlite import SQLiteTraceStore

pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.slow

COLUMNS = "item_id, epoch, category, status, outcome, score, answer, detail, steps, " \
          "tool_calls, prompt_tokens, completion_tokens, reasoning_tokens, cost_usd"


def test_ray_gives_the_local_executors_results(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": f"q{i}", "input": f"Question {i}?",
                                           "target": 42 if i % 2 else 7, "scorer": "number",
                                           "category": f"c{i % 3}"}) for i in range(5)))
    script = write_script(tmp_path / "s.json", files_turns(2, answer="It is 42."))
    base = ["eval", str(tasks), "--provider", "scripted", "--script", str(script), "--tools",
            "files", "--epochs", "2", "--concurrency", "2", "--json"]
    reports = {}
    for executor in ("local", "ray"):
        out = thinkact([*base, "--executor", executor], tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        reports[executor] = json.loads(out.stdout)
    with sqlite3.connect(tmp_path / "data" / "evals.sqlite") as con:
        rows = {ex: con.execute(f"SELECT {COLUMNS} FROM results WHERE eval_id=? ORDER BY "
                                "item_id, epoch", (r["eval"],)).fetchall()
                for ex, r in reports.items()}
        run_ids = [r for (r,) in con.execute("SELECT run_id FROM results WHERE eval_id=?",
                                             (reports["ray"]["eval"],))]
    assert len(rows["ray"]) == 10 and rows["ray"] == rows["local"]
    assert reports["ray"]["accuracy"] == reports["local"]["accuracy"] == 0.4
    with SQLiteTraceStore(tmp_path / "data" / "traces.sqlite") as trace:
        for run_id in run_ids:  # merged from the workers' shards, complete
            state = trace.load_state(run_id)
            assert state.finished and state.steps_done == 3 and state.tool_calls == 2
