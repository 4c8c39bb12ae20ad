"""What the UI's evals page reads: the evals of an eval database (``thinkact eval``), one
eval's report (``thinkact.eval.report.summarize``) with its rows, and the sweeps
(``thinkact eval --sweep``) with their points; each row names the run it recorded, which the
trace pages open."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from thinkact.eval.report import summarize
from thinkact.eval.store import EvalStore
from thinkact.eval.sweep import sweep_report


def list_evals(path: Path) -> list[dict[str, Any]]:
    """Newest first, each with its accuracy so far (none when the database does not exist)."""
    if not path.exists():
        return []
    with EvalStore(path) as store:
        out = []
        for eval_id, suite, created in store.evals(200):
            report = summarize(store.results(eval_id))
            tag = store.spec(eval_id).get("sweep")
            out.append({"eval_id": eval_id, "suite": suite, "created_at": created,
                        "n": report["n"], "passed": report["passed"],
                        "accuracy": report["accuracy"], "ci95": report["ci95"],
                        "unfinished": report["unfinished"],
                        "sweep": {k: tag[k] for k in ("id", "key", "value") if k in tag}
                        if tag else None})
        return out


def sweep_of(path: Path, sweep_id: str) -> dict[str, Any]:
    """A sweep's points per swept setting, as ``thinkact eval show SWEEP --json`` prints
    them; ``KeyError`` if there is no such sweep."""
    if not path.exists():
        raise KeyError(sweep_id)
    with EvalStore(path) as store:
        return sweep_report(store, sweep_id)


def eval_report(path: Path, eval_id: str) -> dict[str, Any]:
    """The report and the rows of one eval; ``KeyError`` if there is no such eval."""
    if not path.exists():
        raise KeyError(eval_id)
    with EvalStore(path) as store:
        spec = store.spec(eval_id)
        rows = store.results(eval_id)
        return {"eval_id": eval_id, "suite": store.suite_of(eval_id), "spec": spec,
                **summarize(rows), "rows": [{**asdict(r), "tokens": r.tokens} for r in rows]}
