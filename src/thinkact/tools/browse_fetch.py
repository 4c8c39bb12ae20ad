"""Downloads for ``browse``: capped in bytes and time, and refused for non-public hosts.

The host policy (``refused``) is enforced where the connection is made: ``PinnedBackend``
resolves the host itself, checks every address and connects to one of exactly those
addresses, so a DNS answer that changes between a check and the connection (DNS rebinding)
cannot point a download at a private host or a cloud metadata service. It covers every
redirect hop. A request hook checks the target host as well, which is the only check when an
environment proxy makes the connection. Chromium never connects by itself: its requests are
relayed through the same pinned client (``Fetcher.relay``, see ``browse_chromium``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from thinkact.tools.base import ToolError
from thinkact.tools.search.extract import kind_for_suffix

USER_AGENT = "thinkact-browse/0.1"

Resolver = Callable[[str], Awaitable[list[str]]]  # host -> IP addresses as text

# Headers that belong to one hop, or that the relaying client sets itself.
HOP_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "host", "content-length", "accept-encoding", "content-encoding",
})


async def system_resolve(host: str) -> list[str]:
    """The host's addresses from the system resolver."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve host {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def refused(address: str, allow_private: bool) -> bool:
    """Link-local addresses (cloud metadata services) always; loopback, private, reserved,
    unspecified and multicast ones unless ``allow_private``."""
    addr = ipaddress.ip_address(address)
    return addr.is_link_local or (not allow_private and (
        addr.is_private or addr.is_loopback or addr.is_reserved or addr.is_unspecified
        or addr.is_multicast
    ))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but it resolves and checks the host itself and connects
    only to the addresses it checked (TLS still verifies the certificate for the name)."""

    def __init__(self, resolve: Resolver, allow_private: bool) -> None:
        self.resolve = resolve
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolve(host)
        except (ToolError, TimeoutError) as exc:
            raise httpcore.ConnectError(str(exc) or f"resolving {host!r} timed out") from exc
        if not addresses or any(refused(a, self.allow_private) for a in addresses):
            raise httpcore.ConnectError(f"access denied: {host} resolves to a non-public address")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("browse does not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def kind_for_content_type(content_type: str, url: str) -> str | None:
    """Extraction kind for a response; the URL's suffix decides when the type is generic."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if ctype == "application/pdf":
        return "pdf" if kind_for_suffix(".pdf") else None
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
        return "text"
    return kind_for_suffix(Path(urlsplit(url).path).suffix)


@dataclass
class Download:
    url: str  # after redirects
    content_type: str
    body: bytes
    truncated: bool  # stopped at max_bytes


@dataclass
class Relayed:
    """One response relayed to the browser as is (no redirect followed, body decoded)."""

    status: int
    headers: dict[str, str]
    body: bytes


Relay = Callable[[str, str, dict[str, str], bytes | None], Awaitable[Relayed | None]]


class Fetcher:
    """GET with a byte cap, per-operation and total timeouts, and a host policy."""

    def __init__(
        self, *, max_bytes: int, timeout: float, total_timeout: float, allow_private: bool,
        resolve: Resolver = system_resolve,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.allow_private = allow_private
        self.resolve = resolve

    async def check_host(self, request: httpx.Request) -> None:
        """Request hook: refuse a target host that resolves to a refused address."""
        host = request.url.host
        if any(refused(a, self.allow_private) for a in await self.resolve(host)):
            raise ToolError(f"access denied: {host} resolves to a non-public address")

    def _client(self, *, follow_redirects: bool) -> httpx.AsyncClient:
        ssl_context = httpx.create_ssl_context()
        transport = httpx.AsyncHTTPTransport(verify=ssl_context)
        # The one private attribute we touch: httpx offers no way to choose the pool's
        # network backend. tests/tools/test_browse.py pins this behaviour.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            network_backend=PinnedBackend(self.resolve, self.allow_private),
        )
        return httpx.AsyncClient(
            transport=transport, follow_redirects=follow_redirects, max_redirects=5,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            headers={"User-Agent": USER_AGENT}, event_hooks={"request": [self.check_host]},
        )

    async def download(self, url: str) -> Download:
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._download(url)
        except TimeoutError:
            raise ToolError(f"timed out after {self.total_timeout:.0f}s fetching {url}") from None
        except httpx.HTTPError as exc:
            if "access denied" in str(exc):  # refused by the pinned backend
                raise ToolError(str(exc)) from None
            raise ToolError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc

    async def _download(self, url: str) -> Download:
        async with (
            self._client(follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise ToolError(f"HTTP {response.status_code} for {url}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise ToolError(f"{url} is {declared} bytes, over the {self.max_bytes}-byte limit")
            body, truncated = await self._read(response)
            ctype = response.headers.get("content-type", "")
            return Download(str(response.url), ctype, body, truncated)

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The decoded body, stopped at ``max_bytes`` (and whether it was)."""
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                del body[self.max_bytes:]
                return bytes(body), True
        return bytes(body), False

    @asynccontextmanager
    async def relay(self) -> AsyncIterator[Relay]:
        """A ``Relay`` for one page render: the browser's requests, sent by one pinned client
        under the same host policy; None (the browser aborts the request) when refused or
        failed."""
        async with self._client(follow_redirects=False) as client:

            async def send(
                method: str, url: str, headers: dict[str, str], body: bytes | None
            ) -> Relayed | None:
                if urlsplit(url).scheme not in ("http", "https"):
                    return None
                keep = {k: v for k, v in headers.items()
                        if k.lower() not in HOP_HEADERS and not k.startswith(":")}
                try:
                    async with (
                        asyncio.timeout(self.total_timeout),
                        client.stream(method, url, headers=keep, content=body) as response,
                    ):
                        data, _ = await self._read(response)
                except (httpx.HTTPError, ToolError, TimeoutError):
                    return None
                out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
                return Relayed(response.status_code, out, data)

            yield send
