"""``thinkact run --heavy N``: the terminal side of heavy mode (``thinkact.agent.heavy``).

The N trajectories print one line per tool call and per ending, prefixed with their number,
under a live status line; the aggregation run then renders like any run (``LiveView``).
``--json`` prints every event with its ``run_id`` added. ``--resume`` of any run of a group
(or of the group id) finishes the whole group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from thinkact.agent.heavy import Heavy
from thinkact.cli.common import interrupted_end
from thinkact.cli.view import LiveView, ReasoningMode, clip, human_tokens
from thinkact.events import (
    EVENT_ADAPTER,
    RUN_STATUSES,
    Event,
    FinalAnswer,
    Retry,
    RunError,
    RunFinished,
    RunStarted,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Usage
from thinkact.traces.sqlite import SQLiteTraceStore


def heavy_group_of(store: SQLiteTraceStore, ref: str) -> str | None:
    """The heavy group that ``ref`` names: the group id itself (even before its aggregation
    run exists), or any run of the group (a prefix or 'latest' too); None for a plain run."""
    for candidate in (ref, f"{ref}.1"):
        with contextlib.suppress(KeyError):
            heavy = store.run_config(candidate).get("heavy")
            if heavy:
                return str(heavy["group"])
    try:
        run_id = store.resolve_run_id(ref)
    except (KeyError, ValueError):
        return None
    heavy = store.run_config(run_id).get("heavy")
    return str(heavy["group"]) if heavy else None


class HeavyView:
    """Trajectory lines plus a status line; the group's own run goes to a ``LiveView``."""

    def __init__(self, console: Console, group: str, n: int,
                 show_reasoning: ReasoningMode = "collapsed") -> None:
        self.console, self.group, self.n = console, group, n
        self.final = LiveView(console, show_reasoning=show_reasoning)
        self.state: dict[str, str] = {}  # run id -> "step 3", "completed", ...
        self.spent: dict[str, RunFinished] = {}  # run id -> its (latest) end
        self._live: Live | None = None
        self._in_final = False

    def __enter__(self) -> HeavyView:
        self.console.print(Text.assemble(("heavy run ", "dim"), (self.group, "bold"),
                                         (f": {self.n} trajectories, then an aggregation",
                                          "dim")))
        if self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self._status,
                              transient=True, refresh_per_second=4, redirect_stdout=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._in_final:
            self.final.__exit__()

    def handle(self, run_id: str, event: Event) -> None:
        if run_id == self.group:
            if not self._in_final:
                self.__exit__()
                self._in_final = True
                self.final.__enter__()
            self.final.handle(event)
            if isinstance(event, RunFinished):
                self.spent[run_id] = event
                self._totals()
            return
        tag = f"[{run_id.rsplit('.', 1)[-1]}] "
        line: str | None = None
        style = ""
        if isinstance(event, RunStarted):
            line = f"resumed after step {event.resumed_from_step}" if (
                event.resumed_from_step is not None) else f"started {run_id}"
            self.state[run_id] = "started"
        elif isinstance(event, StepStarted):
            self.state[run_id] = f"step {event.step}"
        elif isinstance(event, ToolCallStarted):
            line = f"{self.state.get(run_id, '')} → {event.call.name} " + clip(
                event.call.arguments.replace("\n", " "), 1, 100)
        elif isinstance(event, ToolResultEvent) and not event.result.ok:
            line, style = f"← {event.result.name} error: {event.result.error}", "red"
        elif isinstance(event, Retry):
            line, style = f"retry {event.attempt}: {event.error}", "yellow"
        elif isinstance(event, RunError):
            line, style = f"error: {event.message}", "red"
        elif isinstance(event, FinalAnswer):
            line, style = "answer: " + clip(event.content.replace("\n", " "), 1, 160), "green"
        elif isinstance(event, RunFinished):
            self.state[run_id] = event.status
            self.spent[run_id] = event
            line = (f"{event.status} ({event.reason}) · {event.steps} steps · "
                    f"{event.tool_calls} tool calls · {event.duration_s:.1f}s")
            style = {"completed": "green", "stopped": "yellow", "failed": "red"}[event.status]
        if line is not None:
            self.console.print(Text(tag + line, style=style), highlight=False)
        if self._live is not None:
            self._live.refresh()

    def _totals(self) -> None:
        """What the whole group spent (this session's segments of each run)."""
        usage = sum((e.usage for e in self.spent.values()), Usage())
        steps = sum(e.steps for e in self.spent.values())
        calls = sum(e.tool_calls for e in self.spent.values())
        self.console.print(Text(
            f"group total this session: {len(self.spent)} runs · {steps} steps · "
            f"{calls} tool calls · {human_tokens(usage.prompt_tokens)} in / "
            f"{human_tokens(usage.completion_tokens)} out", style="dim"))

    def _status(self) -> Text:
        done = sum(s in RUN_STATUSES for s in self.state.values())
        parts = [f"{rid.rsplit('.', 1)[-1]}: {s}" for rid, s in sorted(self.state.items())]
        return Text(f"{done}/{self.n} trajectories done · " + " · ".join(parts),
                    style="bold blue")


def json_line(run_id: str, event: Event) -> None:
    """The event's JSON with ``run_id`` first (a run_started event's own agrees)."""
    data = {"run_id": run_id, **EVENT_ADAPTER.dump_python(event, mode="json")}
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


async def drive_heavy(heavy: Heavy, store: SQLiteTraceStore, group: str, task: str | None,
                      json_out: bool, show_reasoning: ReasoningMode) -> int:
    """Consume the group's events; on Ctrl-C or SIGTERM, record every unfinished run of the
    group as stopped ('interrupted'), so ``--resume`` picks them up."""
    me = asyncio.current_task()
    assert me is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, me.cancel)
    view = None if json_out else HeavyView(Console(), group, heavy.n, show_reasoning)
    emit: Callable[[str, Event], None] = json_line if view is None else view.handle
    stream = heavy.events(task, run_id=group) if task is not None else heavy.resume_events(group)
    started: dict[str, float] = {}
    ended: dict[str, str] = {}
    try:
        if view is not None:
            view.__enter__()
        try:
            async with contextlib.aclosing(stream):
                async for run_id, event in stream:
                    emit(run_id, event)
                    if isinstance(event, RunStarted):
                        started[run_id] = time.monotonic()
                    if isinstance(event, RunFinished):
                        ended[run_id] = event.status
        except (asyncio.CancelledError, KeyboardInterrupt, BrokenPipeError) as exc:
            if isinstance(exc, BrokenPipeError):  # `--json | head`: the reader left
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
            members = [f"{group}.{k}" for k in range(1, heavy.n + 1)] + [group]
            for run_id in members:  # every run of the group the store holds as running,
                # also one whose start had not reached this loop yet
                if not store.has_run(run_id) or store.run_info(run_id)["status"] != "running":
                    continue  # not recorded (a failed group), or already ended
                stop = interrupted_end(store, run_id, started.get(run_id, time.monotonic()))
                assert stop is not None  # the store has the run
                store.append(run_id, stop)
                with contextlib.suppress(BrokenPipeError):
                    emit(run_id, stop)
                ended[run_id] = stop.status
    finally:
        if view is not None:
            view.__exit__()
        loop.remove_signal_handler(signal.SIGTERM)
        await heavy.aclose()
    return 0 if ended.get(group) == "completed" else 1


def heavy_settings(store: SQLiteTraceStore, group: str) -> dict[str, Any]:
    """The recorded ``heavy`` settings of a group (from its first trajectory)."""
    return dict(store.run_config(f"{group}.1")["heavy"])
