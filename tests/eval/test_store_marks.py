"""A suite's marks (measures beside the score) are stored per row and averaged per category,
also in a results store made before marks existed."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from support.sqlite_writer import writer_mid_transaction
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


def test_a_store_opened_while_another_process_adds_marks_does_not_crash(
        tmp_path: Path) -> None:
    """The marks migration races another opener: the one that loses must see the column."""
    path = tmp_path / "evals.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA.replace(
        "    marks TEXT,                      -- JSON {name: value}: a suite's further measures\n",
        ""))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")  # the other opener, midway through its migration
    outcome: list[str] = []

    def open_store() -> None:
        try:
            EvalStore(path).close()
            outcome.append("ok")
        except sqlite3.Error as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(0.5)  # let it get as far as it can while the other holds the write lock
    db.execute("ALTER TABLE results ADD COLUMN marks TEXT")
    db.execute("COMMIT")
    opener.join()
    db.close()
    assert outcome == ["ok"]
    with EvalStore(path) as store:
        store.create("ev", "s", {})


def test_a_store_opened_while_another_process_writes_a_fresh_file_waits_for_it(
        tmp_path: Path) -> None:
    """The switch to WAL is refused at once while a writer is mid-transaction (the UI opening
    an eval's store as the eval creates it): opening waits instead of failing."""
    path = tmp_path / "evals.sqlite"
    with writer_mid_transaction(path):
        store = EvalStore(path)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
