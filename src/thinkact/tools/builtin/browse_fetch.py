"""Downloads for ``browse``: capped in bytes and time, and refused for non-public hosts.

The host policy (``refused``) is enforced where the connection is made: ``PinnedBackend``
resolves the host itself, checks every address and connects to one of exactly those
addresses, so a DNS answer that changes between a check and the connection (DNS rebinding)
cannot point a download at a private host or a cloud metadata service. It covers every
redirect hop. A request hook checks the target host as well, which is the only check when an
environment proxy (``HTTP(S)_PROXY``/``ALL_PROXY``) makes the connections and resolves the
names. Chromium's HTTP requests are relayed through the same client (``Fetcher.relay``, see
``browse_chromium``). ``allow_origins`` lets exactly the origins it names through the policy
(a corpus served on one loopback port), and nothing else on those hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from thinkact.tools.base import ToolError
from thinkact.tools.builtin.search.extract import kind_for_suffix

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


# Cloud metadata services outside the link-local range: Alibaba's (in 100.64/10), AWS's IPv6.
METADATA = frozenset(ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254"))
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(addr: ipaddress.IPv4Address | ipaddress.IPv6Address
                   ) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: mapped (::ffff:a.b.c.d), 6to4, or NAT64."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if any(addr in net for net in NAT64):  # the IPv4 address is the last 32 bits
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin:
    """``(scheme, host, port)`` of a URL, the port filled in from the scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) origin: {url!r}")
    return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)


def refused(address: str, allow_private: bool) -> bool:
    """Link-local addresses and cloud metadata services always; without ``allow_private``
    every address that is not globally routable. An IPv6 address that carries an IPv4 one
    (mapped, 6to4, NAT64) is judged by the IPv4 address it reaches as well."""
    addr = ipaddress.ip_address(address)
    inner = _embedded_ipv4(addr)
    if inner is not None and refused(str(inner), allow_private):
        return True
    if addr.is_link_local or addr in METADATA:
        return True
    # (is_global alone lets multicast and reserved ranges through on Python 3.11)
    special = addr.is_multicast or addr.is_reserved or addr.is_unspecified or (
        isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local)
    return not allow_private and (special or not addr.is_global)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but it resolves and checks the host itself and connects
    only to the addresses it checked (TLS still verifies the certificate for the name)."""

    def __init__(self, resolve: Resolver, allow_private: bool,
                 allowed: frozenset[tuple[str, int]] = frozenset()) -> None:
        self.resolve = resolve
        self.allow_private = allow_private
        self.allowed = allowed  # (host, port) of the allowed origins; the hook checks the scheme
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
        exempt = (host.lower(), port) in self.allowed
        if not addresses or (
                not exempt and any(refused(a, self.allow_private) for a in addresses)):
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


def environment_proxies() -> dict[str, str | None]:
    """httpx's reading of the proxy variables: URL pattern -> proxy (None: direct). httpx
    ignores them once a transport is given, so the mounts are built from this."""
    try:
        from httpx._utils import get_environment_proxies
    except ImportError:  # moved in some httpx release: no proxy support, direct and pinned
        return {}
    return get_environment_proxies()


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing (the relayed browser keeps its own cookies)."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class Fetcher:
    """GET with a byte cap, per-operation and total timeouts, and a host policy."""

    def __init__(
        self, *, max_bytes: int, timeout: float, total_timeout: float, allow_private: bool,
        resolve: Resolver = system_resolve, allow_origins: Iterable[str] = (),
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.allow_private = allow_private
        self.resolve = resolve
        self.allow_origins = frozenset(origin_of(o) for o in allow_origins)

    async def check_host(self, request: httpx.Request) -> None:
        """Request hook: refuse a target host that resolves to a refused address (an
        allowed origin passes: same scheme, host and port)."""
        host = request.url.host
        if origin_of(str(request.url)) in self.allow_origins:
            return
        if any(refused(a, self.allow_private) for a in await self.resolve(host)):
            raise ToolError(f"access denied: {host} resolves to a non-public address")

    def _client(self, *, follow_redirects: bool) -> httpx.AsyncClient:
        """A client whose direct connections are pinned (``PinnedBackend``). Requests that
        an environment proxy covers (``HTTP(S)_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``, as
        httpx reads them) go through that proxy, which resolves the name itself: there the
        request hook's check is the only one. Cookies are never kept: the browser keeps
        its own."""
        ssl_context = httpx.create_ssl_context()
        pinned = httpx.AsyncHTTPTransport(verify=ssl_context)
        # The one private attribute we touch: httpx offers no way to choose the pool's
        # network backend. tests/tools/test_browse.py pins this behaviour.
        pinned._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            network_backend=PinnedBackend(self.resolve, self.allow_private, frozenset(
                (host, port) for _, host, port in self.allow_origins)),
        )
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {
            pattern: httpx.AsyncHTTPTransport(verify=ssl_context, proxy=url) if url else pinned
            for pattern, url in environment_proxies().items()
        }
        return httpx.AsyncClient(
            transport=pinned, mounts=mounts, follow_redirects=follow_redirects,
            max_redirects=5, timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10)),
            headers={"User-Agent": USER_AGENT}, event_hooks={"request": [self.check_host]},
            cookies=_NoCookies(),  # a jar, not httpx.Cookies (which the client would copy)
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
                except Exception:  # refused, unreachable, malformed, closed: the page sees
                    return None  # a failed request, the render goes on
                out: dict[str, list[str]] = {}
                for k, v in response.headers.multi_items():
                    if k.lower() not in HOP_HEADERS:
                        out.setdefault(k.lower(), []).append(v)
                # Playwright splits a set-cookie value at newlines; other repeats join with ", "
                return Relayed(response.status_code, {
                    k: ("\n" if k == "set-cookie" else ", ").join(v) for k, v in out.items()
                }, data)

            yield send
