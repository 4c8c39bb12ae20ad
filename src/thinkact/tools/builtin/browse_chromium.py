"""Render JavaScript pages with the system's Chromium through Playwright.

Playwright's own browser downloads are never used: we drive ``/usr/bin/chromium`` (or a
configured path) with flags that keep it quiet (no background networking, updates or sync),
so rendering a page makes no requests beyond the page's own. Chromium makes none of those
itself either: every request is intercepted and answered through a ``Relay`` (the browse
tool's pinned, policy-checked HTTP client), the browser's proxy points at a closed port
(loopback included), so whatever escapes interception (WebSockets, say) fails to connect, and
pages get no WebRTC (``NO_WEBRTC``), which would send UDP past both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any
from urllib.parse import urlsplit

from thinkact.tools.builtin.browse_fetch import Relay

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=http://127.0.0.1:9",  # closed (discard port): no direct connections
    "--proxy-bypass-list=<-loopback>",  # ... not even to loopback, bypassed by default
]


# WebRTC sends UDP (STUN, data channels) past both the interception and the proxy: every
# frame loses the constructors before its own scripts run.
NO_WEBRTC = """
for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel",
                    "RTCIceCandidate", "RTCSessionDescription"]) {
  try { Object.defineProperty(globalThis, name, {value: undefined, writable: false,
                                                 configurable: false}); } catch (e) {}
}
"""


def find_chromium(path: str | None = None) -> str | None:
    """The configured executable, else /usr/bin/chromium, else one on PATH; None if absent."""
    for candidate in (path, os.environ.get("THINKACT_CHROMIUM"), DEFAULT_CHROMIUM):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_available(path: str | None = None) -> bool:
    if find_chromium(path) is None:
        return False
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return True


class RenderError(Exception):
    """The browser could not load or render the page."""


class ChromiumRenderer:
    """One headless browser, started on first use and kept until ``aclose``."""

    def __init__(
        self, executable_path: str | None = None, *, timeout: float = 20.0,
        max_chars: int = 5_000_000,
    ) -> None:
        self.executable_path = find_chromium(executable_path)
        self.timeout = timeout
        self.max_chars = max_chars
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._browser is None:
                if self.executable_path is None:
                    raise RenderError("no Chromium executable found (install 'chromium')")
                try:
                    from playwright.async_api import async_playwright
                except ImportError as exc:
                    raise RenderError("rendering needs the 'playwright' package") from exc
                self._playwright = await async_playwright().start()
                try:
                    self._browser = await self._playwright.chromium.launch(
                        executable_path=self.executable_path, headless=True, args=CHROMIUM_FLAGS,
                        timeout=self.timeout * 1000,
                    )
                except Exception as exc:
                    await self._playwright.stop()
                    self._playwright = None
                    raise RenderError(f"cannot start Chromium: {exc}") from exc
            return self._browser

    async def render(self, url: str, relay: Relay) -> tuple[str, str]:
        """Load ``url``, let scripts run until the network is idle; return (final URL, HTML).

        Every request of the page (document, scripts, frames, fetches, redirects) is answered
        by ``relay``, or aborted when it returns None."""
        browser = await self._ensure()
        context = await browser.new_context(
            java_script_enabled=True, accept_downloads=False, service_workers="block"
        )
        await context.add_init_script(NO_WEBRTC)

        async def answer(route: Any) -> None:
            request = route.request
            if urlsplit(request.url).scheme in ("data", "blob", "about"):
                await route.continue_()  # no network involved
                return
            try:
                reply = await relay(request.method, request.url, await request.all_headers(),
                                    request.post_data_buffer)
                if reply is None:
                    await route.abort("blockedbyclient")
                else:
                    await route.fulfill(status=reply.status, headers=reply.headers,
                                        body=reply.body)
            except Exception:  # the page closed meanwhile: nothing left to answer
                return

        try:
            await context.route("**/*", answer)
            page = await context.new_page()
            try:
                await page.goto(url, wait_until="networkidle", timeout=self.timeout * 1000)
            except Exception as exc:
                # A page that keeps polling never goes idle: keep what has rendered so far.
                if "Timeout" not in type(exc).__name__:
                    raise RenderError(f"cannot load {url}: {exc}") from exc
            html = await page.content()
            return page.url, html[: self.max_chars]
        finally:
            await context.close()

    async def aclose(self) -> None:
        async with self._lock:
            if self._browser is not None:
                await self._browser.close()
                self._browser = None
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None
