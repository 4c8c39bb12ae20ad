"""``thinkact trace list | show RUN | export RUN``: read the trace database.

``show`` replays the recorded events through the same ``LiveView`` the live run uses (deltas
skipped: each step's complete message carries its reasoning); the events of a partial step
that a resume redid are summarised as superseded. ``export`` writes JSONL: one ``Event`` per
line (``EVENT_ADAPTER`` parses each back), or with ``--messages`` the conversation.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from thinkact.cli.run_heavy import heavy_group_of, heavy_settings
from thinkact.cli.view import LiveView, human_tokens
from thinkact.events import FinalAnswer
from thinkact.paths import default_trace_db
from thinkact.traces.export import export_events, export_messages
from thinkact.traces.sqlite import SQLiteTraceStore

trace_app = typer.Typer(help="Inspect and export recorded runs.", no_args_is_help=True)
DbOpt = Annotated[Path | None, typer.Option("--trace-db", help="Trace database.")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(trace_app, name="trace")


def _open(db: Path | None) -> SQLiteTraceStore:
    path = db or default_trace_db()
    if not path.exists():
        Console(stderr=True).print(f"[bold red]error:[/] no trace database at {path}")
        raise typer.Exit(2)
    return SQLiteTraceStore(path)


def _resolve(store: SQLiteTraceStore, run: str) -> str:
    try:
        return store.resolve_run_id(run)
    except (KeyError, ValueError) as exc:
        message = f"no run {run!r} in {store.path}" if isinstance(exc, KeyError) else str(exc)
        Console(stderr=True).print(f"[bold red]error:[/] {message}")
        raise typer.Exit(2) from None


def _k(n: object) -> str:
    return human_tokens(n) if isinstance(n, int) else "?"


@trace_app.command("list")
def list_runs(db: DbOpt = None,
              limit: Annotated[int, typer.Option(help="How many runs.")] = 20) -> None:
    """Recent runs, newest first."""
    store = _open(db)
    try:
        runs = store.list_runs(limit)
        width = max((len(r.run_id) for r in runs), default=3)
        console = Console(highlight=False)
        # plain columns: every one but the task keeps its width, the task gets what is left
        # of the terminal (80 columns and up) and is cut with an ellipsis
        fixed = f"{{:<{width}}}  {{:<11}}  {{:>5}}  {{:>5}}  {{:<11}}  "
        room = max(10, console.width - len(fixed.format("", "", "", "", "")) - 1)
        console.print(fixed.format("run", "status", "steps", "calls", "tokens") + "task",
                      style="bold", markup=False)
        for run in runs:
            info = store.run_info(run.run_id)
            status: str = run.status
            if status == "running" and not store.writer_alive(run.run_id):
                status = "interrupted"  # its process is gone: resumable with --resume
            task = " ".join(run.task.split())
            task = task if len(task) <= room else task[:room - 1] + "…"
            tokens = f"{_k(info['prompt_tokens'])}/{_k(info['completion_tokens'])}"
            console.print(fixed.format(run.run_id, status, run.steps, run.tool_calls, tokens)
                          + task, markup=False)
    finally:
        store.close()


@trace_app.command("show")
def show(run: Annotated[str, typer.Argument(help="Run id, unique prefix, or 'latest'.")],
         db: DbOpt = None,
         reasoning: Annotated[str, typer.Option(help="full, collapsed or hidden.")] = "full",
         all_events: Annotated[bool, typer.Option("--all", help="Also show superseded "
                                                  "events in full.")] = False) -> None:
    """Render a recorded run: steps, reasoning, tool calls and results, answer, totals."""
    if reasoning not in ("full", "collapsed", "hidden"):
        Console(stderr=True).print("[bold red]error:[/] --reasoning must be full, collapsed "
                                   "or hidden")
        raise typer.Exit(2)
    store = _open(db)
    try:
        group = heavy_group_of(store, run)
        if run == group and not store.has_run(group):  # cut before its aggregation
            _group_table(store, group)
            Console().print(f"[yellow]heavy run {group} not aggregated yet[/] — continue it "
                            f"with thinkact run --resume {group}")
            return
        run_id = _resolve(store, run)
        view = LiveView(Console(), show_reasoning=reasoning, live=False)  # type: ignore[arg-type]
        view.resume_hint = False  # a recorded segment end; the footer says what to do
        records = store.records(run_id, include_deltas=False)
        i = 0
        while i < len(records):
            r = records[i]
            if r.superseded and not all_events:
                j = i
                while j < len(records) and records[j].superseded:
                    j += 1
                view.superseded(r.step, j - i)
                i = j
                continue
            view.handle(r.event)
            i += 1
        if view.finished is None:
            info = store.run_info(run_id)
            Console().print(f"[yellow]run not finished[/] (status {info['status']}; "
                            f"{info['steps']} complete steps) — continue it with "
                            f"thinkact run --resume {run_id}")
        if group == run_id:
            _group_table(store, group)
    finally:
        store.close()


def _group_table(store: SQLiteTraceStore, group: str) -> None:
    """The trajectories of heavy run ``group``: how each ended and what it answered."""
    n = int(heavy_settings(store, group)["of"])
    table = Table("trajectory", "status", "steps", "calls", Column("answer", overflow="fold"),
                  title=f"heavy run {group}: {n} trajectories", box=box.SIMPLE_HEAD)
    for k in range(1, n + 1):
        rid = f"{group}.{k}"
        if not store.has_run(rid):
            table.add_row(rid, "not started", "", "", "")
            continue
        info = store.run_info(rid)
        answer = next((e.content for e in reversed(list(store.events(rid)))
                       if isinstance(e, FinalAnswer)), "")
        table.add_row(rid, str(info["status"]), str(info["steps"]), str(info["tool_calls"]),
                      answer if len(answer) <= 120 else answer[:119] + "…")
    Console().print(table)
    Console().print(f"[dim]each trajectory: thinkact trace show {group}.N[/]")


@trace_app.command("export")
def export(run: Annotated[str, typer.Argument(help="Run id, unique prefix, or 'latest'.")],
           db: DbOpt = None,
           output: Annotated[Path | None, typer.Option("-o", "--output",
                                                       help="File (default stdout).")] = None,
           messages: Annotated[bool, typer.Option("--messages", help="Export the "
                                                  "conversation instead of the events.")
                               ] = False,
           final_only: Annotated[bool, typer.Option("--final", help="Leave out superseded "
                                                    "events.")] = False) -> None:
    """Export a run as JSONL (one Event JSON per line)."""
    store = _open(db)
    try:
        run_id = _resolve(store, run)
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            if messages:
                n = export_messages(store, run_id, out)
            else:
                n = export_events(store, run_id, out, include_superseded=not final_only)
        except BrokenPipeError:  # `thinkact trace export RUN | head`
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
            return
        finally:
            if output:
                out.close()
        if output:
            kind = "messages" if messages else "events"
            Console(stderr=True).print(f"wrote {n} {kind} to {output}")
    finally:
        store.close()


@trace_app.command("otel")
def otel(run: Annotated[str, typer.Argument(help="Run id, unique prefix, 'latest', or a "
                                            "heavy group id.")],
         db: DbOpt = None,
         endpoint: Annotated[str | None, typer.Option(
             envvar="THINKACT_OTEL_ENDPOINT", help="OTLP/HTTP URL (e.g. "
             "http://localhost:6006/v1/traces).")] = None,
         content: Annotated[bool, typer.Option("--content", help="Include messages, "
                                               "reasoning and tool input/output.")] = False
         ) -> None:
    """Export a recorded run (a heavy group: the whole group) as OpenTelemetry spans, with
    the ids a live export gave it."""
    err = Console(stderr=True)
    if not endpoint:
        err.print("[bold red]error:[/] give --endpoint URL or set THINKACT_OTEL_ENDPOINT")
        raise typer.Exit(2)
    store = _open(db)
    try:
        group = heavy_group_of(store, run)
        run_id = group if group is not None and run == group else _resolve(store, run)
        from thinkact.otel import export_recorded

        try:
            n = export_recorded(store, run_id, endpoint, content)
        except RuntimeError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        err.print(f"exported {run_id} ({n} events) to {endpoint}")
    finally:
        store.close()
