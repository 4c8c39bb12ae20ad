"""Write the queryable projections of one event, inside the caller's transaction.

Each handler turns one event into rows of ``runs``/``steps``/``messages``/``tool_calls``/
``model_calls`` (see ``traces.schema``). A resumed ``RunStarted`` marks the abandoned tail of
the previous segment (events after its last ``StepFinished``) as superseded, and so does a
``StepStarted`` that follows a step cut off inside the same segment (the loop's wall-time
deadline): either way the abandoned attempt stays for forensics, outside the final trace.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from thinkact.events import (
    AssistantMessage,
    ContextCompacted,
    Event,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, Usage
from thinkact.traces.replay import NOT_RUN
from thinkact.traces.schema import PROJECTIONS, STEP_EVENT_TYPES

_COUNTED = f"(error IS NULL OR error NOT IN ({','.join(repr(k) for k in NOT_RUN)}))"


@dataclass
class Cursor:
    """Where a run's record currently ends (kept in memory by the writing store)."""

    seq: int
    segment: int
    step: int | None
    step_seq: int | None = None  # seq of the current step's StepStarted
    step_calls: int = 0  # counted tool results in the current step so far


def project(db: sqlite3.Connection, run_id: str, cur: Cursor, event: Event, now: float,
            *, pid: int, host: str) -> None:
    if isinstance(event, RunStarted):
        _run_started(db, run_id, cur, event, now, pid, host)
    elif isinstance(event, StepStarted):
        if cur.step_seq is not None:  # the previous step never finished: it was cut off
            _supersede(db, run_id, cur.step_seq - 1, cur.seq)
        cur.step_seq, cur.step_calls = cur.seq, 0
        db.execute("INSERT INTO steps (run_id, seq, segment, step, started_at) "
                   "VALUES (?, ?, ?, ?, ?)", (run_id, cur.seq, cur.segment, event.step, now))
    elif isinstance(event, AssistantMessage):
        _message(db, run_id, cur.seq, 0, cur.step, event.message)
        u = event.usage
        db.execute(
            "INSERT INTO model_calls (run_id, seq, segment, step, prompt_tokens, "
            "completion_tokens, reasoning_tokens, cached_tokens, finish_reason, duration_s, "
            "tool_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, cur.seq, cur.segment, cur.step, u.prompt_tokens, u.completion_tokens,
             u.reasoning_tokens, u.cached_tokens, event.finish_reason, event.duration_s,
             len(event.message.tool_calls)))
        _add_usage(db, run_id, u, now)
    elif isinstance(event, ContextCompacted):  # a summary's model call spent tokens too
        _add_usage(db, run_id, event.usage, now)
    elif isinstance(event, ToolCallStarted):
        c = event.call
        db.execute("INSERT INTO tool_calls (run_id, seq, segment, step, call_id, name, "
                   "arguments, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (run_id, cur.seq, cur.segment, cur.step, c.id, c.name, c.arguments, now))
    elif isinstance(event, ToolResultEvent):
        _tool_result(db, run_id, cur, event, now)
    elif isinstance(event, Notice) and event.message is not None:
        _message(db, run_id, cur.seq, 0, cur.step, event.message)
    elif isinstance(event, StepFinished):
        _step_finished(db, run_id, cur, event, now)
    elif isinstance(event, RunFinished):
        db.execute("UPDATE runs SET status = ?, reason = ?, finished_at = ?, updated_at = ?, "
                   "steps = ?, tool_calls = ? WHERE id = ?",
                   (event.status, event.reason, now, now, event.steps, event.tool_calls, run_id))


def _run_started(db: sqlite3.Connection, run_id: str, cur: Cursor, event: RunStarted,
                 now: float, pid: int, host: str) -> None:
    cur.step_seq, cur.step_calls = None, 0
    exists = db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
    if not exists:
        db.execute("INSERT INTO runs (id, task, model, status, config, started_at, updated_at, "
                   "segments, pid, host) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                   (run_id, event.task, event.model, json.dumps(event.config, default=str),
                    now, now, cur.segment, pid, host))
        for i, msg in enumerate(event.messages):
            _message(db, run_id, cur.seq, i, None, msg)
        return
    last_done = db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ? AND "
                           "type = 'step_finished'", (run_id,)).fetchone()[0]
    _supersede(db, run_id, last_done, cur.seq)
    db.execute(
        "UPDATE runs SET status = 'running', reason = NULL, finished_at = NULL, "
        "segments = :segment, pid = :pid, host = :host, updated_at = :now, "
        "steps = (SELECT COALESCE(MAX(step), 0) FROM steps WHERE run_id = :run AND "
        "finished_at IS NOT NULL AND superseded = 0), "
        "tool_calls = (SELECT COUNT(*) FROM tool_calls WHERE run_id = :run AND superseded = 0 "
        f"AND finished_at IS NOT NULL AND {_COUNTED}) WHERE id = :run",
        {"segment": cur.segment, "pid": pid, "host": host, "now": now, "run": run_id})


def _supersede(db: sqlite3.Connection, run_id: str, after: int, before: int) -> None:
    """Mark the step rows with ``after < seq < before`` as an abandoned attempt."""
    marks = ",".join("?" * len(STEP_EVENT_TYPES))
    db.execute(f"UPDATE events SET superseded = 1 WHERE run_id = ? AND seq > ? AND seq < ? "
               f"AND type IN ({marks})", (run_id, after, before, *STEP_EVENT_TYPES))
    for table in PROJECTIONS:
        extra = " AND step IS NOT NULL" if table == "messages" else ""
        db.execute(f"UPDATE {table} SET superseded = 1 WHERE run_id = ? AND seq > ? "
                   f"AND seq < ?{extra}", (run_id, after, before))


def _add_usage(db: sqlite3.Connection, run_id: str, u: Usage, now: float) -> None:
    db.execute(
        "UPDATE runs SET prompt_tokens = prompt_tokens + ?, completion_tokens = "
        "completion_tokens + ?, reasoning_tokens = reasoning_tokens + ?, cached_tokens = "
        "cached_tokens + ?, updated_at = ? WHERE id = ?",
        (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens, now,
         run_id))


def _message(db: sqlite3.Connection, run_id: str, seq: int, idx: int, step: int | None,
             msg: Message) -> None:
    calls = json.dumps([c.model_dump() for c in msg.tool_calls]) if msg.tool_calls else None
    db.execute("INSERT INTO messages (run_id, seq, idx, step, role, content, reasoning, "
               "tool_calls, tool_call_id, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (run_id, seq, idx, step, msg.role, msg.content, msg.reasoning, calls,
                msg.tool_call_id, msg.name))


def _tool_result(db: sqlite3.Connection, run_id: str, cur: Cursor, event: ToolResultEvent,
                 now: float) -> None:
    r = event.result
    cur.step_calls += r.error not in NOT_RUN
    _message(db, run_id, cur.seq, 0, cur.step, Message.tool(r))
    row = db.execute("SELECT seq FROM tool_calls WHERE run_id = ? AND segment = ? AND "
                     "call_id = ? AND finished_at IS NULL ORDER BY seq DESC LIMIT 1",
                     (run_id, cur.segment, r.call_id)).fetchone()
    if row is None:  # a result the loop made without a ToolCallStarted (wrap-up refusals)
        db.execute("INSERT INTO tool_calls (run_id, seq, segment, step, call_id, name, "
                   "arguments, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (run_id, cur.seq, cur.segment, cur.step, r.call_id, r.name,
                    _arguments_of(db, run_id, r.call_id), now))
        row = (cur.seq,)
    db.execute("UPDATE tool_calls SET finished_at = ?, error = ?, ok = ?, content = ?, "
               "duration_s = ?, truncated = ? WHERE run_id = ? AND seq = ?",
               (now, r.error, int(r.ok), r.content, r.duration_s, int(r.truncated), run_id,
                row[0]))


def _arguments_of(db: sqlite3.Connection, run_id: str, call_id: str) -> str:
    row = db.execute("SELECT tool_calls FROM messages WHERE run_id = ? AND role = 'assistant' "
                     "AND tool_calls IS NOT NULL ORDER BY seq DESC LIMIT 1",
                     (run_id,)).fetchone()
    for call in json.loads(row[0]) if row else []:
        if call.get("id") == call_id:
            return str(call.get("arguments", ""))
    return ""


def _step_finished(db: sqlite3.Connection, run_id: str, cur: Cursor, event: StepFinished,
                   now: float) -> None:
    if cur.step_seq is not None:  # O(1): the writer saw this step start
        step_seq, ran = cur.step_seq, cur.step_calls
    else:  # a store opened mid-step (not the loop's pattern): look it up
        step_seq = db.execute("SELECT MAX(seq) FROM steps WHERE run_id = ? AND segment = ? "
                              "AND step = ?", (run_id, cur.segment, event.step)).fetchone()[0]
        ran = db.execute(f"SELECT COUNT(*) FROM tool_calls WHERE run_id = ? AND segment = ? "
                         f"AND step = ? AND finished_at IS NOT NULL AND {_COUNTED}",
                         (run_id, cur.segment, event.step)).fetchone()[0]
    db.execute("UPDATE steps SET finished_at = ? WHERE run_id = ? AND seq = ?",
               (now, run_id, step_seq))
    db.execute("UPDATE runs SET steps = ?, tool_calls = tool_calls + ?, updated_at = ? "
               "WHERE id = ?", (event.step, ran, now, run_id))
    cur.step_seq, cur.step_calls = None, 0
