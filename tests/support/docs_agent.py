"""Scripted agents for the docs suites: a policy that searches, finds the entry on each page
it is told to read, reads on from there until the page has shown it the fact, and answers
from what it was shown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from support.docs_reader import (
    added_in,
    default_of,
    module_of,
    module_with_synopsis,
    read_answer,
)
from thinkact.eval.suites.docsearch import Question
from thinkact.messages import Message, ToolCall
from thinkact.tools.builtin.search.index import doc_id_for

ReadAs = Callable[[Question], Question]
Locate = Callable[[str, Sequence[str]], str]
"""(page, tool outputs so far) -> what browse opens for the page and the reply cites."""
MAX_PAGES = 40
_URL = re.compile(r"http://127\.0\.0\.1:\d+/[^\s;)\]\"]+")
_LINK_MARK = re.compile(r" \[\d+\](?=[\s.,;:)]|$)", re.MULTILINE)


def by_id(page: str, outputs: Sequence[str]) -> str:
    """The page's search id (the docs read from their files)."""
    return doc_id_for(page)


def served_url(page: str, outputs: Sequence[str]) -> str:
    """The page's URL on the docs server: as a search result or a link listed it, else on
    the origin of the first result URL (a reader who knows the site's layout)."""
    urls = [u for out in outputs for u in _URL.findall(out)]
    found = next((u for u in urls if u.split("#", 1)[0].endswith("/" + page)), None)
    if found is not None:
        return found.split("#", 1)[0]
    assert urls, "no URL in the search results: the docs are not served"
    origin = "/".join(urls[0].split("/", 3)[:3])
    return f"{origin}/{page}"


def pages_of(q: Question) -> list[tuple[str, str]]:
    """(page, text to find there) a reader opens for ``q``; two hops start at the module
    index, found by the module's synopsis."""
    opened = list(zip(q.sources, q.subjects, strict=True)) if q.kind == "compare" else [
        (q.sources[0], q.subjects[0])]
    if q.kind == "two_hop":
        synopsis = q.question.split("“", 1)[1].split("”", 1)[0]
        opened.insert(0, ("py-modindex.html", synopsis))
    return opened


def _has_fact(q: Question, page: str, needle: str, text: str) -> bool:
    """Whether ``text`` (read so far) shows the fact this page is read for."""
    if page == "py-modindex.html":
        return module_with_synopsis(text, needle) is not None
    if q.param is not None:
        return default_of(text, needle, q.param) is not None
    if q.kind == "module":
        return module_of(text, needle.rsplit(".", 1)[-1]) is not None
    return added_in(text, needle) is not None


_PAGE = re.compile(r"^Page \d+ of \d+ \(characters (\d+)-(\d+) of \d+\)\n(?:Passage .*\n)?\n",
                   re.MULTILINE)


def page_text(out: str) -> str:
    """The document text a browse page showed, without its header and links (consecutive
    pages then join into the document's own text; a web page's link marks ``[n]`` left
    out, so its text reads as the file's)."""
    found = _PAGE.search(out)
    if found is None:
        return ""
    text = out[found.end():found.end() + int(found.group(2)) - int(found.group(1))]
    return _LINK_MARK.sub("", text) if "\nSource: http" in out else text


def _call(n: int, name: str, **arguments: object) -> Message:
    return Message(role="assistant", reasoning=f"step {n}", tool_calls=[ToolCall(
        id=f"functions.{name}:{n}", name=name, arguments=json.dumps(arguments))])


def _entry_page(found: str, needle: str) -> int:
    """The browse page of the first ``find`` match that is a signature (``**name**(``, not
    in backticks, which is a mention); page 1 when none of the listed matches is."""
    for page, snippet in re.findall(r"^- page (\d+): (.*)$", found, re.MULTILINE):
        if re.search(rf"(?<!`)\*\*{re.escape(needle)}\*\*(?:\(| - |…$)", snippet):
            return int(page)
    return 1


def reader_policy(questions: Sequence[Question], read_as: ReadAs = lambda q: q,
                  locate: Locate = by_id, cite_as: ReadAs | None = None
                  ) -> Callable[[Sequence[Message]], Message]:
    """For question ``q``: search its subject; on each page of ``read_as(q)``, ``find`` the
    subject and read browse pages from there until they show the fact; then answer what
    those pages say for ``read_as(q)`` (``unknown`` when they do not), citing them (or the
    pages of ``cite_as(q)``). The default reads the right pages; another ``read_as``
    answers from wrong ones. ``locate`` names a page as browse opens it and as cited."""
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
            url = locate(page, outputs[:n])
            found = next(steps, None)
            if found is None:
                return _call(n, "browse", url=url, find=needle)
            start, text = _entry_page(found, needle), ""
            for k in range(start, start + MAX_PAGES):
                out = next(steps, None)
                if out is None:
                    return _call(n, "browse", url=url, page=k)
                text += page_text(out)
                if _has_fact(q, page, needle, text) or "(Next: page" not in out:
                    break
            shown[page] = text
        answer = read_answer(q, shown) or "unknown"
        cited = pages_of(cite_as(q)) if cite_as is not None else pages_of(q)
        cites = ", ".join(locate(p, outputs) for p, _ in cited)
        return Message(role="assistant", content=f"Answer: {answer}\nSources: {cites}")

    return policy
