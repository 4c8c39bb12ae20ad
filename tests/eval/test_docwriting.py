"""The docwriting scorer on hand-written guides to functools: a correct one scores full, and
each planted fault costs exactly its own check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.docs_guides import GUIDE, PAGE
from thinkact.eval.suites.docwriting import (
    CHECKS,
    WritingTask,
    citations,
    document_from_messages,
    find_table,
    generate,
    score,
    score_text,
    split,
)
from thinkact.eval.suites.pydocs import PyDocs
from thinkact.messages import Message, ToolCall
from thinkact.tools.builtin.search.index import doc_id_for

TASK = WritingTask(id="guide:functools", module="functools", page=PAGE,
                   functions=("cache", "lru_cache", "cmp_to_key", "reduce", "wraps"))


def _score(tmp_path: Path, docs: PyDocs, text: str | None) -> tuple[float, set[str], dict]:
    if text is not None:
        (tmp_path / TASK.path).write_text(text)
    result = score(TASK, tmp_path, docs)
    return result.score, {c for c, ok in result.checks.items() if not ok}, result.detail


def test_a_correct_guide_scores_full(tmp_path: Path, pydocs_pages: PyDocs) -> None:
    assert _score(tmp_path, pydocs_pages, GUIDE) == (1.0, set(), {})


@pytest.mark.parametrize(("fault", "old", "new", "lost"), [
    ("fabricated signature", "lru_cache(maxsize=128, typed=False)`",
     "lru_cache(maxsize=256, typed=False)`", "facts"),
    ("wrong version", "| 3.9 |", "| 3.8 |", "facts"),
    ("dead citation", "## Notes\n", "## Notes\n\nSee [the HOWTO](library/functools-howto.html).\n",
     "citations"),
    ("function absent from the sources", "## Notes", "", "grounded"),
    ("missing column", "Added in | Source |\n|---|---|---|---|", "Source |\n|---|---|---|",
     "columns"),
])
def test_each_fault_loses_exactly_its_check(tmp_path: Path, pydocs_pages: PyDocs, fault: str,
                                           old: str, new: str, lost: str) -> None:
    if fault == "function absent from the sources":
        text = GUIDE.replace("\n\n## Notes", f"\n| `memoize` | `memoize(fn)` | 3.9 | "
                                             f"[docs]({PAGE}) |\n\n## Notes")
    elif fault == "missing column":
        text = GUIDE.replace(old, new)
        text = "\n".join(  # drop each row's third cell (the version)
            "|".join(c for i, c in enumerate(line.split("|")) if i != 3)
            if line.startswith("| `") else line for line in text.splitlines())
    else:
        assert old in GUIDE
        text = GUIDE.replace(old, new)
    total, failed, detail = _score(tmp_path, pydocs_pages, text)
    assert failed == {lost}, detail
    assert total == pytest.approx(1 - 1 / len(CHECKS))


def test_what_a_fault_is_reported_as(tmp_path: Path, pydocs_pages: PyDocs) -> None:
    _, _, detail = _score(tmp_path, pydocs_pages,
                          GUIDE.replace("maxsize=128, typed", "maxsize=256, typed"))
    assert "lru_cache" in detail["facts"] and "maxsize=128" in detail["facts"]
    _, _, detail = _score(tmp_path, pydocs_pages, GUIDE + "\n[x](http://127.0.0.1:8000/nope.html)")
    assert detail["citations"] == "dead: http://127.0.0.1:8000/nope.html"


def test_no_document_scores_nothing(tmp_path: Path, pydocs_pages: PyDocs) -> None:
    total, failed, detail = _score(tmp_path, pydocs_pages, None)
    assert (total, failed) == (0.0, set(CHECKS))
    assert detail == {"exists": "no document at guide.md"}


def test_a_guide_without_table_or_headings_keeps_only_what_it_has(tmp_path: Path,
                                                                 pydocs_pages: PyDocs) -> None:
    total, failed, _ = _score(tmp_path, pydocs_pages, f"functools is useful, see {PAGE}.\n")
    assert failed == {"structure", "columns", "facts", "grounded"}
    assert total == pytest.approx(2 / len(CHECKS))


def test_tables_and_citations_are_parsed(pydocs_pages: PyDocs) -> None:
    table = find_table("intro\n\n| A | B \\| C |\n| :-- | --: |\n| 1 | `x \\| y` |\n\nafter")
    assert table is not None
    assert (table.header, table.rows) == (["A", "B | C"], [["1", "`x | y`"]])
    found = citations(f"[a]({PAGE}#x) and <file:///x/y.html>, 3f2a9c01b7e4#2, [b](#local)")
    assert found == [f"{PAGE}#x", "file:///x/y.html", "3f2a9c01b7e4#2"]
    for ref in (f"{PAGE}#x", f"file://{pydocs_pages.root / PAGE}",
                f"http://127.0.0.1:8123/{PAGE}"):
        assert pydocs_pages.resolve(ref) == PAGE, ref


def test_tasks_are_seeded_modules_with_enough_functions(pydocs_pages: PyDocs) -> None:
    tasks = generate(pydocs_pages, seed=0)
    assert len(tasks) == 40 and len({t.module for t in tasks}) == 40
    assert generate(pydocs_pages, seed=0) == tasks != generate(pydocs_pages, seed=1)
    assert all(len(t.functions) >= 5 and t.page in pydocs_pages.pages for t in tasks)
    assert 0 < len(split(tasks, "test")) < len(split(tasks, "dev"))
    assert "Function | Signature | Added in | Source" in tasks[0].prompt


def _writer(draft: str, fix: tuple[str, str] | None) -> list[Message]:
    """Search, read the functools page, write the draft, optionally fix it, answer."""
    def call(n: int, name: str, **args: object) -> Message:
        return Message(role="assistant", reasoning=f"step {n}", tool_calls=[ToolCall(
            id=f"functions.{name}:{n}", name=name, arguments=json.dumps(args))])

    turns = [call(0, "search", query="functools lru_cache"),
             call(1, "browse", url=doc_id_for(PAGE), find="lru_cache"),
             call(2, "files", action="write", path="guide.md", content=draft)]
    if fix is not None:
        turns.append(call(3, "files", action="edit", path="guide.md", old_string=fix[0],
                          new_string=fix[1]))
    return [*turns, Message(role="assistant", content="Wrote guide.md.")]


@pytest.mark.parametrize(("draft", "fix", "failed"), [
    (GUIDE.replace("| 3.9 |", "| 3.8 |"), ("| 3.8 |", "| 3.9 |"), set()),  # fact-checked
    (GUIDE.replace("typed=False)`", "typed=True)`"), None, {"facts"}),
])
async def test_a_scripted_writer_through_the_agent_loop(pydocs: PyDocs, tmp_path: Path,
                                                        draft: str, fix: tuple[str, str] | None,
                                                        failed: set[str]) -> None:
    from thinkact.agent import Agent
    from thinkact.backends.scripted import ScriptedBackend
    from thinkact.eval.suites.pydocs import corpus_tools
    from thinkact.tools.builtin.files import FilesTool

    assert pydocs.index is not None
    tools = [*corpus_tools(pydocs, tmp_path), FilesTool()]
    agent = Agent(ScriptedBackend(_writer(draft, fix)), tools=tools, workspace=tmp_path)
    result = await agent.arun(TASK.prompt)
    assert result.status == "completed" and result.answer == "Wrote guide.md."
    from_workspace = score(TASK, tmp_path, pydocs)
    assert {c for c, ok in from_workspace.checks.items() if not ok} == failed
    replayed = document_from_messages(result.messages, "./guide.md")
    assert replayed == (tmp_path / "guide.md").read_text()
    assert score_text(TASK, replayed, pydocs) == from_workspace


def test_a_failed_write_is_not_replayed() -> None:
    write = Message(role="assistant", tool_calls=[ToolCall(
        id="functions.files:0", name="files",
        arguments=json.dumps({"action": "write", "path": "guide.md", "content": "x"}))])
    refused = Message(role="tool", tool_call_id="functions.files:0", name="files",
                      content="error: content is too big")
    assert document_from_messages([write, refused], "guide.md") is None
    ok = refused.model_copy(update={"content": "created guide.md (1 bytes)"})
    assert document_from_messages([write, ok], "guide.md") == "x"
    assert document_from_messages([write, ok], "other.md") is None
