"""PNG charts of reports (matplotlib, headless): accuracy per category with its interval,
and a sweep's accuracy against a setting and against tokens spent, with interval bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    return plt


def _errors(points: Sequence[dict[str, Any]]) -> list[list[float]]:
    return [[max(0.0, p["accuracy"] - p["ci95"][0]) for p in points],  # (rounding at 0%)
            [max(0.0, p["ci95"][1] - p["accuracy"]) for p in points]]


def category_chart(report: dict[str, Any], title: str, path: Path) -> Path:
    """Bars: accuracy per category (and overall), whiskers: the 95% Wilson interval."""
    plt = _pyplot()
    cats = report["categories"]
    names = [*cats, "overall"]
    points = [*cats.values(), report]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 2), 3.6))
    ax.bar(names, [p["accuracy"] for p in points], yerr=_errors(points), capsize=4,
           color=["#4c72b0"] * len(cats) + ["#dd8452"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_chart(setting: str, points: Sequence[dict[str, Any]], title: str, path: Path
                ) -> Path:
    """Two panels: accuracy against the setting's values and against mean tokens per item;
    the band is each point's 95% interval."""
    plt = _pyplot()
    xs = [p["value"] for p in points]
    acc = [p["accuracy"] for p in points]
    low = [p["ci95"][0] for p in points]
    high = [p["ci95"][1] for p in points]
    tokens = [p["mean_tokens"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(xs, acc, marker="o")
    left.fill_between(xs, low, high, alpha=0.2)
    left.set_xlabel(setting)
    # against tokens the points need not be in setting order: whiskers, in token order
    order = sorted(range(len(points)), key=lambda i: tokens[i])
    right.errorbar([tokens[i] for i in order], [acc[i] for i in order],
                   yerr=_errors([points[i] for i in order]), marker="o", capsize=4)
    for i in order:
        right.annotate(f"{setting}={xs[i]}", (tokens[i], acc[i]), textcoords="offset points",
                       xytext=(4, 4), fontsize=7)
    right.set_xlabel("mean tokens per item")
    for ax in (left, right):
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy (95% CI)")
    if all(isinstance(v, int | float) and v > 0 for v in xs) and len(set(xs)) > 1 and \
            max(xs) / min(xs) >= 8:
        from matplotlib.ticker import ScalarFormatter

        left.set_xscale("log", base=2)
        left.xaxis.set_major_formatter(ScalarFormatter())  # 8, not 2^3
    left.set_xticks(xs)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
