"""The SQLite trace schema: the append-only ``events`` log plus projections written with it.

``events`` is the record: one row per event (consecutive reasoning/content deltas may be
merged into one row), in ``seq`` order, tagged with the step it belongs to and the run
*segment* (1 for the first process, +1 for every resume). The other tables are projections
of the same events, written in the same transaction, so they never disagree with the log:
``steps``, ``messages`` (the conversation), ``tool_calls`` (name, arguments, outcome,
duration), ``model_calls`` (tokens and timings per model call).

``superseded = 1`` marks rows of a step that never reached ``StepFinished`` in a segment that
was then resumed: the resumed run redid that step, so the abandoned attempt stays in the
record for forensics but is not part of the final trace.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,            -- running | completed | stopped | failed
    reason TEXT,
    config TEXT NOT NULL,            -- JSON, from the first RunStarted
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    segments INTEGER NOT NULL DEFAULT 1,
    steps INTEGER NOT NULL DEFAULT 0,        -- complete steps
    tool_calls INTEGER NOT NULL DEFAULT 0,   -- tool calls that ran, in complete steps
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,                     -- writer process of the latest segment
    host TEXT
);

CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    segment INTEGER NOT NULL,
    type TEXT NOT NULL,
    step INTEGER,
    ts REAL NOT NULL,
    superseded INTEGER NOT NULL DEFAULT 0,
    json TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,            -- of its StepStarted
    segment INTEGER NOT NULL,
    step INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS messages (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,            -- of the event that carried the message
    idx INTEGER NOT NULL,            -- position inside that event (RunStarted has several)
    step INTEGER,                    -- NULL for the initial conversation
    role TEXT NOT NULL,
    content TEXT,
    reasoning TEXT,
    tool_calls TEXT,                 -- JSON list or NULL
    tool_call_id TEXT,
    name TEXT,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq, idx)
);

CREATE TABLE IF NOT EXISTS tool_calls (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,            -- of its ToolCallStarted
    segment INTEGER NOT NULL,
    step INTEGER,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    error TEXT,                      -- NULL while running or when it succeeded
    ok INTEGER,                      -- NULL while running
    content TEXT,
    duration_s REAL,
    truncated INTEGER,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS model_calls (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,            -- of its AssistantMessage
    segment INTEGER NOT NULL,
    step INTEGER,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    finish_reason TEXT,
    duration_s REAL NOT NULL,
    tool_calls INTEGER NOT NULL,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
);

CREATE INDEX IF NOT EXISTS events_type ON events (run_id, type);
CREATE INDEX IF NOT EXISTS tool_calls_call ON tool_calls (run_id, call_id);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""

# Events that belong to a step (and can be abandoned with it when a run is killed mid-step).
STEP_EVENT_TYPES = (
    "step_started", "reasoning_delta", "content_delta", "retry", "assistant_message",
    "tool_call", "tool_result", "notice", "context_compacted", "final_answer",
)
PROJECTIONS = ("steps", "messages", "tool_calls", "model_calls")
DELTA_TYPES = ("reasoning_delta", "content_delta")
