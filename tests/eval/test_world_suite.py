"""The ``world`` suite through the real eval runner and the real tools: a model that plays
each held-out task's ideal trajectory scores 100% (every call runs for real and returns what
it returned when the trajectory was built), wrong answers and refusals score 0%."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import pytest

from support.eval_kit import answering, evaluate
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import EvalStore, Item, load_suite
from thinkact.eval.suites.world import HELD_OUT_SEED, WorldSuite
from thinkact.messages import Message
from thinkact.traces.sqlite import SQLiteTraceStore
from thinkact.train.agent_eval import evaluate_backend
from thinkact.train.families import FAMILIES


@pytest.fixture(scope="module")
def suite() -> WorldSuite:
    loaded = load_suite("world", {"per_family": "2"})
    assert isinstance(loaded, WorldSuite)
    return loaded


def _ideal(suite: WorldSuite) -> ScriptedBackend:
    def reply(item: Item, messages: Sequence[Message]) -> Message:
        steps = [m for m in suite.tasks[item.id].messages if m.role == "assistant"]
        return steps[sum(1 for m in messages if m.role == "assistant")]

    return answering(suite, reply)


def test_the_items_are_the_held_out_draw_of_every_family(suite: WorldSuite) -> None:
    items = suite.items()
    assert [i.category for i in items[:len(FAMILIES)]] == list(FAMILIES)  # in turn
    assert len(items) == 2 * len(FAMILIES) and len({i.id for i in items}) == len(items)
    assert all(i.tools == ("python", "files") for i in items)
    assert {i.id: i.meta["ideal_calls"] for i in items} == {
        k: tr.calls for k, tr in suite.tasks.items()}
    assert max(i.meta["ideal_calls"] for i in items if i.category == "chain") >= 4
    assert inspect.signature(evaluate_backend).parameters["seed"].default == HELD_OUT_SEED
    again = load_suite("world", {"n": "3", "families": "chain,decline"})
    assert [i.id for i in again.items()] == ["chain-0", "decline-0", "chain-1"]
    assert again.items()[0] == next(i for i in items if i.id == "chain-0")  # seeded
    by_calls = load_suite("world", {"n": "2", "families": "chain", "by": "calls"}).items()
    assert [i.category for i in by_calls] == [f"chain/{i.meta['ideal_calls']}" for i in items
                                              if i.category == "chain"]
    with pytest.raises(ValueError, match="unknown world families"):
        load_suite("world", {"families": "poetry"})
    combo = load_suite("world", {"n": "2", "families": "facts", "split": "combo"})
    assert "split combo" in combo.source
    assert {i.input for i in combo.items()}.isdisjoint(i.input for i in items)
    with pytest.raises(ValueError, match="split must be test or combo"):
        load_suite("world", {"split": "train"})


def test_the_ideal_trajectories_score_full_marks_with_the_real_tools(
        suite: WorldSuite, tmp_path: Path) -> None:
    report = evaluate(suite, _ideal(suite), tmp_path)
    assert report["accuracy"] == 1.0, report
    assert set(report["categories"]) == set(FAMILIES)
    assert report["categories"]["decline"]["marks"]["declined"]["mean"] == 1.0
    with EvalStore(tmp_path / "evals.sqlite") as store, \
            SQLiteTraceStore(tmp_path / "t.sqlite") as trace:
        for row in store.results("ev-test"):
            ran = [r.content for r in trace.load_state(row.run_id).results]
            built = [m.content for m in suite.tasks[row.item_id].messages if m.role == "tool"]
            assert ran == built, row.item_id  # the same world, the same tool outputs


def test_heavy_trajectories_each_get_the_world_tools(suite: WorldSuite,
                                                     tmp_path: Path) -> None:
    items = [i for i in suite.items() if i.category in ("files", "search")][:2]
    report = evaluate(suite, _ideal(suite), tmp_path, items=items, heavy=2)
    assert (report["n"], report["accuracy"]) == (2, 1.0), report


def test_wrong_answers_and_refusals_score_zero(suite: WorldSuite, tmp_path: Path) -> None:
    wrong = answering(suite, lambda i, _: Message(role="assistant", content="Unclear."))
    assert evaluate(suite, wrong, tmp_path / "a")["accuracy"] == 0.0
    refuse = answering(suite, lambda i, _: Message(
        role="assistant", content="I can't do that: it is outside what I do."))
    report = evaluate(suite, refuse, tmp_path / "b")
    assert {c: v["accuracy"] for c, v in report["categories"].items()} == {
        f: float(f == "decline") for f in FAMILIES}
