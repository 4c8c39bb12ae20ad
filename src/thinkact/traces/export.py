"""JSONL export: one ``Event`` JSON per line (parses back with ``EVENT_ADAPTER``), or the
run's conversation, one ``Message`` JSON per line. An event a resume redid carries
``"superseded": true`` (ignored when parsed back): it is not part of the final trace."""

from __future__ import annotations

from typing import TextIO

from thinkact.events import EVENT_ADAPTER
from thinkact.traces.sqlite import SQLiteTraceStore


def export_events(store: SQLiteTraceStore, run_id: str, out: TextIO, *,
                  include_superseded: bool = True) -> int:
    """Write every recorded event (or only the final trace); returns the line count."""
    n = 0
    for record in store.records(run_id):
        if record.superseded and not include_superseded:
            continue
        line = EVENT_ADAPTER.dump_json(record.event).decode()
        if record.superseded:
            line = '{"superseded":true,' + line[1:]
        out.write(line + "\n")
        n += 1
    return n


def export_messages(store: SQLiteTraceStore, run_id: str, out: TextIO) -> int:
    """Write the conversation of the run's complete steps; returns the line count."""
    messages = store.load_state(run_id).messages
    for msg in messages:
        out.write(msg.model_dump_json(exclude_none=True) + "\n")
    return len(messages)
