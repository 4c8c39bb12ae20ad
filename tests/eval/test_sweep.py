"""Sweeps: the heavy N-curve is the vote over N of the same trajectories, averaged over
N-subsets; parsing names bad input."""

from __future__ import annotations

import pytest

from thinkact.eval.store import Result
from thinkact.eval.sweep import heavy_curve, parse_sweeps


def row(item: str, epoch: int, answer: str | None, passed: bool, tokens: int = 10) -> Result:
    return Result("ev", item, epoch, "all", f"{item}-{epoch}", "done",
                  "passed" if passed else "failed", float(passed), answer,
                  prompt_tokens=tokens, completion_tokens=0)


def test_heavy_curve_votes_over_subsets_of_the_trajectories() -> None:
    # item a: right 1 of 4 -> N=1: 1/4; N=2: subsets with the right one and a tie broken
    # to it when it comes first: (0,1) (0,2) (0,3) of 6 -> 3/6; N=4: the wrong '9' wins 3:1
    a = [row("a", 0, "7", True), row("a", 1, "9", False), row("a", 2, "9", False),
         row("a", 3, "9", False)]
    b = [row("b", e, "x", True, tokens=20) for e in range(4)]  # always right
    points = heavy_curve([1, 2, 4], [*a, *b])
    acc = {p["value"]: p["accuracy"] for p in points}
    assert acc == {1: pytest.approx((1 / 4 + 1) / 2), 2: pytest.approx((3 / 6 + 1) / 2),
                   4: pytest.approx(1 / 2)}
    tokens = {p["value"]: p["mean_tokens"] for p in points}
    assert tokens == {1: pytest.approx(15), 2: pytest.approx(30), 4: pytest.approx(60)}
    assert all(p["ci95"][0] <= p["accuracy"] <= p["ci95"][1] for p in points)


def test_parse_sweeps() -> None:
    assert parse_sweeps(["heavy=1,2,4", "max-tool-calls=1, 8", "temperature=0.5"]) == [
        ("heavy", [1, 2, 4]), ("max_tool_calls", [1, 8]), ("temperature", [0.5])]
    with pytest.raises(ValueError, match="SETTING=V1,V2"):
        parse_sweeps(["heavy"])
