"""``SQLiteTraceStore``: the durable trace, one SQLite file for many runs.

Durability: WAL journal with ``synchronous=NORMAL`` by default. Every ``append`` commits, and
in WAL mode a committed transaction is in the WAL file before ``commit`` returns, so killing
the writing process (SIGKILL included) loses nothing that was appended; only an OS crash or
power cut can lose the last commits (pass ``synchronous="FULL"`` to fsync every commit).
Other processes may read (``thinkact trace show`` on a live run) while one writes.

Deltas: consecutive reasoning/content deltas of a run are merged into one row, flushed at
the run's next non-delta event or after ``delta_flush_s`` seconds, so a long thinking stream
costs a few rows per second instead of one per token. Only deltas can wait in memory; every
other event, ``AssistantMessage`` included, is committed before ``append`` returns.

One connection per store, shared across threads behind a lock.

Observers (``subscribe``) get each event as an ``EventRecord`` once it is committed (merged
deltas when they are written), outside the lock; an observer that raises is logged, and the
run goes on: the record is already safe.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from thinkact.events import (
    EVENT_ADAPTER,
    ContentDelta,
    Event,
    ReasoningDelta,
    RunStarted,
    StepStarted,
)
from thinkact.sqlite_wal import switch_to_wal
from thinkact.traces.base import ResumeState, RunSummary
from thinkact.traces.projections import Cursor, project
from thinkact.traces.replay import replay_state
from thinkact.traces.schema import DELTA_TYPES, PROJECTIONS, SCHEMA, SCHEMA_VERSION

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass
class EventRecord:
    """One stored event with where it sits in the run."""

    seq: int
    segment: int
    step: int | None
    ts: float
    superseded: bool
    event: Event


@dataclass
class _PendingDelta:
    run_id: str
    kind: str  # reasoning_delta | content_delta
    text: str
    since: float
    ts: float


class SQLiteTraceStore:
    def __init__(self, path: Path | str, *, synchronous: Synchronous = "NORMAL",
                 delta_flush_s: float | None = 0.25, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.delta_flush_s = delta_flush_s
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False,
                                   timeout=busy_timeout_s, isolation_level=None)
        switch_to_wal(self._db, busy_timeout_s)
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._create_schema()
        self._cursors: dict[str, Cursor] = {}
        self._pending: dict[str, _PendingDelta] = {}  # per run (heavy mode: runs side by side)
        self._closed = False
        self._observers: list[Callable[[str, EventRecord], None]] = []
        self._written: list[tuple[str, EventRecord]] = []  # for the observers, once committed

    # -- setup ------------------------------------------------------------------------------
    def _create_schema(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise RuntimeError(f"trace database {self.path} has schema {row[0]}, this "
                                       f"thinkact writes schema {SCHEMA_VERSION}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- writing ----------------------------------------------------------------------------
    def subscribe(self, observer: Callable[[str, EventRecord], None]) -> None:
        """Call ``observer(run_id, record)`` for every event this store writes from now on."""
        self._observers.append(observer)

    def _deliver(self) -> None:
        with self._lock:
            written, self._written = self._written, []
        for run_id, record in written:
            for observer in self._observers:
                try:
                    observer(run_id, record)
                except Exception:  # an observer's failure must not fail the run
                    logging.getLogger(__name__).exception("trace observer failed")

    def append(self, run_id: str, event: Event) -> None:
        """Record one event; committed before returning (deltas: see module doc)."""
        now = time.time()
        with self._lock:
            if self._closed:
                raise RuntimeError("trace store is closed")
            if isinstance(event, ReasoningDelta | ContentDelta) and self.delta_flush_s:
                self._buffer_delta(run_id, event, now)
            else:
                with self._tx():
                    self._flush_pending(run_id)
                    self._write(run_id, event, now)
            self._flush_stale(now)
        if self._written:
            self._deliver()

    def _buffer_delta(self, run_id: str, event: ReasoningDelta | ContentDelta,
                      now: float) -> None:
        p = self._pending.get(run_id)
        if p is not None and p.kind == event.type:
            p.text += event.text
            p.ts = now
        else:
            if p is not None:
                with self._tx():
                    self._flush_pending(run_id)
            self._pending[run_id] = _PendingDelta(run_id, event.type, event.text, now, now)

    def _flush_stale(self, now: float) -> None:
        """Write deltas held longer than ``delta_flush_s``, whichever run they belong to (a
        stalled run's would otherwise wait for its next event)."""
        if not self.delta_flush_s:
            return
        stale = [r for r, q in self._pending.items() if now - q.since >= self.delta_flush_s]
        if stale:
            with self._tx():
                for run_id in stale:
                    self._flush_pending(run_id)

    def _flush_pending(self, run_id: str | None = None) -> None:
        """Write the merged deltas held for ``run_id`` (None: for every run)."""
        runs = list(self._pending) if run_id is None else [run_id]
        for p in [self._pending.pop(r) for r in runs if r in self._pending]:
            merged: Event = (ReasoningDelta(text=p.text) if p.kind == "reasoning_delta"
                             else ContentDelta(text=p.text))
            self._write(p.run_id, merged, p.ts)

    def flush(self) -> None:
        """Write any merged deltas still held in memory."""
        with self._lock, self._tx():
            self._flush_pending()
        self._deliver()

    def _cursor(self, run_id: str) -> Cursor:
        cur = self._cursors.get(run_id)
        if cur is None:
            row = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(segment), 0) FROM events "
                "WHERE run_id=?", (run_id,)).fetchone()
            step = self._db.execute(
                "SELECT step FROM events WHERE run_id=? AND step IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1", (run_id,)).fetchone()
            cur = Cursor(seq=row[0], segment=row[1], step=step[0] if step else None)
            self._cursors[run_id] = cur
        return cur

    def _write(self, run_id: str, event: Event, now: float) -> None:
        cur = self._cursor(run_id)
        if isinstance(event, RunStarted):
            cur.segment += 1
            cur.step = None
        elif cur.segment == 0:
            raise ValueError(f"run {run_id}: the first event must be RunStarted, "
                             f"got {event.type}")
        if isinstance(event, StepStarted):
            cur.step = event.step
        cur.seq += 1
        self._db.execute(
            "INSERT INTO events (run_id, seq, segment, type, step, ts, json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, cur.seq, cur.segment, event.type, cur.step, now,
             EVENT_ADAPTER.dump_json(event).decode()))
        project(self._db, run_id, cur, event, now, pid=os.getpid(), host=socket.gethostname())
        if self._observers:
            self._written.append((run_id, EventRecord(cur.seq, cur.segment, cur.step, now,
                                                      False, event)))

    # -- reading ----------------------------------------------------------------------------
    def records(self, run_id: str, *, include_deltas: bool = True) -> list[EventRecord]:
        """Every stored event of a run with its position; raises ``KeyError`` if unknown."""
        with self._lock:
            self._flush_if_run(run_id)
            if include_deltas:
                rows = self._db.execute(
                    "SELECT seq, segment, step, ts, superseded, json FROM events "
                    "WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT seq, segment, step, ts, superseded, json FROM events WHERE run_id=? "
                    f"AND type NOT IN ({','.join('?' * len(DELTA_TYPES))}) ORDER BY seq",
                    (run_id, *DELTA_TYPES)).fetchall()
        if not rows and not self.has_run(run_id):
            raise KeyError(run_id)
        return [EventRecord(seq=r[0], segment=r[1], step=r[2], ts=r[3], superseded=bool(r[4]),
                            event=EVENT_ADAPTER.validate_json(r[5])) for r in rows]

    def _flush_if_run(self, run_id: str) -> None:
        if run_id in self._pending:
            with self._tx():
                self._flush_pending(run_id)

    def events(self, run_id: str) -> Iterator[Event]:
        for record in self.records(run_id):
            yield record.event

    def has_run(self, run_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone() \
                is not None

    def load_state(self, run_id: str) -> ResumeState:
        """The conversation of complete steps (rule in ``traces.base``); ``KeyError`` if
        the run is unknown."""
        return replay_state(run_id, (r.event for r in self.records(run_id,
                                                                      include_deltas=False)))

    def list_runs(self, limit: int = 50) -> list[RunSummary]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, task, model, status, steps, tool_calls, started_at, finished_at "
                "FROM runs ORDER BY started_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [RunSummary(run_id=r[0], task=r[1], model=r[2], status=r[3], steps=r[4],
                           tool_calls=r[5], started_at=r[6], finished_at=r[7]) for r in rows]

    def run_info(self, run_id: str) -> dict[str, object]:
        """The ``runs`` row as a dict (config parsed); ``KeyError`` if unknown."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise KeyError(run_id)
        info = dict(zip(names, row, strict=True))
        info["config"] = json.loads(str(info["config"]))
        return info

    def run_config(self, run_id: str) -> dict[str, Any]:
        """The config the run recorded when it started; ``KeyError`` if unknown."""
        config = self.run_info(run_id)["config"]
        assert isinstance(config, dict)
        return config

    def writer_alive(self, run_id: str) -> bool:
        """Whether a run marked running still has its writing process (same host only;
        a run recorded on another host is assumed alive)."""
        info = self.run_info(run_id)
        if info["status"] != "running":
            return False
        pid = info["pid"]
        if not isinstance(pid, int) or info["host"] != socket.gethostname():
            return True
        return pid_alive(pid)

    def resolve_run_id(self, prefix: str) -> str:
        """A full run id from a unique prefix ("latest" = the most recent run)."""
        with self._lock:
            if prefix == "latest":
                rows = self._db.execute(
                    "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT id FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 3",
                    (prefix, _like_prefix(prefix))).fetchall()
        ids = [r[0] for r in rows]
        if prefix in ids:
            return prefix
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise KeyError(prefix)
        raise ValueError(f"run id prefix {prefix!r} is ambiguous: {', '.join(ids)} ...")

    def merge(self, shard: Path) -> None:
        """Copy every run of another trace file (a worker's shard) into this one, replacing
        rows of the same runs; the shard's runs must not be written here meanwhile."""
        with self._lock:
            self._db.execute("ATTACH DATABASE ? AS shard", (str(shard),))
            try:
                with self._tx():
                    for table in ("runs", "events", *PROJECTIONS):
                        self._db.execute(f"INSERT OR REPLACE INTO main.{table} "
                                         f"SELECT * FROM shard.{table}")
            finally:
                self._db.execute("DETACH DATABASE shard")
            self._cursors.clear()

    def extract(self, run_ids: Sequence[str], dest: Path) -> None:
        """Copy runs ``run_ids`` into a new trace file ``dest`` (a shard to send to a worker;
        ``merge`` brings it back), its write-ahead log folded into the file."""
        SQLiteTraceStore(dest).close()  # the schema
        marks = ",".join("?" * len(run_ids))
        with self._lock:
            self._db.execute("ATTACH DATABASE ? AS shard", (str(dest),))
            try:
                with self._tx():
                    self._db.execute("INSERT INTO shard.runs SELECT * FROM main.runs "
                                     f"WHERE id IN ({marks})", tuple(run_ids))
                    for table in ("events", *PROJECTIONS):
                        self._db.execute(f"INSERT INTO shard.{table} SELECT * FROM "
                                         f"main.{table} WHERE run_id IN ({marks})",
                                         tuple(run_ids))
                self._db.execute("PRAGMA shard.wal_checkpoint(TRUNCATE)")
            finally:
                self._db.execute("DETACH DATABASE shard")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Read-only SQL over the projections (for reports and tests)."""
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._pending:
                with self._tx():
                    self._flush_pending()
            self._closed = True
            self._db.close()
        self._deliver()

    def __enter__(self) -> SQLiteTraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (re-entrant: nested uses join the outer one)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db, self.lock = db, lock
        self.outer = False

    def __enter__(self) -> None:
        self.lock.acquire()
        self.outer = not self.db.in_transaction
        if self.outer:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if self.outer:
                self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            self.lock.release()
