"""A user's JSONL suite: parsed with clear errors, and its checkers proven through the real
runner: a model answering the targets scores 100%, one answering wrongly 0%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.eval_kit import answering, evaluate
from thinkact.eval import Item, Score, load_suite
from thinkact.messages import Message

LINES = [
    {"input": "What is 6*7?", "target": 42, "scorer": "number"},
    {"input": "Name the capital of France.", "target": "Paris", "category": "geo"},
    {"input": "Spell cat backwards.", "target": "tac", "scorer": "contains"},
    {"input": "Give a date.", "target": r"^\d{4}-\d\d-\d\d$", "scorer": "regex"},
    {"input": "Anything even.", "target": 0, "scorer": "tests.eval.test_jsonl_suite:even"},
]


def even(answer: str | None, target: object) -> Score:
    return Score(float(answer is not None and int(answer) % 2 == 0))


RIGHT = {"number": "The result is 42.", "exact": "paris", "contains": "It is tac",
         "regex": "2024-05-01", "tests.eval.test_jsonl_suite:even": "8"}
WRONG = {"number": "43", "exact": "Paris is the answer", "contains": "cat",
         "regex": "May 1", "tests.eval.test_jsonl_suite:even": "7"}


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def reply_from(table: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda item, _msgs: Message(role="assistant", content=table[item.meta["scorer"]])


def test_right_answers_score_100_and_wrong_ones_0(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path / "mine.jsonl", LINES)))
    right = evaluate(suite, answering(suite, reply_from(RIGHT)), tmp_path / "a")
    assert (right["n"], right["accuracy"]) == (5, 1.0)
    assert set(right["categories"]) == {"all", "geo"}
    wrong = evaluate(suite, answering(suite, reply_from(WRONG)), tmp_path / "b")
    assert wrong["accuracy"] == 0.0 and wrong["failures"] == {"failed": 5}


def test_items_take_ids_categories_and_tools(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path / "s.jsonl", [
        {"id": "x", "input": "a", "target": 1, "tools": "python,files"},
        {"input": "b", "target": 2, "tools": []}])))
    assert [(i.id, i.tools) for i in suite.items()] == [("x", ("python", "files")), ("2", ())]
    assert isinstance(suite.items()[0], Item)


@pytest.mark.parametrize(("line", "error"), [
    ("not json", "s.jsonl:1: not JSON"),
    ('{"input": "a"}', "needs an object with 'input' and 'target'"),
    ('{"input": "a", "target": 1, "scorer": "fuzzy"}', "unknown scorer 'fuzzy'"),
    ('{"input": "a", "target": 1, "scorer": "nowhere.mod:fn"}', "cannot load scorer"),
    ('{"input": "a", "target": 1, "extra": 2}', "unknown keys ['extra']"),
    ('{"input": "a", "target": 1, "tools": 3}', "'tools' must be a list"),
])
def test_bad_lines_are_named(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("(", r"\(")):
        load_suite(str(path))


def test_unknown_suite_is_named() -> None:
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_heavy_items_vote_over_their_trajectories(tmp_path: Path) -> None:
    suite = load_suite(str(write(tmp_path / "h.jsonl", LINES[:2])))
    seen: dict[str, int] = {}

    def reply(item: Item, _msgs: object) -> Message:  # trajectory 2 of 3 is wrong
        seen[item.id] = seen.get(item.id, 0) + 1
        good = RIGHT[item.meta["scorer"]]
        return Message(role="assistant", content="wrong" if seen[item.id] == 2 else good)

    report = evaluate(suite, answering(suite, reply), tmp_path, heavy=3)
    assert report["accuracy"] == 1.0 and seen == {"1": 3, "2": 3}
    assert report["mean"]["steps"] == 3.0  # the trajectories' steps, summed per item
