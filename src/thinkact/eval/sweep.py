"""Test-time-scaling sweeps: accuracy against a setting and against tokens spent.

A sweep runs one eval per value of one setting (``max_tool_calls``, ``thinking_tokens``,
any run option), all else equal. ``heavy`` with vote aggregation reuses work instead: one eval
samples max(N) independent trajectories per item (as epochs), and the point for N is the
vote over N of them, averaged over every N-subset (a heavy run of N *is* a vote over N such
trajectories), so N = 1, 2, 4, 8 cost the trajectories of N = 8 alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from thinkact.eval.report import summarize
from thinkact.eval.stats import majority, wilson
from thinkact.eval.store import EvalStore, Result

MAX_SUBSETS = 256  # beyond this many N-subsets per item, the first ones (in order) are used


def parse_sweeps(raw: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["heavy=1,2,4", "max_tool_calls=1,4"]`` -> ``[("heavy", [1, 2, 4]), ...]``."""
    out = []
    for text in raw:
        key, sep, values = text.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise ValueError(f"--sweep takes SETTING=V1,V2,..., not {text!r}")
        out.append((key, [_number(v.strip()) for v in values.split(",") if v.strip()]))
    return out


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def point(value: Any, rows: Sequence[Result]) -> dict[str, Any]:
    """One sweep point from one eval's rows."""
    report = summarize(rows)
    return {"value": value, "n": report["n"], "accuracy": report["accuracy"],
            "ci95": report["ci95"], "mean_tokens": report["mean"]["tokens"],
            "mean_tool_calls": report["mean"]["tool_calls"]}


def heavy_curve(ns: Sequence[int], rows: Sequence[Result]) -> list[dict[str, Any]]:
    """The vote-of-N points from max(N) trajectories per item (epochs of one eval)."""
    by_item: dict[str, list[Result]] = defaultdict(list)
    for r in sorted((r for r in rows if r.status == "done"), key=lambda r: r.epoch):
        by_item[r.item_id].append(r)
    points = []
    for n in ns:
        per_item, tokens = [], []
        for samples in by_item.values():
            if len(samples) < n:
                continue
            subsets = list(_subsets(len(samples), n))
            votes = [majority([samples[i].answer for i in s],
                              [samples[i].outcome == "passed" for i in s]) for s in subsets]
            per_item.append(sum(votes) / len(votes))
            tokens.append(sum(samples[i].tokens for s in subsets for i in s) / len(subsets))
        solved = sum(per_item)
        low, high = wilson(solved, len(per_item))
        points.append({"value": n, "n": len(per_item),
                       "accuracy": solved / len(per_item) if per_item else 0.0,
                       "ci95": [low, high],
                       "mean_tokens": sum(tokens) / len(tokens) if tokens else 0.0})
    return points


def _subsets(k: int, n: int) -> Any:
    for count, subset in enumerate(combinations(range(k), n)):
        if count >= MAX_SUBSETS:
            return
        yield subset


def sweep_points(store: EvalStore, sweep_id: str) -> dict[str, list[dict[str, Any]]]:
    """Each swept setting's points, in value order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for eval_id in store.sweep_members(sweep_id):
        tag = store.spec(eval_id)["sweep"]
        rows = store.results(eval_id)
        if tag.get("reuse"):
            out[tag["key"]] = heavy_curve(tag["values"], rows)
        else:
            out.setdefault(tag["key"], []).append({**point(tag["value"], rows),
                                                   "eval": eval_id})
    return out


def sweep_report(store: EvalStore, sweep_id: str) -> dict[str, Any]:
    """The sweep's id, suite and points (``thinkact eval show SWEEP --json``); ``KeyError``
    if there is no such sweep."""
    members = store.sweep_members(sweep_id)
    if not members:
        raise KeyError(sweep_id)
    return {"sweep": sweep_id, "suite": store.spec(members[0])["suite"],
            "points": sweep_points(store, sweep_id)}
