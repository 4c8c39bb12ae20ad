"""``thinkact eval SUITE --sweep SETTING=V1,V2,...``: plan a sweep's evals, then print its
table (accuracy with interval, tokens) and PNG. See ``thinkact.eval.sweep`` for what a
heavy sweep reuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from thinkact.cli.common import UsageError
from thinkact.eval.agents import RUN_OPTIONS
from thinkact.eval.store import EvalStore
from thinkact.eval.sweep import parse_sweeps, sweep_report


def plan_sweep(store: EvalStore, base: dict[str, Any], raw: list[str], new_id: Any) -> str:
    """Create the sweep's evals from ``base`` (a planned eval's spec); returns the sweep id."""
    try:
        sweeps = parse_sweeps(raw)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sweep_id = "sw-" + new_id()
    for key, values in sweeps:
        if key != "heavy" and key not in RUN_OPTIONS:
            raise UsageError(f"cannot sweep {key!r}: use heavy or a run option "
                             f"({', '.join(sorted(RUN_OPTIONS))})")
        if key == "heavy" and not all(isinstance(v, int) and v >= 1 for v in values):
            raise UsageError("--sweep heavy takes whole numbers >= 1")
        tag = {"id": sweep_id, "key": key, "values": values}
        if key == "heavy" and base.get("aggregate") != "reflect":  # vote: reuse samples
            spec = {**base, "heavy": None, "epochs": max(values), "sweep": {**tag,
                                                                            "reuse": True}}
            store.create("ev-" + new_id(), base["suite"], spec)
            continue
        for value in values:
            spec = {**base, "run": {**base["run"]}, "sweep": {**tag, "value": value}}
            if key == "heavy":
                spec["heavy"] = value
            else:
                spec["run"][key] = value
            store.create("ev-" + new_id(), base["suite"], spec)
    return sweep_id


def print_sweep(store: EvalStore, sweep_id: str, json_out: bool, chart: Path | None) -> None:
    report = sweep_report(store, sweep_id)
    points, suite = report["points"], report["suite"]
    if chart is not None:
        from thinkact.eval.charts import sweep_chart

        for key, pts in points.items():
            path = chart if len(points) == 1 else chart.with_name(
                f"{chart.stem}-{key}{chart.suffix}")
            sweep_chart(key, pts, f"{Path(suite).name}: accuracy vs {key}", path)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    out = Console()
    for key, pts in points.items():
        table = Table(key, "n", "accuracy", "95% CI", "mean tokens",
                      title=f"{sweep_id}: {suite}")
        for p in pts:
            table.add_row(str(p["value"]), str(p["n"]), f"{p['accuracy']:.1%}",
                          f"[{p['ci95'][0]:.1%}, {p['ci95'][1]:.1%}]",
                          f"{p['mean_tokens']:.0f}")
        out.print(table)
        if key == "heavy" and pts and "eval" not in pts[0]:
            out.print("heavy N: vote over N of the same max(N) trajectories per item, "
                      "averaged over N-subsets", highlight=False)
