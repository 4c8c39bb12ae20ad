"""Local document search (SQLite FTS5/BM25) with optional web backends; see ``tool.py``."""

from thinkact.tools.builtin.search.index import (
    IndexStats,
    SearchHit,
    SearchIndex,
    default_index_path,
    doc_id_for,
)
from thinkact.tools.builtin.search.tool import SearchTool
from thinkact.tools.builtin.search.web import WebResult, WebSearchBackend, web_backend_from_config

__all__ = [
    "IndexStats",
    "SearchHit",
    "SearchIndex",
    "SearchTool",
    "WebResult",
    "WebSearchBackend",
    "default_index_path",
    "doc_id_for",
    "web_backend_from_config",
]
