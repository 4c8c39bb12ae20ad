"""Shared CLI plumbing: the usage error, ``--tools`` parsing, and the end recorded for a run
cut by Ctrl-C. ``--provider scripted --script FILE.json`` (tests and offline demos) is
``thinkact.backends.scripted.ScriptFileBackend``."""

from __future__ import annotations

import time
from collections.abc import Sequence

from thinkact.events import RunFinished
from thinkact.traces.base import TraceStore


class UsageError(ValueError):
    """Bad command-line input; the CLI prints the message and exits with status 2."""


def parse_tools(spec: str | None, recorded: Sequence[str] | None) -> list[str] | None:
    """``--tools a,b`` -> names; ``none``/empty -> no tools; unset -> recorded or default."""
    if spec is None:
        return list(recorded) if recorded is not None else None
    names = [n.strip() for n in spec.split(",") if n.strip()]
    return [] if names in ([], ["none"]) else names


def interrupted_end(store: TraceStore, run_id: str, started: float) -> RunFinished | None:
    """The ``RunFinished`` that records a run cut by Ctrl-C, SIGTERM or a closed pipe
    (stopped, 'interrupted': resumable), counted from the store; None for a run the store
    never saw."""
    try:
        state = store.load_state(run_id)
    except KeyError:
        return None
    return RunFinished(status="stopped", reason="interrupted", steps=state.steps_done,
                       tool_calls=state.tool_calls, usage=state.usage,
                       duration_s=time.monotonic() - started)
