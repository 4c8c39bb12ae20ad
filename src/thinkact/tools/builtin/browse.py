"""The ``browse`` tool: read a web page, a local file or an indexed document as clean text.

Long documents are cut into fixed-size pages ("page 2 of 7") so the model reads them in
steps; ``find`` locates text across pages; links are numbered and absolute so the model can
follow one by number. Downloads are capped in bytes and time. Local files are readable only
inside the workspace and the folders of the search index (symlinks resolved first).
Pages whose content is built by JavaScript are rendered with headless Chromium when present.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.browse_chromium import ChromiumRenderer, RenderError, chromium_available
from thinkact.tools.builtin.browse_fetch import Fetcher, kind_for_content_type
from thinkact.tools.builtin.search.extract import (
    ExtractedDoc,
    ExtractionError,
    Link,
    extract_bytes,
    html_links,
    kind_for_suffix,
)
from thinkact.tools.builtin.search.index import SearchIndex, default_index_path
from thinkact.untrusted import mark_untrusted

RenderMode = Literal["auto", "never", "always"]
_DOC_ID = re.compile(r"^(?:doc:)?([0-9a-f]{12})(?:#(\d+))?$")
_MAX_LISTED_LINKS = 40


@dataclass
class OpenedDoc:
    """A document as read: its text, numbered links and where indexed passages start."""

    location: str
    title: str
    text: str
    links: list[Link]
    inline_links: bool
    notes: list[str] = field(default_factory=list)
    passage_starts: dict[int, int] = field(default_factory=dict)


def looks_script_built(html: str, doc: ExtractedDoc) -> bool:
    """Little readable text but scripts present: the content is probably built by JS."""
    return len(doc.text) < 200 and "<script" in html.lower()


class BrowseTool:
    """Open URLs, local files and indexed documents page by page."""

    def __init__(
        self,
        workspace: Path | str | None = None,
        *,
        index: SearchIndex | None = None,
        index_path: Path | str | None = None,
        allowed_roots: list[Path] | None = None,
        allow_private: bool = True,
        allow_origins: list[str] | None = None,
        page_chars: int = 4000,
        max_bytes: int = 3_000_000,
        timeout: float = 15.0,
        total_timeout: float = 45.0,
        render: RenderMode = "auto",
        chromium_path: str | None = None,
        name: str = "browse",
    ) -> None:
        self.workspace = Path(workspace) if workspace is not None else None
        self._index = index
        self._index_path = Path(index_path) if index_path is not None else None
        self._owns_index = index is None
        self.allowed_roots = [Path(p) for p in allowed_roots or []]
        self.fetcher = Fetcher(max_bytes=max_bytes, timeout=timeout,
                               total_timeout=total_timeout, allow_private=allow_private,
                               allow_origins=allow_origins or ())
        self.page_chars = page_chars
        self.max_bytes = max_bytes
        self.render_mode: RenderMode = render
        self._renderer = ChromiumRenderer(
            chromium_path, timeout=total_timeout, max_chars=max_bytes
        )
        self._can_render = render != "never" and chromium_available(chromium_path)
        self._cache: OrderedDict[str, OpenedDoc] = OrderedDict()
        self._last: OpenedDoc | None = None
        self._spec = ToolSpec(
            name=name,
            description=(
                "Read a web page, a local file or a document found by search, as clean text "
                f"in pages of {page_chars} characters. Give `url` (http(s) URL, file:// URL, a "
                "path in the workspace, or a search result id like 3f2a9c01b7e4#2, which opens "
                "the page holding that passage) and optionally `page`. Use `find` to get every "
                "occurrence of a text with context and its page number instead of a page. "
                "Links in the text are numbered [n]; follow one with `link`=n (no `url`). Set "
                "`render`=true for pages that need JavaScript. Returns title, page N of M, "
                "text and the page's links."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "url": {"type": "string", "description": "URL, workspace path or doc id."},
                    "page": {"type": "integer", "minimum": 1, "description": "Page (from 1)."},
                    "find": {"type": "string", "description": "Text to find (case-insensitive)."},
                    "link": {"type": "integer", "minimum": 1,
                             "description": "Follow link [n] of the last opened document."},
                    "render": {"type": "boolean",
                               "description": "Render with a browser (JavaScript pages)."},
                },
                "additionalProperties": False,
            },
        )

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    # -- where things come from -----------------------------------------------------------

    def _get_index(self) -> SearchIndex | None:
        if self._index is None:
            path = self._index_path or default_index_path()
            if not path.exists():
                return None
            self._index = SearchIndex(path)
        return self._index

    def _roots(self, ctx: ToolContext) -> list[Path]:
        roots = [self.workspace or ctx.workspace, *self.allowed_roots]
        index = self._get_index()
        if index is not None:
            roots.extend(index.roots())
        return [r.expanduser().resolve() for r in roots]

    def _check_local(self, path: Path, ctx: ToolContext) -> Path:
        base = self.workspace or ctx.workspace
        resolved = (base / path.expanduser()).resolve()
        if not any(resolved.is_relative_to(root) for root in self._roots(ctx)):
            raise ToolError(
                f"access denied: {resolved} is outside the workspace and the indexed folders"
            )
        if not resolved.exists():
            raise ToolError(f"no such file: {resolved}")
        if resolved.is_dir():
            raise ToolError(f"{resolved} is a folder; open a file inside it")
        if resolved.stat().st_size > self.max_bytes:
            raise ToolError(f"{resolved} is larger than the {self.max_bytes}-byte limit")
        return resolved

    def _read_file(self, path: Path, location: str) -> OpenedDoc:
        kind = kind_for_suffix(path.suffix)
        data = path.read_bytes()
        if kind is None:
            if b"\x00" in data[:4096]:
                raise ToolError(f"cannot read {path.name}: binary file of unsupported type")
            kind = "text"
        try:
            doc = extract_bytes(data, kind=kind, name=path.stem, base_url=path.as_uri())
        except ExtractionError as exc:
            raise ToolError(str(exc)) from exc
        links = html_links(data.decode("utf-8", "replace"), path.as_uri()) if kind == "html" else []
        return OpenedDoc(location, doc.title, doc.text, links, inline_links=False)

    def _open_doc_id(self, doc_id: str, ctx: ToolContext) -> OpenedDoc:
        index = self._get_index()
        record = index.document(doc_id) if index else None
        if record is None or index is None:
            raise ToolError(f"unknown document id {doc_id!r}; use an id returned by search")
        path = self._check_local(record.path, ctx)
        opened = self._read_file(path, f"{doc_id} ({record.path.relative_to(record.root)})")
        opened.passage_starts = {p.passage_no: p.start for p in index.passages(doc_id)}
        return opened

    async def _open_url(self, url: str, render: bool) -> OpenedDoc:
        notes: list[str] = []
        fetched = await self.fetcher.download(url)
        final, ctype, body = fetched.url, fetched.content_type, fetched.body
        if fetched.truncated:
            notes.append(f"download stopped at the {self.max_bytes}-byte limit; text is partial")
        kind = kind_for_content_type(ctype, final)
        if kind is None:
            raise ToolError(f"cannot read {url}: unsupported content type {ctype!r}")
        name = Path(urlsplit(final).path).name or urlsplit(final).netloc
        try:
            doc = extract_bytes(body, kind=kind, name=name, base_url=final, with_links=True)
        except ExtractionError as exc:
            raise ToolError(str(exc)) from exc
        html = body.decode("utf-8", "replace") if kind == "html" else ""
        wants_render = kind == "html" and (
            render or self.render_mode == "always" or looks_script_built(html, doc)
        )
        if wants_render and self._can_render:
            try:
                async with self.fetcher.relay() as relay:
                    final, html = await self._renderer.render(final, relay)
                doc = extract_bytes(
                    html.encode(), kind="html", name=name, base_url=final, with_links=True
                )
                notes.append("rendered with headless Chromium")
            except RenderError as exc:
                notes.append(f"JavaScript rendering failed ({exc}); showing the static page")
        elif wants_render:
            notes.append("page may need JavaScript, but no browser is available")
        inline = bool(doc.links)
        links = doc.links if inline else (html_links(html, final) if html else [])
        return OpenedDoc(final, doc.title, doc.text, links, inline, notes)

    async def _open(self, target: str, render: bool, ctx: ToolContext) -> tuple[OpenedDoc, int]:
        """Resolve ``target`` to a document (cached) and the passage number it names (or 0)."""
        passage = 0
        key = f"{target}|render={render}"
        match = _DOC_ID.match(target)
        if match:
            key, passage = match.group(1), int(match.group(2) or 0)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            doc = cached
        else:
            scheme = urlsplit(target).scheme.lower()
            if match:
                doc = await asyncio.to_thread(self._open_doc_id, match.group(1), ctx)
            elif scheme in ("http", "https"):
                doc = await self._open_url(target, render)
            elif scheme == "file":
                path = self._check_local(Path(unquote(urlsplit(target).path)), ctx)
                doc = await asyncio.to_thread(self._read_file, path, path.as_uri())
            elif scheme and len(scheme) > 1:
                raise ToolError(f"unsupported URL scheme {scheme!r}; use http(s) or file")
            else:
                path = self._check_local(Path(target), ctx)
                doc = await asyncio.to_thread(self._read_file, path, path.as_uri())
            self._cache[key] = doc
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
        if passage and passage not in doc.passage_starts:
            raise ToolError(f"document {key} has no passage #{passage}")
        return doc, passage

    # -- what the model sees ----------------------------------------------------------------

    def _pages(self, doc: OpenedDoc) -> int:
        return max(1, -(-len(doc.text) // self.page_chars))

    def _header(self, doc: OpenedDoc) -> list[str]:
        lines = [f"Title: {doc.title}", f"Source: {doc.location}"]
        lines += [f"Note: {n}" for n in doc.notes]
        return lines

    def format_page(self, doc: OpenedDoc, page: int, passage: int = 0) -> str:
        total = self._pages(doc)
        if page > total:
            raise ToolError(f"page {page} does not exist; the document has {total} page(s)")
        start = (page - 1) * self.page_chars
        text = doc.text[start:start + self.page_chars]
        lines = self._header(doc)
        lines.append(
            f"Page {page} of {total} (characters {start}-{start + len(text)} of {len(doc.text)})"
        )
        if passage and start <= doc.passage_starts[passage] < start + self.page_chars:
            lines.append(f"Passage #{passage} starts at character {doc.passage_starts[passage]}.")
        lines += ["", text or "(no readable text)", ""]
        if doc.inline_links:
            shown = [n for n in range(1, len(doc.links) + 1) if f"[{n}]" in text]
        else:
            shown = list(range(1, len(doc.links) + 1)) if page == 1 else []
        if shown:
            lines.append("Links:")
            for n in shown[:_MAX_LISTED_LINKS]:
                link = doc.links[n - 1]
                lines.append(f"[{n}] {link.text or '(no text)'} -> {link.url}")
            if len(shown) > _MAX_LISTED_LINKS:
                lines.append(f"... {len(shown) - _MAX_LISTED_LINKS} more links")
        if page < total:
            lines.append(f"(Next: page {page + 1} of {total}.)")
        return "\n".join(lines)

    def format_find(self, doc: OpenedDoc, needle: str, page: int | None) -> str:
        lowered, target = doc.text.lower(), needle.lower()
        lo, hi = 0, len(doc.text)
        if page is not None:
            lo, hi = (page - 1) * self.page_chars, page * self.page_chars
        found: list[str] = []
        pos = lowered.find(target, lo)
        count = 0
        while pos != -1 and pos < hi:
            count += 1
            if len(found) < 20:
                before = doc.text[max(0, pos - 100):pos]
                after = doc.text[pos + len(needle):pos + len(needle) + 100]
                hit = doc.text[pos:pos + len(needle)]
                snippet = " ".join(f"{before}**{hit}**{after}".split())
                found.append(f"- page {pos // self.page_chars + 1}: …{snippet}…")
            pos = lowered.find(target, pos + 1)
        where = f"page {page}" if page is not None else f"{self._pages(doc)} page(s)"
        lines = self._header(doc)
        lines.append(f'Find "{needle}": {count} match(es) in {where}')
        lines += found
        if count > len(found):
            lines.append(f"... {count - len(found)} more")
        return "\n".join(lines)

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        url = str(arguments.get("url") or "").strip()
        link = arguments.get("link")
        render = bool(arguments.get("render", False))
        if link is not None:
            if url:
                raise ToolError("give either `url` or `link`, not both")
            if self._last is None or not 1 <= int(link) <= len(self._last.links):
                raise ToolError(f"no link [{link}] in the last opened document")
            url = self._last.links[int(link) - 1].url
        if not url:
            raise ToolError("browse needs a `url` (or `link` after opening a page)")
        doc, passage = await self._open(url, render, ctx)
        self._last = doc
        page = arguments.get("page")
        find = arguments.get("find")
        if find:
            text = self.format_find(doc, str(find), int(page) if page else None)
        else:
            if not page and passage:
                page = doc.passage_starts[passage] // self.page_chars + 1
            text = self.format_page(doc, int(page or 1), passage)
        return mark_untrusted(text, doc.location)

    async def aclose(self) -> None:
        await self._renderer.aclose()
        if self._index is not None and self._owns_index:
            self._index.close()
            self._index = None
