"""Scripted agents for the docs suites: a policy that searches, finds the entry on each page
it is told to read, reads the browse pages there, and answers from what it was shown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from support.docs_reader import read_answer
from thinkact.eval.docsearch import Question
from thinkact.messages import Message, ToolCall
from thinkact.tools.builtin.search.index import doc_id_for

ReadAs = Callable[[Question], Question]


def pages_of(q: Question) -> list[tuple[str, str]]:
    """(page, text to find there) a reader opens for ``q``; two hops start at the module
    index, found by the module's synopsis."""
    opened = list(zip(q.sources, q.subjects, strict=True)) if q.kind == "compare" else [
        (q.sources[0], q.subjects[0])]
    if q.kind == "two_hop":
        synopsis = q.question.split("“", 1)[1].split("”", 1)[0]
        opened.insert(0, ("py-modindex.html", synopsis))
    return opened


def _call(n: int, name: str, **arguments: object) -> Message:
    return Message(role="assistant", reasoning=f"step {n}", tool_calls=[ToolCall(
        id=f"functions.{name}:{n}", name=name, arguments=json.dumps(arguments))])


def _entry_page(found: str, needle: str) -> int | None:
    """The browse page of the best ``find`` match: a signature (``**name**(``) if any."""
    hits = re.findall(r"^- page (\d+): (.*)$", found, re.MULTILINE)
    if not hits:
        return None
    for page, snippet in hits:
        if re.search(rf"\*\*{re.escape(needle)}\*\*(?:\(| - |…$)", snippet):
            return int(page)
    return int(hits[0][0])


def reader_policy(questions: Sequence[Question], read_as: ReadAs = lambda q: q
                  ) -> Callable[[Sequence[Message]], Message]:
    """For question ``q``: search its subject; on each page of ``read_as(q)``, ``find`` the
    subject and read the browse page it is on and the next; then answer what those pages
    say for ``read_as(q)`` (``unknown`` when they do not), citing them. The default reads
    the right pages; another ``read_as`` answers from wrong ones."""
    by_prompt = {q.prompt: q for q in questions}

    def policy(messages: Sequence[Message]) -> Message:
        task = next(m.content for m in messages if m.role == "user")
        q = read_as(by_prompt[str(task)])
        outputs = [str(m.content) for m in messages if m.role == "tool"]
        if not outputs:
            return _call(0, "search", query=q.subjects[0])
        n, shown = len(outputs), {}
        steps = iter(outputs[1:])
        for page, needle in pages_of(q):
            url = doc_id_for(page)
            found = next(steps, None)
            if found is None:
                return _call(n, "browse", url=url, find=needle)
            k = _entry_page(found, needle)
            text = ""
            for extra in (0, 1) if k is not None else ():
                out = next(steps, None)
                if out is None:
                    return _call(n, "browse", url=url, page=k + extra)  # type: ignore[operator]
                text += out
                if "(Next: page" not in out:
                    break
            shown[page] = text
        answer = read_answer(q, shown) or "unknown"
        cites = ", ".join(doc_id_for(p) for p, _ in pages_of(q))
        return Message(role="assistant", content=f"Answer: {answer}\nSources: {cites}")

    return policy
