"""The Python docs served over loopback for the docs suites, and the suites' shared part.

``CorpusServer`` is a read-only static HTTP server bound to ``127.0.0.1`` on a free port:
GET and HEAD of the files under the docs root, never a folder listing, never a file whose
real path lies outside the root. ``CorpusSuite.serve()`` runs one for the length of an eval,
and each run then gets ``search`` (results as the server's URLs) and ``browse`` allowed
exactly that origin, so pages are found, read and cited as web pages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from thinkact.eval.suite import Item, ListSuite
from thinkact.eval.suites.pydocs import PyDocs, corpus_tools
from thinkact.tools.base import Tool


class _Handler(SimpleHTTPRequestHandler):
    """Static files of ``directory`` only: no listings, nothing reached through a link that
    leaves it, no request log."""

    def translate_path(self, path: str) -> str:
        found = Path(super().translate_path(path)).resolve()
        # "" opens as no file: a 404, like a page that does not exist
        return str(found) if found.is_relative_to(Path(self.directory).resolve()) else ""

    def send_head(self) -> Any:
        # a folder is answered with its index page, which the base class opens by joining
        # the name to the folder unresolved: that page must resolve inside the root too
        folder = self.translate_path(self.path)
        if folder and os.path.isdir(folder):
            root = Path(self.directory).resolve()
            for page in ("index.html", "index.htm"):  # the pages the base class tries
                index = Path(folder, page)
                if index.exists() and not index.resolve().is_relative_to(root):
                    self.send_error(404, "File not found")
                    return None
        return super().send_head()

    def list_directory(self, path: str | Any) -> None:
        self.send_error(404, "no listings")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        return None


class CorpusServer:
    """Serves ``root`` on ``http://127.0.0.1:PORT/`` from a daemon thread until closed."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0),
                                           partial(_Handler, directory=str(self.root)))
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="pydocs-server")
        self._thread.start()

    def url(self, page: str) -> str:
        return f"{self.origin}/{page}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> CorpusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class CorpusSuite(ListSuite):
    """A suite over the docs: ``serve()`` serves them for an eval; each item's tools read
    them there (or, outside ``serve()``, from the files by search id)."""

    docs: PyDocs | None = None
    server: CorpusServer | None = None

    @contextmanager
    def serve(self) -> Iterator[CorpusServer]:
        """The corpus on loopback until the block ends (nested calls share one server)."""
        assert self.docs is not None
        if self.server is not None:
            yield self.server
            return
        with CorpusServer(self.docs.root) as server:
            self.server = server
            try:
                yield server
            finally:
                self.server = None

    def extra_tools(self, item: Item) -> list[Tool]:
        assert self.docs is not None
        return corpus_tools(self.docs, origin=self.server.origin if self.server else None)
