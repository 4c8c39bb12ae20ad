"""A suite's marks (measures beside the score) are stored per row and averaged per category,
also in a results store made before marks existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from thinkact.eval import EvalStore, summarize
from thinkact.eval.store import SCHEMA


def test_marks_are_stored_and_averaged_per_category_in_an_older_store(tmp_path: Path) -> None:
    path = tmp_path / "evals.sqlite"
    db = sqlite3.connect(path)  # the schema as it was: no marks column
    db.executescript(SCHEMA.replace(
        "    marks TEXT,                      -- JSON {name: value}: a suite's further measures\n",
        ""))
    assert "marks" not in {r[1] for r in db.execute("PRAGMA table_info(results)")}
    db.close()
    with EvalStore(path) as store:
        store.create("ev", "s", {})
        for n, (category, attacked) in enumerate([("a", 1.0), ("a", 0.0), ("a", None),
                                                  ("b", None)]):
            row = store.claim("ev", f"i{n}", 0, category, f"r{n}")
            row.outcome, row.score = "passed", 1.0
            row.marks = None if attacked is None else f'{{"attack_success": {attacked}}}'
            assert store.finish(row)
        report = summarize(store.results("ev"))
    a = report["categories"]["a"]["marks"]["attack_success"]
    assert (a["n"], a["mean"]) == (2, 0.5) and 0 < a["ci95"][0] < 0.5 < a["ci95"][1] < 1
    assert "marks" not in report["categories"]["b"]
