"""Shared CLI plumbing: the usage error, ``--tools`` parsing, and the end recorded for a run
cut by Ctrl-C. ``--provider scripted --script FILE.json`` (tests and offline demos) is
``thinkact.backends.scripted.ScriptFileBackend``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from thinkact.events import RunFinished
from thinkact.traces.base import TraceStore

if TYPE_CHECKING:
    from thinkact.server.openai_app import Access
    from thinkact.traces.sqlite import SQLiteTraceStore


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


def code_running_access(host: str, key_env: str | None, what: str) -> Access:
    """The ``Access`` of a server whose requests run code (``what`` says how, for the
    message): beyond loopback only with a bearer key. Exits with status 2 otherwise."""
    import typer
    from rich.console import Console

    from thinkact.server.openai_app import access_for

    err = Console(stderr=True)
    try:
        access = access_for(host, key_env)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if not access.loopback_only and access.api_key is None:
        err.print(f"[bold red]error:[/] {what}: binding {host} (beyond loopback) needs "
                  "--key-env", highlight=False)
        raise typer.Exit(2)
    return access


def otel_export(store: SQLiteTraceStore, endpoint: str | None, content: bool) -> Any:
    """Live OTLP export of what ``store`` records (None without an endpoint); exits with
    status 2 when the otel extra is missing."""
    if not endpoint:
        return None
    import typer
    from rich.console import Console

    from thinkact.otel import export_live

    try:
        return export_live(store, endpoint, content)
    except RuntimeError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
