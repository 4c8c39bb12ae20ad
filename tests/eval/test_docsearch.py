"""The docsearch questions over the real Python docs: right answers, stable generation, and
a scorer that gives full marks to reading the right page and none to a wrong one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from support.docs_agent import pages_of, reader_policy
from support.docs_reader import read_answer
from thinkact.agent import Agent
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval.suites.docsearch import (
    KINDS,
    Question,
    generate,
    normalise,
    parse_reply,
    score,
    split,
)
from thinkact.eval.suites.pydocs import PyDocs, corpus_tools
from thinkact.tools.builtin.search.index import doc_id_for


@pytest.fixture(scope="module")
def questions(pydocs: PyDocs) -> list[Question]:
    return generate(pydocs, seed=0)


def test_every_expected_answer_is_read_from_its_own_page(pydocs: PyDocs,
                                                         questions: list[Question]) -> None:
    assert len(questions) >= 300
    assert len({q.id for q in questions}) == len(questions)
    assert set(Counter(q.kind for q in questions)) == set(KINDS)
    texts = {p: pydocs.text(p) for q in questions for p, _ in pages_of(q)}
    wrong = [(q.id, q.answer, read_answer(q, texts)) for q in questions
             if read_answer(q, texts) != q.answer]
    assert wrong == []
    for q in questions:  # the reply that reader gives scores full marks
        cites = " ".join(doc_id_for(p) for p in q.sources)
        assert score(q, f"Answer: {q.answer}\nSources: {cites}", pydocs).score == 1.0, q.id


def test_generation_is_seeded_and_the_held_out_split_is_stable(pydocs: PyDocs,
                                                              questions: list[Question]) -> None:
    assert generate(pydocs, seed=0) == questions
    other = generate(pydocs, seed=1)
    assert [q.id for q in other] != [q.id for q in questions]
    held_out = split(questions, "test")
    assert 0.15 < len(held_out) / len(questions) < 0.35
    assert {q.id for q in held_out}.isdisjoint(q.id for q in split(questions, "dev"))
    both = {q.id for q in questions} & {q.id for q in other}
    assert {i for i in both if i in {q.id for q in held_out}} == {
        q.id for q in split(other, "test") if q.id in both}
    with pytest.raises(ValueError, match="split must be"):
        split(questions, "train")


def _sample(questions: list[Question], per_kind: int = 2) -> list[Question]:
    seen: Counter[str] = Counter()
    out = []
    for q in split(questions, "dev"):
        if seen[q.kind] < per_kind:
            seen[q.kind] += 1
            out.append(q)
    return out


async def _run(docs: PyDocs, sample: list[Question], policy: object,
               workspace: Path) -> list[float]:
    assert docs.index is not None
    agent = Agent(ScriptedBackend(policy), tools=corpus_tools(docs, workspace),  # type: ignore[arg-type]
                  workspace=workspace)
    scores = []
    for q in sample:
        result = await agent.arun(q.prompt)
        assert result.status == "completed", result.reason
        assert result.tool_calls >= 1 + 2 * len(pages_of(q))  # search, then find + read
        scores.append(score(q, result.answer or "", docs).score)
    return scores


async def test_an_agent_reading_the_right_pages_scores_full(pydocs: PyDocs,
                                                            questions: list[Question],
                                                            tmp_path: Path) -> None:
    sample = _sample(questions)
    assert {q.kind for q in sample} == set(KINDS)
    assert await _run(pydocs, sample, reader_policy(sample), tmp_path) == [1.0] * len(sample)


async def test_an_agent_answering_from_wrong_pages_scores_nothing(pydocs: PyDocs,
                                                                  questions: list[Question],
                                                                  tmp_path: Path) -> None:
    sample = _sample(questions)

    def elsewhere(q: Question) -> Question:  # same kind, other answer, pages without q's subject
        return next(o for o in questions if o.kind == q.kind and o.answer != q.answer
                    and not any(pydocs.contains(p, s) for p in o.sources for s in q.subjects))

    assert await _run(pydocs, sample, reader_policy(sample, elsewhere), tmp_path) == (
        [0.0] * len(sample))


def test_a_right_answer_needs_a_cited_page_that_states_it(pydocs: PyDocs,
                                                        questions: list[Question]) -> None:
    q = next(q for q in questions if q.kind == "version")
    good = score(q, f"It was added in {q.answer}.\nAnswer: {q.answer}\n"
                    f"Sources: file://{pydocs.root / q.sources[0]}", pydocs)
    assert (good.score, good.correct, good.cited) == (1.0, True, True)
    other = next(p for p in sorted(pydocs.pages) if p.startswith("library/")
                 and not pydocs.contains(p, q.subjects[0]))
    uncited = score(q, f"Answer: {q.answer}", pydocs)
    wrong_page = score(q, f"Answer: {q.answer}\nSources: http://127.0.0.1:8000/{other}", pydocs)
    dead = score(q, f"Answer: {q.answer}\nSources: library/no-such-page.html", pydocs)
    for s in (uncited, wrong_page, dead):
        assert (s.score, s.correct, s.cited) == (0.0, True, False), s.detail
    assert "no cited page states" in wrong_page.detail


def test_replies_are_parsed_and_normalised() -> None:
    answer, cites = parse_reply(
        "I searched.\n**Answer:** `functools` \nSources: 3f2a9c01b7e4#2, "
        "http://127.0.0.1:9/library/functools.html#functools.cache and library/os.html")
    assert answer == "`functools`"
    assert cites == ["3f2a9c01b7e4#2", "http://127.0.0.1:9/library/functools.html#functools.cache",
                     "library/os.html"]
    assert parse_reply("just 3.9")[0] == "just 3.9"
    assert parse_reply('Answer: _CFG["height"]')[0] == '_CFG["height"]'  # a leading _ stays
    assert normalise("Python version 3.9.") == normalise("3.9") == "3.9"
    assert normalise("'strict'") == "strict"
    assert normalise("`os.path.join()`") == "os.path.join"
