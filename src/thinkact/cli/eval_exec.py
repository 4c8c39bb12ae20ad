"""Run a planned eval from its recorded spec: load the suite, build the backend and agents
as ``thinkact run`` would, and drive ``run_eval`` with a progress bar (running accuracy)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thinkact.cli.common import UsageError
from thinkact.eval.agents import agent_maker, build_backend, check_tools
from thinkact.eval.runner import EvalSettings, run_eval
from thinkact.eval.select import select
from thinkact.eval.store import EvalStore, Result
from thinkact.eval.suite import check_ready
from thinkact.eval.suites import load_suite
from thinkact.sandbox import SandboxUnavailable
from thinkact.traces.sqlite import SQLiteTraceStore


def execute(store: EvalStore, eval_id: str, spec: dict[str, Any], err: Console,
            quiet: bool = False) -> int:
    """0 when every (item, epoch) has its score, 1 when cut short, 2 bad usage."""
    try:
        suite = load_suite(spec["suite"], spec.get("suite_options"),
                           unsafe_python=bool(spec["run"].get("unsafe_python")))
        check_ready(suite)
        items = select(suite.items(), spec.get("limit"), spec.get("per_category"))
        backend = build_backend(spec["run"])
    except (UsageError, ValueError, ImportError, SandboxUnavailable) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    settings = EvalSettings(epochs=spec["epochs"], concurrency=spec["concurrency"],
                            item_timeout=spec.get("item_timeout"), heavy=spec.get("heavy"),
                            aggregate=_aggregator(spec.get("aggregate"), backend))
    if settings.heavy and hasattr(backend, "max_sessions"):  # a cache per live trajectory
        backend.max_sessions = max(backend.max_sessions, settings.heavy * settings.concurrency)
    trace = SQLiteTraceStore(Path(spec["trace_db"]))
    try:
        make = agent_maker(spec["run"], backend, trace)
        check_tools(spec["run"], [i.tools for i in items[:1]])  # bad options: usage errors
        total = len(items) * settings.epochs
        done = sum(r.status == "done" for r in store.results(eval_id))
        if not quiet:
            err.print(f"eval [bold]{eval_id}[/]: {suite.name}, {len(items)} items x "
                      f"{settings.epochs} epochs ({suite.source})", highlight=False)
        with _progress(err, total, done, quiet) as on_result:
            if spec.get("executor") == "ray":
                from thinkact.eval.ray_executor import run_eval_ray

                run_eval_ray(store, trace, eval_id, spec, items, settings, on_result,
                             spec.get("ray_address"))
            else:
                asyncio.run(_drive(store, trace, eval_id, suite, items, make, settings,
                                   on_result, getattr(backend, "price", None)))
    except UsageError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    except KeyboardInterrupt:
        return 1
    finally:
        trace.close()
        store.release(eval_id)
        closer = getattr(backend, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                asyncio.run(closer())
    finished = [r for r in store.results(eval_id) if r.status == "done"]
    return 0 if len(finished) == total else 1


async def _drive(*args: Any) -> None:
    me = asyncio.current_task()
    assert me is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, me.cancel)
    try:
        await run_eval(*args)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _aggregator(name: str | None, backend: Any) -> str:
    from thinkact.backends.embedded import EMBEDDED_NAME

    if name in (None, "auto"):
        return "vote" if backend.model_name == EMBEDDED_NAME else "reflect"
    if name not in ("vote", "reflect"):
        raise UsageError(f"--aggregate must be auto, reflect or vote, not {name!r}")
    return name


@contextlib.contextmanager
def _progress(err: Console, total: int, done: int, quiet: bool) -> Any:
    """A callback per scored row that advances a bar showing the running accuracy."""
    passed = [0, 0]

    def update(progress: Progress | None, task: Any, r: Result) -> None:
        passed[0] += r.outcome == "passed"
        passed[1] += 1
        if progress is not None:
            progress.update(task, advance=1, acc=f"{passed[0] / passed[1]:.1%}")

    if quiet:
        yield lambda r: update(None, None, r)
        return
    columns = (TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(),
               TextColumn("acc {task.fields[acc]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("eval", total=total, completed=done, acc="-")
        yield lambda r: update(progress, task, r)
