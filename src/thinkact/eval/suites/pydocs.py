"""The Python documentation as an evaluation corpus: its API entries, modules and pages.

The corpus is the Sphinx HTML of the Python docs (Debian's ``python3.11-doc``). Facts are read
from the HTML's own structure (an entry's signature, its "New in version" note, the module
index), so every question and every check has a page it comes from. A page is named by its
path relative to the HTML root (``library/functools.html``); citations in any form the tools
produce (search id, file URL, loopback URL, relative path) resolve to that name.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from thinkact.tools.builtin.search.extract import extract_file
from thinkact.tools.builtin.search.index import SearchIndex, doc_id_for

DEFAULT_ROOT = Path("/usr/share/doc/python3.11-doc/html")
_ADDED = re.compile(r"^New in version (\d+\.\d+)\.$")
_DOC_ID = re.compile(r"^(?:doc:)?([0-9a-f]{12})(?:#\d+)?$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_KINDS = ("function", "class", "exception", "decorator", "method", "classmethod",
          "staticmethod")


def pydocs_root() -> Path | None:
    """``$THINKACT_PYDOCS``, else the Debian install; None when neither holds the docs."""
    root = Path(os.environ.get("THINKACT_PYDOCS") or DEFAULT_ROOT)
    return root if (root / "py-modindex.html").is_file() else None


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    page: str
    synopsis: str


@dataclass(frozen=True)
class ApiEntry:
    """One documented callable: ``module.name`` on ``page``, with each signature's params
    (``"maxsize=128"``, ``"*args"``, ``"/"``) and the version its own note says it was added
    in (None when the entry has no such note of its own)."""

    page: str
    module: str
    name: str
    kind: str
    signatures: tuple[tuple[str, ...], ...]
    rendered: tuple[str, ...]  # each signature as the page shows it, from the name on
    added: str | None
    nested: bool  # holds entries of its own (a class with methods)

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def defaults(self) -> dict[str, str]:
        """Parameter -> default, for parameters that have one default in all signatures."""
        seen: dict[str, set[str]] = {}
        for sig in self.signatures:
            for param in sig:
                name, eq, default = param.partition("=")
                if eq:
                    seen.setdefault(name, set()).add(default)
        return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}

    def signature_texts(self) -> list[str]:
        """Each signature as the page writes it: ``reduce(function, iterable[, initializer])``."""
        return list(self.rendered)


def _text(node: Any) -> str:
    return " ".join(str(node.text_content()).replace("¶", "").split())


def _params(dt: Any) -> tuple[str, ...]:
    return tuple(_text(em).replace(" = ", "=") for em in dt.xpath(".//em[@class='sig-param']"))


def _rendered(dt: Any, module: str, name: str) -> str:
    text = _text(dt)
    at = text.find(f"{module}.{name}")
    return text[at + len(module) + 1:] if at >= 0 else text[max(0, text.find(name)):]


def _added(dd: Any) -> str | None:
    """The entry's own "New in version X.Y.": the first version note directly in the entry,
    in the whole-entry form. A bare note after a later paragraph dates that paragraph (a
    parameter), not the entry, and so does one that follows other notes."""
    notes = dd.xpath("./div[@class='versionadded' or @class='versionchanged' "
                     "or @class='deprecated']")
    if not notes or notes[0].get("class") != "versionadded":
        return None
    match = _ADDED.match(_text(notes[0]))
    return match.group(1) if match else None


class PyDocs:
    """Read-only view of one docs tree; parsing and page texts are computed once."""

    def __init__(self, root: Path | str, index: SearchIndex | None = None) -> None:
        self.root = Path(root).resolve()
        if not (self.root / "py-modindex.html").is_file():
            raise FileNotFoundError(f"{self.root} is not a Python docs tree (no py-modindex.html)")
        self.index = index
        self._texts: dict[str, str] = {}

    @cached_property
    def version(self) -> str:
        """What the docs call themselves: ``Python 3.11.2 documentation``."""
        import lxml.html

        title = lxml.html.parse(str(self.root / "index.html")).findtext(".//title") or ""
        return title.split("—")[-1].strip() or str(self.root)

    @cached_property
    def pages(self) -> frozenset[str]:
        return frozenset(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*.html")
            if not any(part.startswith(("_", ".")) for part in p.relative_to(self.root).parts)
        )

    @cached_property
    def _by_doc_id(self) -> dict[str, str]:
        return {doc_id_for(page): page for page in self.pages}

    @cached_property
    def modules(self) -> dict[str, ModuleInfo]:
        """The module index: module name -> the page that documents it and its synopsis."""
        import lxml.html

        tree = lxml.html.parse(str(self.root / "py-modindex.html"))
        out: dict[str, ModuleInfo] = {}
        for row in tree.xpath("//table[contains(@class,'modindextable')]//tr"):
            links = row.xpath(".//a[contains(@href,'#module-')]")
            if not links:
                continue
            page = str(links[0].get("href")).split("#", 1)[0]
            name = _text(links[0])
            synopsis = " ".join(_text(em) for em in row.xpath(".//em"))
            if page in self.pages:
                out[name] = ModuleInfo(name, page, synopsis.rstrip("."))
        return out

    @cached_property
    def entries(self) -> list[ApiEntry]:
        """Every module-level callable (and method) the library pages document, in page
        order; an entry counts only when its id starts with a module of that page."""
        import lxml.html

        by_page: dict[str, list[str]] = {}
        for mod in self.modules.values():
            by_page.setdefault(mod.page, []).append(mod.name)
        out: list[ApiEntry] = []
        for page in sorted(by_page):
            mods = sorted(by_page[page], key=len, reverse=True)
            tree = lxml.html.parse(str(self.root / page))
            for dl in tree.xpath("//dl[starts-with(@class,'py ')]"):
                kind = str(dl.get("class")).split()[1]
                dts = dl.xpath("./dt[@id]")
                dds = dl.xpath("./dd")
                if kind not in _KINDS or not dts or not dds:
                    continue
                ident = str(dts[0].get("id"))
                module = next((m for m in mods if ident.startswith(m + ".")), None)
                if module is None:
                    continue
                sig_dts = dl.xpath("./dt[contains(@class,'sig')]")
                name = ident[len(module) + 1:]
                out.append(ApiEntry(
                    page=page, module=module, name=name, kind=kind,
                    signatures=tuple(_params(dt) for dt in sig_dts),
                    rendered=tuple(_rendered(dt, module, name) for dt in sig_dts),
                    added=_added(dds[0]),
                    nested=bool(dds[0].xpath(".//dl[starts-with(@class,'py ')]")),
                ))
        return out

    def text(self, page: str) -> str:
        """The page as the browse tool shows it: its passages in the index when it holds
        the page (the same extraction, read back), else extracted now."""
        if page not in self._texts:
            passages = self.index.passages(doc_id_for(page)) if self.index else []
            if passages:
                parts = [passages[0].body]
                for prev, cur in itertools.pairwise(passages):
                    # a passage cut inside a paragraph (at a space) joins back with a space
                    cut = cur.start - (prev.start + len(prev.body)) < 2
                    parts += [" " if cut else "\n\n", cur.body]
                self._texts[page] = "".join(parts)
            else:
                self._texts[page] = extract_file(self.root / page).text
        return self._texts[page]

    def contains(self, page: str, needle: str) -> bool:
        """``needle`` is on ``page``, whitespace runs counted as one space (a passage
        boundary may fall between two words)."""
        key = f"\0flat:{page}"
        if key not in self._texts:
            self._texts[key] = " ".join(self.text(page).split())
        return " ".join(needle.split()) in self._texts[key]

    def resolve(self, ref: str) -> str | None:
        """The corpus page a citation names, or None (dead link, page outside the corpus).

        Accepts a search id (``3f2a9c01b7e4#2``), a ``file://`` URL or path under the root,
        an ``http(s)`` URL on a loopback host whose path ends in a corpus page (the docs as
        ``pydocs_server`` serves them; any port, so a resumed eval's old citations still
        resolve), or a relative page path; a ``#fragment`` is ignored."""
        ref = ref.strip().strip("<>")
        match = _DOC_ID.match(ref)
        if match:
            return self._by_doc_id.get(match.group(1))
        parts = urlsplit(ref)
        path = unquote(parts.path) if parts.scheme in ("file", "http", "https") else ref
        path = path.split("#", 1)[0]
        if parts.scheme in ("", "file") and path.startswith("/"):
            try:
                return self._page_or_none(Path(path).resolve().relative_to(self.root).as_posix())
            except ValueError:
                return None
        path = path.lstrip("/")
        if parts.scheme in ("http", "https"):  # served from the root or from a prefix of it
            if parts.hostname not in _LOOPBACK:
                return None
            segments = path.split("/")
            for i in range(len(segments)):
                if (found := self._page_or_none("/".join(segments[i:]))) is not None:
                    return found
            return None
        return self._page_or_none(path)

    def _page_or_none(self, page: str) -> str | None:
        page = os.path.normpath(page).replace(os.sep, "/") if page else page
        return page if page in self.pages else None


def corpus_tree(docs: PyDocs, dest: Path, prefixes: tuple[str, ...] = ("",)) -> Path:
    """A folder of links to the corpus pages whose path starts with one of ``prefixes``
    (the docs' sources and static files left out), to index as the search corpus: the
    relative paths, and so the search ids, are those of the pages themselves."""
    dest.mkdir(parents=True, exist_ok=True)
    for page in sorted(docs.pages):
        if page.startswith(prefixes) or page == "py-modindex.html":
            link, target = dest / page, docs.root / page
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() and link.readlink() != target:  # another docs tree
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(target)
    return dest


def open_pydocs(home: Path | None = None, prefixes: tuple[str, ...] = ("",)) -> PyDocs:
    """The installed docs with their search index (``pydocs-index.sqlite`` in ``home``,
    default the data dir), brought up to date first: minutes the first time, then a
    check of each page's size and time."""
    from thinkact.paths import data_dir

    root = pydocs_root()
    if root is None:
        raise FileNotFoundError(f"the Python docs are not at {DEFAULT_ROOT} (Debian package "
                                "python3-doc) and $THINKACT_PYDOCS does not name them")
    home = home or data_dir()
    docs = PyDocs(root)
    index = SearchIndex(home / "pydocs-index.sqlite")
    index.index_folder(corpus_tree(docs, home / "pydocs-corpus", prefixes))
    docs.index = index
    return docs


def corpus_tools(docs: PyDocs, workspace: Path | None = None,
                 origin: str | None = None) -> list[Any]:
    """``search`` over the corpus index and ``browse`` that reads the corpus pages
    (``workspace`` None: the run's own). With ``origin`` (the docs served there, see
    ``pydocs_server``) results are URLs on it and browse may fetch from it and no other
    private address; without, results are search ids read from the files."""
    from thinkact.tools.builtin.browse import BrowseTool
    from thinkact.tools.builtin.search import SearchTool

    assert docs.index is not None
    served = {root: origin for root in docs.index.roots()} if origin else None
    return [SearchTool(index=docs.index, served=served),
            BrowseTool(workspace, index=docs.index, allowed_roots=[docs.root],
                       allow_private=False, allow_origins=[origin] if origin else None)]
