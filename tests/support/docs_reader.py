"""A reader of the Python docs as the browse tool shows them: answers docsearch questions
from page text alone, independently of the HTML parsing the generator uses.

An entry's text starts at its signature line (``@functools.lru_cache(*maxsize=128*, ...)``,
``- *class* ssl.VerifyFlags``) and runs to the next signature line of the same module.
"""

from __future__ import annotations

import re

from thinkact.eval.suites.docsearch import Question

_NOTE = re.compile(r"New in version (\d+\.\d+)\.(?=\s|$)")


def _sig_lines(text: str, dotted: str) -> list[re.Match[str]]:
    pattern = rf"^(?:- )?(?:@|\*\w+\* )*{re.escape(dotted)}(?:\(.*)?$"
    return list(re.finditer(pattern, text, re.MULTILINE))


def entry_text(text: str, qualname: str) -> str | None:
    """The text of ``qualname``'s entry, from its first signature line to the next entry."""
    sigs = _sig_lines(text, qualname)
    if not sigs:
        return None
    module = qualname.rsplit(".", 1)[0]
    nxt = re.compile(rf"^(?:- )?(?:@|\*\w+\* )*{re.escape(module)}\.[\w.]+(?:\(.*)?$",
                     re.MULTILINE)
    end = len(text)
    for match in nxt.finditer(text, sigs[-1].end()):
        if not match.group(0).lstrip("- @*").split("(")[0].endswith(qualname):
            end = match.start()
            break
    return text[sigs[0].start():end]


def added_in(text: str, qualname: str) -> str | None:
    body = entry_text(text, qualname)
    found = _NOTE.search(body) if body else None
    return found.group(1) if found else None


def default_of(text: str, qualname: str, param: str) -> str | None:
    values = {m.group(1) for sig in _sig_lines(text, qualname)
              for m in re.finditer(rf"\*{re.escape(param)}=([^*]*)\*", sig.group(0))}
    return values.pop() if len(values) == 1 else None


def module_of(text: str, name: str) -> str | None:
    pattern = rf"^(?:- )?(?:@|\*\w+\* )*([\w.]+)\.{re.escape(name)}(?:\(.*)?$"
    found = {m.group(1) for m in re.finditer(pattern, text, re.MULTILINE)}
    return found.pop() if len(found) == 1 else None


def module_with_synopsis(index_text: str, synopsis: str) -> str | None:
    words = r"\s+".join(re.escape(w) for w in synopsis.split())
    found = re.search(rf"`([\w.]+)`\s*\|[^|`]*?\*{words}\.\*", index_text)
    return found.group(1) if found else None


def read_answer(q: Question, pages: dict[str, str]) -> str | None:
    """The answer ``q`` asks for, read from page texts (``pages``: page -> text; a two-hop
    question also needs ``py-modindex.html``). None when the text does not give it."""
    text = pages.get(q.sources[0], "")
    subject = q.subjects[0]
    if q.kind == "two_hop":
        synopsis = q.question.split("“", 1)[1].split("”", 1)[0]
        module = module_with_synopsis(pages.get("py-modindex.html", ""), synopsis)
        name = q.question.rsplit("`", 2)[-2]
        if module is None:
            return None
        subject = f"{module}.{name}"
        return default_of(text, subject, q.param) if q.param else added_in(text, subject)
    if q.kind == "version":
        return added_in(text, subject)
    if q.kind == "default":
        assert q.param is not None
        return default_of(text, subject, q.param)
    if q.kind == "module":
        return module_of(text, subject.rsplit(".", 1)[-1])
    if q.kind == "compare":
        a, b = q.subjects
        va, vb = added_in(text, a), added_in(pages.get(q.sources[1], ""), b)
        if va is None or vb is None or va == vb:
            return None
        key = [int(x) for x in va.split(".")], [int(x) for x in vb.split(".")]
        return a if key[0] < key[1] else b
    raise ValueError(f"unknown question kind {q.kind!r}")
