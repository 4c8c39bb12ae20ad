"""Training curves as PNG: loss and the largest attention logit against the step.

``plot_curves(log, path)`` draws one run; ``plot_runs({label: log}, path)`` draws runs side by
side (the QK-Clip comparison). matplotlib is imported here only, with the file-only backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Log = Sequence[Mapping[str, Any]]


def series(log: Log, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the log entries that have ``key``."""
    rows = [(int(e["step"]), float(e[key])) for e in log if key in e and "step" in e]
    return [s for s, _ in rows], [v for _, v in rows]


def plot_runs(runs: Mapping[str, Log], path: str | Path, tau: float | None = None) -> Path:
    """Loss (left) and max attention logit (right) of each run; ``tau``: a line at QK-Clip's
    threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_logit) = plt.subplots(1, 2, figsize=(10, 4))
    for label, log in runs.items():
        ax_loss.plot(*series(log, "loss"), label=label)
        ax_logit.plot(*series(log, "max_logit"), label=label)
    if tau is not None:
        ax_logit.axhline(tau, color="grey", linestyle="--", linewidth=1, label=f"tau = {tau:g}")
    ax_loss.set(xlabel="step", ylabel="loss (assistant tokens)", title="loss")
    ax_logit.set(xlabel="step", ylabel="max attention logit", title="max attention logit")
    for ax in (ax_loss, ax_logit):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_curves(log: Log, path: str | Path) -> Path:
    return plot_runs({"train": log}, path)
