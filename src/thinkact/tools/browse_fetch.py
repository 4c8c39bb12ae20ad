"""Downloads for ``browse``: capped in bytes and time, and refused for non-public hosts.

The host check runs as an httpx request hook, so it applies to every redirect hop, and it is
offered to the Chromium renderer as a guard for the page's own requests.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from thinkact.tools.base import ToolError
from thinkact.tools.search.extract import kind_for_suffix

USER_AGENT = "thinkact-browse/0.1"


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


class Fetcher:
    """GET with a byte cap, per-operation and total timeouts, and a host policy."""

    def __init__(
        self, *, max_bytes: int, timeout: float, total_timeout: float, allow_private: bool
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.allow_private = allow_private

    async def check_host(self, request: httpx.Request) -> None:
        """Link-local addresses (cloud metadata services) are always refused; loopback and
        private networks unless ``allow_private``."""
        host = request.url.host
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            raise ToolError(f"cannot resolve host {host!r}: {exc}") from exc
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if addr.is_link_local or (not self.allow_private and (
                addr.is_private or addr.is_loopback or addr.is_reserved
                or addr.is_unspecified or addr.is_multicast
            )):
                raise ToolError(f"access denied: {host} resolves to a non-public address")

    async def allowed_url(self, url: str) -> bool:
        """The same policy as a yes/no, for the browser's requests."""
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        if parts.scheme not in ("http", "https"):
            return False
        try:
            await self.check_host(httpx.Request("GET", url))
        except ToolError:
            return False
        return True

    async def download(self, url: str) -> Download:
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._download(url)
        except TimeoutError:
            raise ToolError(f"timed out after {self.total_timeout:.0f}s fetching {url}") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc

    async def _download(self, url: str) -> Download:
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        async with (
            httpx.AsyncClient(
                timeout=timeout, follow_redirects=True, max_redirects=5,
                headers={"User-Agent": USER_AGENT}, event_hooks={"request": [self.check_host]},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise ToolError(f"HTTP {response.status_code} for {url}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise ToolError(f"{url} is {declared} bytes, over the {self.max_bytes}-byte limit")
            body = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    del body[self.max_bytes:]
                    truncated = True
                    break
            ctype = response.headers.get("content-type", "")
            return Download(str(response.url), ctype, bytes(body), truncated)
