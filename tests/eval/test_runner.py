"""The eval runner keeps going when one item's scorer crashes: that row is an error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support.eval_kit import answering, evaluate
from thinkact.eval import EvalStore, Item
from thinkact.eval.suite import Attempt, ListSuite, Score
from thinkact.messages import Message


@dataclass
class Fragile(ListSuite):
    """Scores an answer "ok" as passed and crashes on any other."""

    def score(self, item: Item, attempt: Attempt) -> Score:
        if attempt.answer != "ok":
            raise KeyError(f"no verdict for {attempt.answer!r}")
        return Score(1.0)


def test_a_crashing_scorer_makes_an_error_row_and_the_rest_are_scored(tmp_path: Path) -> None:
    suite = Fragile([Item(id=f"q{n}", input=f"question {n}", target=None) for n in range(3)],
                    "fragile")
    backend = answering(suite, lambda item, msgs: Message(
        role="assistant", content="bad" if item.id == "q1" else "ok"))
    report = evaluate(suite, backend, tmp_path, concurrency=3)
    assert report["n"] == 3
    with EvalStore(tmp_path / "evals.sqlite") as store:
        rows = {r.item_id: r for r in store.results("ev-test")}
    assert {k: (r.status, r.outcome) for k, r in rows.items()} == {
        "q0": ("done", "passed"), "q1": ("done", "error"), "q2": ("done", "passed")}
    assert rows["q1"].detail == "scoring failed: KeyError: \"no verdict for 'bad'\""
