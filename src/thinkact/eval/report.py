"""What an eval's rows add up to: accuracy with a 95% Wilson interval (overall and per
category), pass@k and majority-of-k over epochs, mean costs, failures by kind; and the paired
comparison of two evals over the items they share."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from thinkact.eval.stats import majority, mcnemar_exact, mean_interval, pass_at_k, wilson
from thinkact.eval.store import Result

METRICS = ("steps", "tool_calls", "tokens", "reasoning_tokens", "wall_s", "cost_usd")


def _accuracy(rows: Sequence[Result]) -> dict[str, Any]:
    passed = sum(r.outcome == "passed" for r in rows)
    low, high = wilson(passed, len(rows))
    out: dict[str, Any] = {"n": len(rows), "passed": passed,
                           "accuracy": passed / len(rows) if rows else 0.0, "ci95": [low, high]}
    marks = _marks(rows)
    if marks:
        out["marks"] = marks
    return out


def _marks(rows: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """Each mark's mean over the rows that carry it, with its 95% Wilson interval."""
    values: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, v in (json.loads(r.marks) if r.marks else {}).items():
            values[name].append(float(v))
    out = {}
    for name, vs in sorted(values.items()):
        low, high = wilson(sum(vs), len(vs))
        out[name] = {"n": len(vs), "mean": sum(vs) / len(vs), "ci95": [low, high]}
    return out


def _metric(r: Result, name: str) -> float:
    return float(r.tokens if name == "tokens" else getattr(r, name) or 0)


def summarize(rows: Sequence[Result]) -> dict[str, Any]:
    """The report of one eval's finished rows (running ones are counted, not scored)."""
    done = [r for r in rows if r.status == "done"]
    by_cat: dict[str, list[Result]] = defaultdict(list)
    for r in done:
        by_cat[r.category].append(r)
    out: dict[str, Any] = {
        **_accuracy(done), "unfinished": len(rows) - len(done),
        "categories": {c: _accuracy(rs) for c, rs in sorted(by_cat.items())},
        "mean": {m: (sum(_metric(r, m) for r in done) / len(done) if done else 0.0)
                 for m in METRICS},
        "total": {m: sum(_metric(r, m) for r in done) for m in ("tokens", "cost_usd")},
        "failures": dict(Counter(r.outcome for r in done if r.outcome != "passed")),
    }
    out.update(_over_epochs(done))
    return out


def _by_item(rows: Sequence[Result]) -> dict[str, list[Result]]:
    items: dict[str, list[Result]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.epoch):
        items[r.item_id].append(r)
    return items


def _over_epochs(done: Sequence[Result]) -> dict[str, Any]:
    """pass@k and majority-of-k over the epochs every item has (k = 1, 2, 4, ..., K)."""
    items = _by_item(done)
    k_max = min((len(v) for v in items.values()), default=0)
    if k_max < 2:
        return {}
    ks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k <= k_max} | {k_max})
    at_k, maj = {}, {}
    for k in ks:
        values = [pass_at_k(len(v), sum(r.outcome == "passed" for r in v), k)
                  for v in items.values()]
        at_k[str(k)] = sum(values) / len(values)
        votes = [majority([r.answer for r in v[:k]], [r.outcome == "passed" for r in v[:k]])
                 for v in items.values()]
        low, high = wilson(sum(votes), len(votes))
        maj[str(k)] = {"accuracy": sum(votes) / len(votes), "ci95": [low, high]}
    return {"epochs": k_max, "pass_at_k": at_k, "majority_at_k": maj}


def item_scores(rows: Sequence[Result]) -> dict[str, float]:
    """Each item's solved fraction over its finished epochs."""
    return {item: sum(r.outcome == "passed" for r in v) / len(v)
            for item, v in _by_item([r for r in rows if r.status == "done"]).items()}


def compare(a: Sequence[Result], b: Sequence[Result]) -> dict[str, Any]:
    """A minus B, paired over shared items: mean difference with a 95% interval, McNemar's
    exact test on items solved (majority of epochs) by one side only, and the flips."""
    sa, sb = item_scores(a), item_scores(b)
    shared = sorted(set(sa) & set(sb))
    diffs = [sa[i] - sb[i] for i in shared]
    mean, low, high = mean_interval(diffs)
    only_a = [i for i in shared if sa[i] >= 0.5 > sb[i]]
    only_b = [i for i in shared if sb[i] >= 0.5 > sa[i]]
    return {"items": len(shared), "only_in_a": len(set(sa) - set(sb)),
            "only_in_b": len(set(sb) - set(sa)),
            "accuracy_a": sum(sa[i] for i in shared) / len(shared) if shared else 0.0,
            "accuracy_b": sum(sb[i] for i in shared) / len(shared) if shared else 0.0,
            "difference": mean, "ci95": [low, high],
            "mcnemar_p": mcnemar_exact(len(only_a), len(only_b)),
            "a_solved_b_not": only_a, "b_solved_a_not": only_b}


def to_csv(rows: Sequence[Result]) -> str:
    buf = io.StringIO()
    dicts = [asdict(r) for r in rows]
    if dicts:
        writer = csv.DictWriter(buf, fieldnames=list(dicts[0]))
        writer.writeheader()
        writer.writerows(dicts)
    return buf.getvalue()
