"""Print an eval's report (tables, or JSON), its CSV and chart, and a comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from thinkact.eval.report import compare, summarize, to_csv
from thinkact.eval.store import EvalStore


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _ci(ci: list[float]) -> str:
    return f"[{ci[0]:.1%}, {ci[1]:.1%}]"


def report_of(store: EvalStore, eval_id: str) -> dict[str, Any]:
    spec = store.spec(eval_id)
    return {"eval": eval_id, "suite": spec["suite"], **summarize(store.results(eval_id))}


def print_report(store: EvalStore, eval_id: str, json_out: bool, chart: Path | None = None,
                 csv_out: Path | None = None) -> None:
    report = report_of(store, eval_id)
    if csv_out is not None:
        csv_out.write_text(to_csv(store.results(eval_id)))
    if chart is not None:
        from thinkact.eval.charts import category_chart

        category_chart(report, f"{report['suite']} ({eval_id})", chart)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    out = Console()
    out.print(f"[bold]{eval_id}[/] {report['suite']}: {report['passed']}/{report['n']} "
              f"passed, accuracy [bold]{_pct(report['accuracy'])}[/] "
              f"95% CI {_ci(report['ci95'])}"
              + (f"; {report['unfinished']} unfinished" if report["unfinished"] else ""),
              highlight=False)
    table = Table("category", "n", "passed", "accuracy", "95% CI")
    for name, c in report["categories"].items():
        table.add_row(name, str(c["n"]), str(c["passed"]), _pct(c["accuracy"]), _ci(c["ci95"]))
    out.print(table)
    for name, c in report["categories"].items():  # a suite's further measures
        for mark, v in c.get("marks", {}).items():
            out.print(f"{name}: {mark} {_pct(v['mean'])} {_ci(v['ci95'])} (n={v['n']})",
                      highlight=False)
    m = report["mean"]
    out.print(f"mean per item: {m['steps']:.1f} steps, {m['tool_calls']:.1f} tool calls, "
              f"{m['tokens']:.0f} tokens ({m['reasoning_tokens']:.0f} reasoning), "
              f"{m['wall_s']:.1f} s, ${m['cost_usd']:.4f}", highlight=False)
    if report["failures"]:
        out.print("failures: " + ", ".join(f"{k} {v}" for k, v in
                                           sorted(report["failures"].items())))
    if "pass_at_k" in report:
        out.print("pass@k: " + ", ".join(f"@{k} {_pct(v)}" for k, v in
                                         report["pass_at_k"].items()), highlight=False)
        out.print("majority@k: " + ", ".join(
            f"@{k} {_pct(v['accuracy'])} {_ci(v['ci95'])}"
            for k, v in report["majority_at_k"].items()), highlight=False)


def print_compare(store: EvalStore, a: str, b: str, json_out: bool) -> None:
    result = {"a": a, "b": b, **compare(store.results(a), store.results(b))}
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    out = Console()
    out.print(f"A {a}: {_pct(result['accuracy_a'])}   B {b}: {_pct(result['accuracy_b'])}   "
              f"over {result['items']} shared items", highlight=False)
    out.print(f"A - B = {result['difference']:+.1%}, 95% CI [{result['ci95'][0]:+.1%}, "
              f"{result['ci95'][1]:+.1%}]; McNemar exact p = {result['mcnemar_p']:.3g}",
              highlight=False)
    for label, key in (("solved by A only", "a_solved_b_not"),
                       ("solved by B only", "b_solved_a_not")):
        items = result[key]
        if items:
            shown = ", ".join(items[:20]) + (" ..." if len(items) > 20 else "")
            out.print(f"{label} ({len(items)}): {shown}", highlight=False)
