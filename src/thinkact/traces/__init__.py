"""Durable traces: every event of a run, as it happens, and resume from the last full step.

    store = SQLiteTraceStore(default_trace_db())
    agent = Agent(backend, trace=store); ...; store.load_state(run_id)
"""

from thinkact.paths import data_dir, default_trace_db
from thinkact.traces.base import ResumeState, RunSummary, TraceStore
from thinkact.traces.export import export_events, export_messages
from thinkact.traces.replay import replay_state
from thinkact.traces.sqlite import EventRecord, SQLiteTraceStore

__all__ = [
    "EventRecord", "ResumeState", "RunSummary", "SQLiteTraceStore", "TraceStore",
    "data_dir", "default_trace_db", "export_events", "export_messages", "replay_state",
]
