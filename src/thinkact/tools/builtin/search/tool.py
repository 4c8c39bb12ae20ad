"""The ``search`` tool: the local index by default, a configured web backend on request.

An indexed folder that is also served over HTTP (``served``: folder -> base URL) shows its
results as URLs on that server instead of ids, so they are read and cited as web pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.search.index import SearchHit, SearchIndex
from thinkact.tools.builtin.search.web import WebResult, WebSearchBackend
from thinkact.untrusted import mark_untrusted

MAX_LIMIT = 10


def format_local(query: str, hits: list[SearchHit], root_of: dict[str, Path],
                 url_of: Mapping[str, str] | None = None) -> str:
    """The result list; a hit in ``url_of`` (doc id -> URL) is shown by its URL."""
    if not hits:
        return f'No local documents match "{query}". Try other words or fewer of them.'
    url_of = url_of or {}
    lines = [f'Results for "{query}" (local index, {len(hits)} documents):']
    for n, hit in enumerate(hits, 1):
        root = root_of.get(hit.doc_id)
        where = hit.path.relative_to(root).as_posix() if root else hit.path.name
        if hit.doc_id in url_of:
            lines.append(f"[{n}] {hit.title}  ({url_of[hit.doc_id]}; passage #{hit.passage_no})")
        else:
            lines.append(f"[{n}] {hit.title}  (id {hit.citation}; {where})")
        if hit.heading:
            lines.append(f"    Section: {hit.heading}")
        lines.append("    " + " ".join(hit.snippet.split()))
        if hit.more_passages:
            lines.append("    Also matching: " + ", ".join(f"#{p}" for p in hit.more_passages))
    if hits[0].doc_id in url_of:
        lines.append('Read a result with browse(url="<URL>"), e.g. browse(url="'
                     f'{url_of[hits[0].doc_id]}"); cite documents by URL.')
    else:
        lines.append('Read a result with browse(url="<id>"), e.g. browse(url="'
                     f'{hits[0].citation}"); cite documents by id.')
    return "\n".join(lines)


def format_web(query: str, results: list[WebResult], backend: str) -> str:
    if not results:
        return f'No web results for "{query}".'
    lines = [f'Web results for "{query}" ({backend}, {len(results)}):']
    for n, r in enumerate(results, 1):
        lines.append(f"[{n}] {r.title}\n    {r.url}\n    {' '.join(r.snippet.split())}")
    lines.append("Open a result with browse(url=...).")
    return "\n".join(lines)


class SearchTool:
    """Local BM25 search over indexed folders; web search only when a backend is given."""

    def __init__(
        self,
        index_path: Path | str | None = None,
        *,
        index: SearchIndex | None = None,
        web: WebSearchBackend | None = None,
        limit: int = 5,
        served: Mapping[Path, str] | None = None,
        name: str = "search",
    ) -> None:
        self._index_path = index_path
        self.served = {Path(root).resolve(): base.rstrip("/") + "/"
                       for root, base in (served or {}).items()}
        self._index = index
        self._owns_index = index is None
        self.web = web
        self.limit = limit
        props: dict[str, Any] = {
            "query": {"type": "string", "description": "Keywords or a short question."},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                      "description": f"How many documents to return (default {limit})."},
        }
        desc = (
            "Search the user's local document collection (folders indexed with `thinkact "
            "index`) with keyword ranking (BM25). Use it to find facts in the documents "
            "before answering. Returns the best documents, each with a citable id "
            "(document#passage), its section and a snippet with the matched words in "
            "**bold**. Open a result with the browse tool to read it in full."
        )
        if web is not None:
            props["source"] = {"type": "string", "enum": ["local", "web"],
                               "description": "'local' (default) or 'web'."}
            desc += f" With source='web' it searches the web ({web.name}) instead."
        self._spec = ToolSpec(
            name=name, description=desc,
            parameters={"type": "object", "properties": props, "required": ["query"],
                        "additionalProperties": False},
        )

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            self._index = SearchIndex(self._index_path)
        return self._index

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        query = str(arguments.get("query", "")).strip()
        if not query:
            raise ToolError("search needs a non-empty 'query'")
        limit = max(1, min(int(arguments.get("limit") or self.limit), MAX_LIMIT))
        source = arguments.get("source", "local")
        if source == "web":
            if self.web is None:
                raise ToolError("web search is not configured; only source='local' is available")
            results = await self.web.search(query, limit)
            text = format_web(query, results, self.web.name)
            return mark_untrusted(text, f"web search ({self.web.name})")
        if source != "local":
            raise ToolError(f"unknown source {source!r}; use 'local' or 'web'")
        index = self.index
        if await asyncio.to_thread(index.document_count) == 0:
            raise ToolError(
                "the local index is empty: ask the user to run `thinkact index PATH` first"
            )
        hits = await asyncio.to_thread(index.search, query, limit)
        roots, urls = {}, {}
        for hit in hits:
            record = await asyncio.to_thread(index.document, hit.doc_id)
            if record:
                roots[hit.doc_id] = record.root
                if record.root in self.served:
                    rel = record.path.relative_to(record.root).as_posix()
                    urls[hit.doc_id] = self.served[record.root] + quote(rel)
        return mark_untrusted(format_local(query, hits, roots, urls), "local search")

    async def aclose(self) -> None:
        if self._index is not None and self._owns_index:
            self._index.close()
            self._index = None
