"""A real HTTP server on loopback serving canned responses, for browse and web-search tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    body: bytes | Callable[[dict[str, list[str]]], bytes]  # bytes, or made from the query
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    chunked: bool = False  # stream without Content-Length
    location: str | None = None  # for redirects
    headers: list[tuple[str, str]] = field(default_factory=list)  # more response headers
    echo_header: str | None = None  # answer "<name>: <request's value or none>" instead


@dataclass
class Served:
    base: str
    requests: list[str] = field(default_factory=list)
    bytes_sent: dict[str, int] = field(default_factory=dict)


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[Served]:
    served = Served(base="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            served.requests.append(self.path)
            route = routes.get(parts.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = route.body(parse_qs(parts.query)) if callable(route.body) else route.body
            if route.echo_header:
                body = f"{route.echo_header}: {self.headers.get(route.echo_header, 'none')}"
                body = body.encode()
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            for name, value in route.headers:
                self.send_header(name, value)
            if route.location:
                self.send_header("Location", route.location)
            sent = 0
            try:
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for i in range(0, len(body), 16384):
                        piece = body[i:i + 16384]
                        self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                        sent += len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    sent = len(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (size limit): that is the point
            served.bytes_sent[parts.path] = sent

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            return  # clients that hang up early (size limits) are expected

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
