"""The docsearch and docwriting suites through the real eval runner, with scripted models
that read (or write) as the docs say, and ones that do not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from support.docs_agent import reader_policy
from support.docs_guides import GUIDE, PAGE
from support.eval_kit import answering, evaluate
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import Item, load_suite
from thinkact.eval.suites import docsearch, docwriting
from thinkact.eval.suites.pydocs import PyDocs
from thinkact.messages import Message
from thinkact.recipes import load_recipe


def _sample(docs: PyDocs) -> list[docsearch.Question]:
    seen: Counter[str] = Counter()
    out = []
    for q in docsearch.split(docsearch.generate(docs, seed=0), "test"):
        if seen[q.kind] < 1:
            seen[q.kind] += 1
            out.append(q)
    return out


@pytest.mark.parametrize("right", [True, False])
def test_docsearch_through_the_eval_runner(pydocs: PyDocs, tmp_path: Path, right: bool) -> None:
    sample = _sample(pydocs)
    suite = docsearch.suite_of(pydocs, sample)
    assert [i.tools for i in suite.items()] == [()] * len(sample)  # only the corpus tools
    others = {q.id: next(o for o in sample if o.kind != q.kind) for q in sample}
    policy = reader_policy(sample, (lambda q: q) if right else (lambda q: others[q.id]))
    seen_prompts: list[str] = []

    def recording(messages: Sequence[Message]) -> Message:
        seen_prompts.append(str(messages[0].content))
        return policy(messages)

    report = evaluate(suite, ScriptedBackend(recording), tmp_path,  # the reader reads on
                      options={"recipe": "search", "max_tool_calls": 100, "max_steps": 100})
    assert report["n"] == len(sample) == len(report["categories"])
    assert report["accuracy"] == (1.0 if right else 0.0)
    assert set(seen_prompts) == {load_recipe("search").prompt}  # the recipe's system prompt


def _writes(item: Item, messages: Sequence[Message], guide: str) -> Message:
    from support.docs_agent import _call

    if not any(m.role == "tool" for m in messages):
        return _call(0, "files", action="write", path="guide.md", content=guide)
    return Message(role="assistant", content="Wrote guide.md.")


def test_docwriting_scores_the_guide_the_run_wrote(pydocs: PyDocs, tmp_path: Path) -> None:
    task = docwriting.WritingTask(id="guide:functools", module="functools", page=PAGE,
                                  functions=("cache",))
    suite = docwriting.suite_of(pydocs, [task])
    (item,) = suite.items()
    assert item.tools == ("files",)
    good = evaluate(suite, answering(suite, lambda i, m: _writes(i, m, GUIDE)), tmp_path / "a")
    assert good["accuracy"] == 1.0
    bad_guide = GUIDE.replace("| Added in ", "| Since ").replace("(maxsize=128", "(maxsize=64")
    bad = evaluate(suite, answering(suite, lambda i, m: _writes(i, m, bad_guide)),
                   tmp_path / "b", eval_id="ev-bad")
    assert bad["accuracy"] == 1.0  # 4 of 6 checks still pass: a pass is a score >= 0.5
    from thinkact.eval.suite import Attempt

    replayed = [Message.user(item.input),
                _writes(item, [], bad_guide),
                Message(role="tool", tool_call_id="functions.files:0", name="files",
                        content="created guide.md")]
    s = suite.score(item, Attempt("Wrote guide.md.", replayed))
    assert s.value == pytest.approx(4 / 6)
    assert "columns: missing column(s): Added in" in s.detail and "facts:" in s.detail


def test_suites_are_registered_and_check_their_options() -> None:
    with pytest.raises(ValueError, match="split must be 'dev' or 'test'"):
        load_suite("docsearch", {"split": "train"})
    with pytest.raises(ValueError, match="unknown question kinds"):
        load_suite("docsearch", {"kinds": "version,riddles"})
    with pytest.raises(ValueError, match=r"docwriting takes split, seed and n, not \['depth'\]"):
        load_suite("docwriting", {"depth": "2"})


def test_the_tool_budget_limits_what_a_reader_can_answer(pydocs: PyDocs, tmp_path: Path) -> None:
    sample = _sample(pydocs)
    suite = docsearch.suite_of(pydocs, sample)
    curve = [evaluate(suite, ScriptedBackend(reader_policy(sample)), tmp_path / str(b),
                      options={"recipe": "search", "max_tool_calls": b, "max_steps": 100},
                      eval_id=f"ev-{b}")
             for b in (2, 100)]
    assert [r["accuracy"] for r in curve] == [0.0, 1.0]  # 2 calls: search and find, no read
    assert curve[0]["mean"]["tool_calls"] == 2 < curve[1]["mean"]["tool_calls"]
