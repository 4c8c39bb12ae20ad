"""``thinkact eval SUITE``: run a suite, each item an ordinary recorded run, scored once.

SUITE is a built-in suite name or a ``.jsonl`` file. The model, tool and budget options are
``thinkact run``'s own (taken from its signature, so they never drift). ``--resume EVAL``
continues a killed eval; ``show``, ``compare`` and ``list`` read finished ones.
Exit status: 0 when every item was scored, 1 when cut short, 2 bad usage.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from thinkact.agent import new_run_id
from thinkact.cli import eval_view
from thinkact.cli.common import UsageError
from thinkact.cli.run import run_command
from thinkact.eval.agents import RUN_OPTIONS
from thinkact.eval.store import EvalStore, default_eval_db
from thinkact.paths import default_trace_db

Opt = typer.Option


class _RunByDefault(TyperGroup):
    """``thinkact eval ARGS`` means ``thinkact eval run ARGS`` unless ARGS names a command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                       help="Evaluate the agent on a suite; show and compare results.")
EvalDb = Annotated[Path | None, Opt("--eval-db", help="Eval results database (default "
                                    "$THINKACT_HOME/evals.sqlite).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(eval_app, name="eval")


def _eval_run(
    suite: Annotated[str | None, typer.Argument(help="Suite name (tiny, world, "
                                                "reasoning, humaneval, bfcl, agentdojo, "
                                                "docsearch, docwriting) or a .jsonl file.")] = None,
    resume: Annotated[str | None, Opt("--resume", help="Continue this eval or sweep (id, "
                                      "prefix or 'latest').")] = None,
    limit: Annotated[int | None, Opt(help="Only the first N items.")] = None,
    per_category: Annotated[int | None, Opt(help="Only the first N items of each "
                                            "category.")] = None,
    epochs: Annotated[int, Opt(help="Samples per item (pass@k, majority-of-k).")] = 1,
    concurrency: Annotated[int, Opt(help="Items run at the same time.")] = 1,
    item_timeout: Annotated[float | None, Opt(help="Seconds per item at most (a hard cut, "
                                              "scored as a timeout).")] = None,
    suite_opt: Annotated[list[str] | None, Opt("--suite-opt", help="KEY=VALUE for the suite "
                                               "(e.g. categories=simple,multiple).")] = None,
    sweep: Annotated[list[str] | None, Opt("--sweep", help="SETTING=V1,V2,...: one eval per "
                                           "value (heavy, max_tool_calls, thinking_tokens, "
                                           "any run option); repeatable.")] = None,
    executor: Annotated[str, Opt(help="local, or ray (items, epochs and heavy trajectories "
                                 "over a Ray cluster; thinkact[ray]).")] = "local",
    ray_address: Annotated[str | None, Opt(help="Ray cluster address (default: start a "
                                           "local one).")] = None,
    eval_db: EvalDb = None,
    json_out: Annotated[bool, Opt("--json", help="Print the report as JSON.")] = False,
    chart: Annotated[Path | None, Opt(help="Write a PNG (per category; a sweep: accuracy "
                                      "against the setting and against tokens).")] = None,
    **run_options: Any,
) -> None:
    """Run SUITE (or --resume an eval) and print its report."""
    from thinkact.cli.eval_exec import execute
    from thinkact.cli.eval_sweep import plan_sweep, print_sweep

    err = Console(stderr=True)
    if (suite is None) == (resume is None):
        _usage(err, "give a SUITE, or --resume EVAL (not both)")
    store = EvalStore(eval_db or default_eval_db())
    try:
        try:
            if resume is not None:
                ref = _resolve_any(store, resume)
                members = store.sweep_members(ref) if ref.startswith("sw-") else [ref]
            else:
                assert suite is not None
                spec = _spec(suite, run_options, {
                    "limit": limit, "per_category": per_category, "epochs": epochs,
                    "concurrency": concurrency, "item_timeout": item_timeout,
                    "suite_options": _pairs(suite_opt or []), "executor": executor,
                    "ray_address": ray_address})
                ref = plan_sweep(store, spec, sweep, new_run_id) if sweep else _create(
                    store, spec)
                members = store.sweep_members(ref) if sweep else [ref]
            for eval_id in members:
                store.take_over(eval_id)
        except (UsageError, ValueError, KeyError, RuntimeError) as exc:
            _usage(err, str(exc).strip("'\""))
        code = 0
        for eval_id in members:
            code = max(code, execute(store, eval_id, store.spec(eval_id), err, quiet=json_out))
            if code == 2:
                break
        if ref.startswith("sw-"):
            print_sweep(store, ref, json_out, chart)
        else:
            eval_view.print_report(store, ref, json_out, chart)
    finally:
        store.close()
    raise typer.Exit(code)


def _spec(suite: str, run_options: dict[str, Any], settings: dict[str, Any]
          ) -> dict[str, Any]:
    """Everything an eval needs to run (and a resume needs to run again), as JSON."""
    if settings["epochs"] < 1 or settings["concurrency"] < 1:
        raise UsageError("--epochs and --concurrency must be 1 or more")
    if settings["executor"] not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, not {settings['executor']!r}")
    if suite.endswith(".jsonl") or Path(suite).is_file():
        suite = str(Path(suite).resolve())
    run = {k: (str(v) if isinstance(v, Path) else v) for k, v in run_options.items()
           if k in RUN_OPTIONS}
    trace_db = run_options.get("trace_db") or default_trace_db()
    return {"suite": suite, **settings, "run": run, "trace_db": str(trace_db),
            "heavy": run_options.get("heavy"), "aggregate": run_options.get("aggregate")}


def _create(store: EvalStore, spec: dict[str, Any]) -> str:
    eval_id = "ev-" + new_run_id()
    store.create(eval_id, spec["suite"], spec)
    return eval_id


def _resolve_any(store: EvalStore, ref: str) -> str:
    """An eval id, or a sweep id (``sw-...``, as given)."""
    if ref.startswith("sw-"):
        if not store.sweep_members(ref):
            raise KeyError(f"no sweep {ref!r} in {store.path}")
        return ref
    return store.resolve(ref)


def _pairs(raw: list[str]) -> dict[str, str]:
    out = {}
    for pair in raw:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--suite-opt takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _usage(err: Console, message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(2)


_SHARED = [*RUN_OPTIONS, "trace_db", "heavy", "aggregate"]
_params = [p for name, p in inspect.signature(_eval_run, eval_str=True).parameters.items()
           if name != "run_options"]
_params += [p for name, p in inspect.signature(run_command, eval_str=True).parameters.items()
            if name in _SHARED]
_eval_run.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
_eval_run.__annotations__ = {p.name: p.annotation for p in _params}
eval_app.command("run")(_eval_run)


@eval_app.command("show")
def show(ref: Annotated[str, typer.Argument(help="Eval id, prefix or 'latest'.")],
         eval_db: EvalDb = None,
         json_out: Annotated[bool, Opt("--json", help="Print the report as JSON.")] = False,
         csv_out: Annotated[Path | None, Opt("--csv", help="Write every row as CSV.")] = None,
         chart: Annotated[Path | None, Opt(help="Write a PNG of accuracy per category.")
                          ] = None) -> None:
    """Accuracy (95% CI), per category, means, failures by kind."""
    from thinkact.cli.eval_sweep import print_sweep

    with EvalStore(eval_db or default_eval_db()) as store:
        found = _resolve(store, ref)
        if found.startswith("sw-"):
            print_sweep(store, found, json_out, chart)
        else:
            eval_view.print_report(store, found, json_out, chart, csv_out)


@eval_app.command("compare")
def compare(a: Annotated[str, typer.Argument(help="Eval A.")],
            b: Annotated[str, typer.Argument(help="Eval B.")], eval_db: EvalDb = None,
            json_out: Annotated[bool, Opt("--json", help="Print as JSON.")] = False) -> None:
    """A minus B over shared items: paired difference (95% CI), McNemar's exact test, flips."""
    with EvalStore(eval_db or default_eval_db()) as store:
        eval_view.print_compare(store, _resolve(store, a), _resolve(store, b), json_out)


@eval_app.command("export")
def export(ref: Annotated[str, typer.Argument(help="Eval id, prefix or 'latest'.")],
           output: Annotated[Path, Opt("-o", "--output", help="File to write (.eval or "
                                       ".json for inspect).")],
           fmt: Annotated[str, Opt("--format", help="inspect (an Inspect AI eval log), "
                                   "json or csv (the rows).")] = "inspect",
           eval_db: EvalDb = None) -> None:
    """Write an eval as an Inspect AI log (``inspect view`` opens it), or its rows."""
    from thinkact.eval.report import to_csv
    from thinkact.eval.store import as_dict

    err = Console(stderr=True)
    with EvalStore(eval_db or default_eval_db()) as store:
        eval_id = _resolve(store, ref)
        if fmt == "csv":
            output.write_text(to_csv(store.results(eval_id)))
        elif fmt == "json":
            output.write_text(json.dumps([as_dict(r) for r in store.results(eval_id)],
                                         indent=1))
        elif fmt == "inspect":
            _export_inspect(store, eval_id, output, err)
        else:
            _usage(err, f"--format must be inspect, json or csv, not {fmt!r}")
    typer.echo(str(output))


def _export_inspect(store: EvalStore, eval_id: str, output: Path, err: Console) -> None:
    from thinkact.eval.select import select
    from thinkact.eval.suites import load_suite
    from thinkact.traces.sqlite import SQLiteTraceStore

    spec = store.spec(eval_id)
    try:
        from thinkact.eval.inspect_export import export_inspect

        suite = load_suite(spec["suite"], dict(spec.get("suite_options") or {}))
        items = select(suite.items(), spec.get("limit"), spec.get("per_category"))
        with SQLiteTraceStore(Path(spec["trace_db"])) as trace:
            export_inspect(store, trace, eval_id, items, output)
    except ImportError:
        _usage(err, "--format inspect needs the inspect-ai package: pip install "
               "'thinkact[inspect]'")
    except ValueError as exc:
        _usage(err, str(exc))


@eval_app.command("list")
def list_evals(eval_db: EvalDb = None) -> None:
    """The latest evals."""
    with EvalStore(eval_db or default_eval_db()) as store:
        for eval_id, suite, created in store.evals():
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(created))
            typer.echo(f"{eval_id}  {when}  {suite}")


def _resolve(store: EvalStore, ref: str) -> str:
    try:
        return _resolve_any(store, ref)
    except KeyError as exc:
        _usage(Console(stderr=True), str(exc).strip("'\""))
        raise
