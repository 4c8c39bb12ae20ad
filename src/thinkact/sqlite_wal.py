"""Switch a SQLite connection to WAL, waiting out a writer in another process.

The one rule: while another connection is mid-write, SQLite refuses the switch at once
("database is locked") instead of waiting on the busy timeout, so it is retried until then.
The databases thinkact writes (traces, evals, the search index) open through it.
"""

from __future__ import annotations

import sqlite3
import time


def switch_to_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL`` on ``db``, retried for up to ``timeout_s`` while locked."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
