"""The agentic-writing suite: guides to a module written into the workspace, checked
against the Python docs they cite.

A task asks for a one-page Markdown guide to one module's main functions with a table of
their signatures. The scorer gives one point per check, each independent of the others:
``exists`` (the file is there), ``structure`` (headings, a table of enough rows, one page),
``columns`` (the table has the required columns), ``citations`` (there are citations and
every one resolves to a corpus page), ``facts`` (each row's signature and version match the
page it cites) and ``grounded`` (each function in the table is documented on a cited page).

As the ``docwriting`` suite each run gets ``files`` and the docs' ``search`` and ``browse``
(the docs served on loopback for the eval, as for ``docsearch``);
the document is scored from the run's ``files`` calls. Options: ``split`` (test, the
default, or dev), ``seed`` (0), ``n`` (tasks generated before the split, 40).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from thinkact.eval.suite import Attempt, Item, Score
from thinkact.eval.suites.docsearch import check_split, normalise, split_of
from thinkact.eval.suites.package import no_more
from thinkact.eval.suites.pydocs import ApiEntry, PyDocs, open_pydocs
from thinkact.eval.suites.pydocs_server import CorpusSuite
from thinkact.messages import Message

COLUMNS = ("Function", "Signature", "Added in", "Source")
CHECKS = ("exists", "structure", "columns", "citations", "facts", "grounded")
MIN_ROWS = 5
MAX_WORDS = 1500  # "one page", generously
_NO_VERSION = {"", "-", "–", "—", "n/a", "na", "none", "unknown", "not stated", "always"}
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BARE = re.compile(r"(?:https?|file)://[^\s)\]>\"'`|]+|\b(?:doc:)?[0-9a-f]{12}(?:#\d+)?\b"
                   r"|(?<![\w/:.(])[\w.-]+(?:/[\w.-]+)*\.html\b")
_HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class WritingTask:
    id: str
    module: str
    page: str
    functions: tuple[str, ...]  # the module's documented functions (what a guide may list)
    path: str = "guide.md"

    @property
    def split(self) -> str:
        return split_of(self.id)

    @property
    def prompt(self) -> str:
        cols = " | ".join(COLUMNS)
        return (
            f"Write a one-page guide to the main functions of the Python module `{self.module}`"
            f" as Markdown in the file `{self.path}` of your workspace. Use headings, and a "
            f"table with the columns {cols}: one row for each of at least {MIN_ROWS} "
            "functions, with its signature as the documentation gives it (e.g. "
            "`name(a, b=1)`), the Python version it was added in (or '-' when the "
            "documentation does not say), and a link to the documentation page you took it "
            "from. Cite every source you use with a link."
        )


@dataclass
class WritingScore:
    score: float  # checks passed / checks
    checks: dict[str, bool]
    detail: dict[str, str] = field(default_factory=dict)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> int | None:
        wanted = name.lower()
        return next((i for i, h in enumerate(self.header) if normalise(h) == wanted), None)


def generate(docs: PyDocs, seed: int = 0, count: int = 40) -> list[WritingTask]:
    """Modules documented alone on their page with at least ``MIN_ROWS`` functions,
    ``count`` of them in a seeded order."""
    by_page: dict[str, list[str]] = {}
    for mod in docs.modules.values():
        by_page.setdefault(mod.page, []).append(mod.name)
    tasks = []
    for page, mods in sorted(by_page.items()):
        if len(mods) != 1 or not page.startswith("library/"):
            continue
        funcs = [e.name for e in docs.entries
                 if e.page == page and e.kind == "function" and "." not in e.name]
        if len(set(funcs)) >= MIN_ROWS:
            tasks.append(WritingTask(id=f"guide:{mods[0]}", module=mods[0], page=page,
                                     functions=tuple(dict.fromkeys(funcs))))
    rng = random.Random(seed)
    return rng.sample(tasks, min(count, len(tasks)))


def split(tasks: list[WritingTask], name: str) -> list[WritingTask]:
    """The ``dev`` or the held-out ``test`` tasks."""
    return [t for t in tasks if t.split == check_split(name)]


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def find_table(text: str) -> Table | None:
    """The first Markdown pipe table (header, separator, rows)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        if "|" in lines[i] and _SEPARATOR.match(lines[i + 1]):
            rows = []
            for line in lines[i + 2:]:
                if "|" not in line or not line.strip():
                    break
                rows.append(_cells(line))
            return Table(_cells(lines[i]), rows)
    return None


def citations(text: str) -> list[str]:
    """Every link target and bare citation (URL, search id, page path), in order."""
    found = [m.group(1) for m in _LINK.finditer(text) if not m.group(1).startswith("#")]
    found += _BARE.findall(_LINK.sub("]()", text))
    return list(dict.fromkeys(found))


def _name(cell: str, module: str) -> str:
    name = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)  # a linked name: its text
    name = normalise(name).lstrip("@")
    name = name.split("(", 1)[0].strip()
    prefix = module.lower() + "."
    return name[len(prefix):] if name.startswith(prefix) else name


def _signature(text: str, module: str) -> str:
    """A signature compared without spacing, markup, module prefix, return annotation or
    an empty ``()``."""
    flat = re.sub(r"[`*\s\\]", "", text).lstrip("@").split("->", 1)[0]
    flat = flat.removeprefix("class").removeprefix("exception") if "(" in flat else flat
    flat = flat[len(module) + 1:] if flat.startswith(module + ".") else flat
    return flat.removesuffix("()")


def _entry(docs: PyDocs, pages: list[str], name: str) -> ApiEntry | None:
    lowered = name.lower()
    return next((e for e in docs.entries if e.page in pages and e.name.lower() == lowered
                 and "." not in e.name), None)


def _row_facts(entry: ApiEntry, row: list[str], table: Table) -> str | None:
    """Why the row's signature or version disagrees with ``entry``'s page, or None."""
    sig_col, ver_col = table.column("signature"), table.column("added in")
    if sig_col is not None and sig_col < len(row):
        given = [_signature(p, entry.module) for p in re.split(r"<br\s*/?>", row[sig_col])]
        known = {_signature(s, entry.module) for s in entry.signature_texts()}
        if not all(g in known for g in given if g):
            return f"{entry.name}: signature {row[sig_col]!r} is not on its page " \
                   f"({'; '.join(entry.signature_texts())})"
    if ver_col is not None and ver_col < len(row):
        version = normalise(row[ver_col])
        expected = entry.added or ""
        if (version != expected) and not (not expected and version in _NO_VERSION):
            return f"{entry.name}: added in {row[ver_col]!r}, its page says " \
                   f"{expected or 'nothing'}"
    return None


def _check_rows(docs: PyDocs, task: WritingTask, table: Table, doc_pages: list[str]
                ) -> tuple[list[str], list[str]]:
    """(rows whose facts disagree with their page, functions no cited page documents).
    A row is looked up on the pages its Source cell cites, else on all the document cites."""
    wrong: list[str] = []
    absent: list[str] = []
    name_col, src_col = table.column("function"), table.column("source")
    for row in table.rows:
        if name_col is None or name_col >= len(row):
            continue
        name = _name(row[name_col], task.module)
        own = citations(row[src_col]) if src_col is not None and src_col < len(row) else []
        row_pages = [p for c in own if (p := docs.resolve(c)) is not None] or doc_pages
        entry = _entry(docs, row_pages, name)
        if entry is None:
            absent.append(name)
        elif (why := _row_facts(entry, row, table)) is not None:
            wrong.append(why)
    return wrong, absent


def document_from_messages(messages: Sequence[Message], path: str) -> str | None:
    """The file ``path`` as the run's ``files`` writes and edits left it (calls that
    failed skipped), or None when the run never wrote it: a document scored from the
    conversation alone, without its workspace."""
    results = {m.tool_call_id: str(m.content or "") for m in messages if m.role == "tool"}
    wanted = PurePosixPath(path.lstrip("./"))
    text: str | None = None
    for call in (c for m in messages if m.role == "assistant" for c in m.tool_calls):
        if call.name != "files" or results.get(call.id, "error").startswith("error"):
            continue
        try:
            args = call.parse_arguments()
        except ValueError:
            continue
        if PurePosixPath(str(args.get("path", "")).lstrip("./")) != wanted:
            continue
        if args.get("action") == "write":
            text = str(args.get("content", ""))
        elif args.get("action") == "edit" and text is not None:
            old, new = str(args.get("old_string", "")), str(args.get("new_string", ""))
            text = text.replace(old, new) if args.get("replace_all") else text.replace(
                old, new, 1)
    return text


def score(task: WritingTask, workspace: Path, docs: PyDocs) -> WritingScore:
    """Score the document ``task.path`` in ``workspace``; a missing file scores 0."""
    path = workspace / task.path
    return score_text(task, path.read_text(errors="replace") if path.is_file() else None, docs)


def score_text(task: WritingTask, text: str | None, docs: PyDocs) -> WritingScore:
    """Score a document's text (None: it was never written)."""
    checks = dict.fromkeys(CHECKS, False)
    detail: dict[str, str] = {}
    if text is None or not text.strip():
        detail["exists"] = f"no document at {task.path}"
        return WritingScore(0.0, checks, detail)
    checks["exists"] = True
    table = find_table(text)
    headings, words = len(_HEADING.findall(text)), len(text.split())
    checks["structure"] = headings >= 2 and table is not None and len(table.rows) >= MIN_ROWS \
        and words <= MAX_WORDS
    if not checks["structure"]:
        detail["structure"] = (f"{headings} heading(s), table rows: "
                               f"{len(table.rows) if table else 'no table'}, {words} words")
    missing = [c for c in COLUMNS if table is None or table.column(c.lower()) is None]
    checks["columns"] = not missing
    if missing:
        detail["columns"] = "missing column(s): " + ", ".join(missing)
    cited = citations(text)
    pages = {c: docs.resolve(c) for c in cited}
    dead = [c for c, p in pages.items() if p is None]
    checks["citations"] = bool(cited) and not dead
    if not checks["citations"]:
        detail["citations"] = "no citations" if not cited else "dead: " + ", ".join(dead)
    doc_pages = [p for p in pages.values() if p is not None]
    rows_checked = table is not None and table.column("function") is not None
    wrong, absent = _check_rows(docs, task, table, doc_pages) if table else ([], [])
    checks["facts"] = rows_checked and not wrong
    if not checks["facts"]:
        detail["facts"] = "; ".join(wrong) or "no table of functions to check"
    checks["grounded"] = rows_checked and not absent
    if not checks["grounded"]:
        detail["grounded"] = ("not on a cited page: " + ", ".join(absent)) if absent else \
            "no table of functions to check"
    return WritingScore(sum(checks.values()) / len(CHECKS), checks, detail)


@dataclass
class DocWritingSuite(CorpusSuite):
    """Items are guide tasks; ``score`` is the share of checks the written guide passes."""

    tasks: dict[str, WritingTask] = field(default_factory=dict)

    def score(self, item: Item, attempt: Attempt) -> Score:
        assert self.docs is not None
        task = self.tasks[item.id]
        s = score_text(task, document_from_messages(attempt.messages, task.path), self.docs)
        failed = ", ".join(f"{c}: {s.detail.get(c, 'failed')}" for c, ok in s.checks.items()
                           if not ok)
        return Score(s.score, failed or "all checks passed")


def suite_of(docs: PyDocs, tasks: list[WritingTask]) -> DocWritingSuite:
    rows = [Item(id=t.id, input=t.prompt, target={"module": t.module, "path": t.path},
                 category="guide", tools=("files",)) for t in tasks]
    return DocWritingSuite(rows, "docwriting", docs.version, docs=docs,
                           tasks={t.id: t for t in tasks})


def load(options: dict[str, str]) -> DocWritingSuite:
    which = check_split(options.pop("split", "test"))
    seed, n = int(options.pop("seed", 0)), int(options.pop("n", 40))
    no_more(options, "docwriting", "split, seed and n")
    docs = open_pydocs()
    return suite_of(docs, split(generate(docs, seed, n), which))
