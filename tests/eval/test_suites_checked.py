"""Checker proofs for the packaged suites: answers from the ground truth score 100% through
the real runner, wrong answers 0% (tiny, reasoning; humaneval in test_humaneval)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from support.eval_kit import answering, evaluate
from thinkact.eval import Item, load_suite
from thinkact.eval.suites.reasoning import final_line
from thinkact.messages import Message

pytest.importorskip("reasoning_gym", reason="the eval extra is not installed")


def says(text: str) -> Message:
    return Message(role="assistant", content=text)


def test_tiny_is_the_held_out_families(tmp_path: Path) -> None:
    suite = load_suite("tiny", {"n": "12"})
    assert {i.category for i in suite.items()} == {"arithmetic", "count", "length", "sort",
                                                   "sum", "reverse"}
    assert all(i.tools == ("python",) for i in suite.items())
    assert load_suite("tiny", {"n": "12"}).items() == suite.items()  # seeded
    right = evaluate(suite, answering(suite, lambda i, _: says(f"It is {i.target}.")),
                     tmp_path / "a")
    wrong = evaluate(suite, answering(suite, lambda i, _: says("I cannot tell.")),
                     tmp_path / "b")
    assert (right["accuracy"], wrong["accuracy"]) == (1.0, 0.0)
    with pytest.raises(ValueError, match="unknown tiny families"):
        load_suite("tiny", {"families": "poetry"})


ANSWERED = ("basic_arithmetic", "chain_sum", "gsm_symbolic", "countdown")


def test_reasoning_gym_scores_its_own_answers(tmp_path: Path) -> None:
    suite = load_suite("reasoning", {"families": ",".join(ANSWERED), "n": "5", "seed": "3"})
    assert len(suite.items()) == 20 and suite.source.startswith("reasoning-gym 0.")

    def right(item: Item, _: Sequence[Message]) -> Message:
        return says(f"Let me work it out.\nSo the answer is:\n{item.target}")

    assert evaluate(suite, answering(suite, right), tmp_path / "a")["accuracy"] == 1.0
    wrong = evaluate(suite, answering(suite, lambda i, _: says("<answer>no</answer>")),
                     tmp_path / "b")
    assert wrong["accuracy"] == 0.0
    logic = load_suite("reasoning", {"families": "propositional_logic", "n": "3"})
    none = evaluate(logic, answering(logic, lambda i, _: says("P")), tmp_path / "c")
    assert none["accuracy"] == 0.0  # no single right answer to script; wrong ones fail
    assert load_suite("reasoning", {"families": "chain_sum", "n": "3"}).items() == \
        load_suite("reasoning", {"families": "chain_sum", "n": "3"}).items()


def test_the_scored_part_of_an_answer() -> None:
    assert final_line("thinking\n\n 42 \n") == "42"
    assert final_line("x <answer> 7 </answer> then <answer>8</answer> bye") == "8"
    assert final_line("") == ""
