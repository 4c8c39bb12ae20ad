"""``EvalStore``: an eval's settings and one result row per (item, epoch), in SQLite.

The file is ``evals.sqlite`` in the data dir. A row is claimed (``running``, with its run id)
before its run starts and finished (``done``, with score and metrics) once; ``finish`` only
changes a ``running`` row, so no item and epoch is ever scored twice, even across a kill and
a resume.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from thinkact.paths import data_dir
from thinkact.sqlite_wal import switch_to_wal
from thinkact.traces.sqlite import pid_alive

SCHEMA = """
CREATE TABLE IF NOT EXISTS evals (
    id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    spec TEXT NOT NULL,              -- JSON: suite options, run options, epochs, limit, seed
    created_at REAL NOT NULL,
    pid INTEGER                      -- process running it now (a resume refuses a live one)
);
CREATE TABLE IF NOT EXISTS results (
    eval_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    category TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | done
    outcome TEXT,                    -- passed | failed | no_answer | budget | error | timeout
    score REAL,
    answer TEXT,
    detail TEXT,
    steps INTEGER, tool_calls INTEGER,
    prompt_tokens INTEGER, completion_tokens INTEGER, reasoning_tokens INTEGER,
    wall_s REAL, cost_usd REAL,
    started_at REAL NOT NULL, finished_at REAL,
    marks TEXT,                      -- JSON {name: value}: a suite's further measures
    PRIMARY KEY (eval_id, item_id, epoch)
);
"""


def default_eval_db(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / "evals.sqlite"


@dataclass
class Result:
    """One (item, epoch) row. Metrics are None while it runs."""

    eval_id: str
    item_id: str
    epoch: int
    category: str
    run_id: str
    status: str
    outcome: str | None = None
    score: float | None = None
    answer: str | None = None
    detail: str | None = None
    steps: int | None = None
    tool_calls: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    wall_s: float | None = None
    cost_usd: float | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    marks: str | None = None  # JSON {name: value} beside the score (AgentDojo's attack success)

    @property
    def tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


_COLUMNS = [f.name for f in fields(Result)]
FINISH_FIELDS = ("outcome", "score", "answer", "detail", "steps", "tool_calls",
                 "prompt_tokens", "completion_tokens", "reasoning_tokens", "wall_s", "cost_usd",
                 "marks")


class EvalStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30,
                                   isolation_level=None)
        switch_to_wal(self._db, 30)
        self._db.executescript(SCHEMA)
        # a store made before marks existed gains the column; the check and the change in one
        # write transaction, so another process opening it at the same time waits, then sees it
        self._db.execute("BEGIN IMMEDIATE")
        try:
            have = {r[1] for r in self._db.execute("PRAGMA table_info(results)")}
            if "marks" not in have:
                self._db.execute("ALTER TABLE results ADD COLUMN marks TEXT")
        finally:
            self._db.execute("COMMIT")

    def create(self, eval_id: str, suite: str, spec: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT INTO evals VALUES (?, ?, ?, ?, ?)",
                             (eval_id, suite, json.dumps(spec), time.time(), os.getpid()))

    def spec(self, eval_id: str) -> dict[str, Any]:
        row = self._one("SELECT spec FROM evals WHERE id=?", (eval_id,))
        if row is None:
            raise KeyError(eval_id)
        return dict(json.loads(row[0]))

    def suite_of(self, eval_id: str) -> str:
        row = self._one("SELECT suite FROM evals WHERE id=?", (eval_id,))
        if row is None:
            raise KeyError(eval_id)
        return str(row[0])

    def take_over(self, eval_id: str) -> None:
        """Mark this process as the one running ``eval_id``; refuses while another lives."""
        row = self._one("SELECT pid FROM evals WHERE id=?", (eval_id,))
        if row is None:
            raise KeyError(eval_id)
        pid = row[0]
        if isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
            raise RuntimeError(f"eval {eval_id} is still running (pid {pid}); stop it first")
        with self._lock:
            self._db.execute("UPDATE evals SET pid=? WHERE id=?", (os.getpid(), eval_id))

    def release(self, eval_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE evals SET pid=NULL WHERE id=? AND pid=?",
                             (eval_id, os.getpid()))

    def resolve(self, ref: str) -> str:
        """A full eval id from a unique prefix ("latest": the newest eval)."""
        if ref == "latest":
            rows = self._all("SELECT id FROM evals ORDER BY created_at DESC LIMIT 1", ())
        else:
            rows = self._all("SELECT id FROM evals WHERE id=? OR substr(id, 1, ?)=? LIMIT 3",
                             (ref, len(ref), ref))
        ids = [str(r[0]) for r in rows]
        if ref in ids:
            return ref
        if len(ids) != 1:
            raise KeyError(f"no eval {ref!r} in {self.path}" if not ids
                           else f"eval id prefix {ref!r} is ambiguous: {', '.join(ids)}")
        return ids[0]

    def evals(self, limit: int = 50) -> list[tuple[str, str, float]]:
        rows = self._all("SELECT id, suite, created_at FROM evals ORDER BY created_at DESC "
                         "LIMIT ?", (limit,))
        return [(str(a), str(b), float(c)) for a, b, c in rows]

    def sweep_members(self, sweep_id: str) -> list[str]:
        """The evals of sweep ``sweep_id``, in the order they were planned."""
        rows = self._all("SELECT id FROM evals WHERE json_extract(spec, '$.sweep.id') = ? "
                         "ORDER BY rowid", (sweep_id,))
        return [str(r[0]) for r in rows]

    def claim(self, eval_id: str, item_id: str, epoch: int, category: str,
              run_id: str) -> Result:
        """The row of (item, epoch): the existing one, or a new ``running`` one."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO results (eval_id, item_id, epoch, category, run_id, "
                "status, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (eval_id, item_id, epoch, category, run_id, time.time()))
        found = self.get(eval_id, item_id, epoch)
        assert found is not None
        return found

    def finish(self, result: Result) -> bool:
        """Record the outcome of a running row; False (and nothing written) if it was done."""
        sets = ", ".join(f"{k}=?" for k in FINISH_FIELDS)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE results SET status='done', finished_at=?, {sets} WHERE eval_id=? "
                "AND item_id=? AND epoch=? AND status='running'",
                (time.time(), *(getattr(result, k) for k in FINISH_FIELDS), result.eval_id,
                 result.item_id, result.epoch))
            return cur.rowcount == 1

    def get(self, eval_id: str, item_id: str, epoch: int) -> Result | None:
        row = self._one(f"SELECT {', '.join(_COLUMNS)} FROM results WHERE eval_id=? AND "
                        "item_id=? AND epoch=?", (eval_id, item_id, epoch))
        return Result(*row) if row is not None else None

    def results(self, eval_id: str) -> list[Result]:
        rows = self._all(f"SELECT {', '.join(_COLUMNS)} FROM results WHERE eval_id=? "
                         "ORDER BY rowid", (eval_id,))
        return [Result(*r) for r in rows]

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> EvalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_dict(result: Result) -> dict[str, Any]:
    return asdict(result)

