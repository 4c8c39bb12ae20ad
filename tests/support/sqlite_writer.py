"""Another connection in the middle of a write to a fresh SQLite file, for open-race tests."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def writer_mid_transaction(path: Path, hold_s: float = 0.3) -> Iterator[None]:
    """Creates ``path`` and holds a write transaction open for ``hold_s`` seconds (a run or
    an eval creating its database), committing it on a timer while the body opens it."""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE x(a)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO x VALUES (1)")
    done = threading.Timer(hold_s, lambda: writer.execute("COMMIT"))
    done.start()
    try:
        yield
    finally:
        done.join()
        writer.close()
