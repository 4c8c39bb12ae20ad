"""Optional web search backends behind the ``search`` tool.

Nothing here runs unless the user configures a backend: the default search is local and
offline. Each backend is one small class with ``async search(query, limit)``; API keys come
from environment variables named in the config, never from the config file itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from thinkact.tools.base import ToolError


@dataclass
class WebResult:
    title: str
    url: str
    snippet: str


class WebSearchBackend(Protocol):
    name: str

    async def search(self, query: str, limit: int) -> list[WebResult]: ...


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


async def _get_json(
    method: str, url: str, *, timeout: float, **kwargs: Any
) -> Any:
    try:
        async with httpx.AsyncClient(timeout=_timeout(timeout)) as client:
            response = await client.request(method, url, **kwargs)
            response.raise_for_status()
            return response.json()
    except httpx.HTTPStatusError as exc:
        raise ToolError(f"web search failed: HTTP {exc.response.status_code}") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise ToolError(f"web search failed: {type(exc).__name__}: {exc}") from exc


class SearXNGBackend:
    """A SearXNG instance (self-hosted metasearch) with the JSON output format enabled."""

    name = "searxng"

    def __init__(self, url: str, *, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    async def search(self, query: str, limit: int) -> list[WebResult]:
        data = await _get_json(
            "GET", f"{self.url}/search", params={"q": query, "format": "json"},
            timeout=self.timeout,
        )
        return [
            WebResult(r.get("title", ""), r.get("url", ""), r.get("content", "") or "")
            for r in data.get("results", [])[:limit]
        ]


class BraveBackend:
    """Brave Search API; key from an environment variable (default ``BRAVE_API_KEY``)."""

    name = "brave"
    endpoint = "https://api.search.brave.com/res/v1/web/search"

    def __init__(self, api_key: str, *, timeout: float = 15.0) -> None:
        self.api_key = api_key
        self.timeout = timeout

    async def search(self, query: str, limit: int) -> list[WebResult]:
        data = await _get_json(
            "GET", self.endpoint, params={"q": query, "count": limit}, timeout=self.timeout,
            headers={"X-Subscription-Token": self.api_key, "Accept": "application/json"},
        )
        results = data.get("web", {}).get("results", [])
        return [WebResult(r.get("title", ""), r.get("url", ""), r.get("description", ""))
                for r in results[:limit]]


class TavilyBackend:
    """Tavily search API; key from an environment variable (default ``TAVILY_API_KEY``)."""

    name = "tavily"
    endpoint = "https://api.tavily.com/search"

    def __init__(self, api_key: str, *, timeout: float = 20.0) -> None:
        self.api_key = api_key
        self.timeout = timeout

    async def search(self, query: str, limit: int) -> list[WebResult]:
        data = await _get_json(
            "POST", self.endpoint, json={"query": query, "max_results": limit},
            headers={"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout,
        )
        return [WebResult(r.get("title", ""), r.get("url", ""), r.get("content", ""))
                for r in data.get("results", [])[:limit]]


class DDGSBackend:
    """DuckDuckGo through the optional ``ddgs`` package (no key; scraping, best effort)."""

    name = "duckduckgo"

    def __init__(self) -> None:
        try:
            import ddgs  # noqa: F401
        except ImportError as exc:
            raise ValueError("the 'duckduckgo' web backend needs the 'ddgs' package") from exc

    async def search(self, query: str, limit: int) -> list[WebResult]:
        from ddgs import DDGS

        def run() -> list[dict[str, Any]]:
            return list(DDGS().text(query, max_results=limit))

        try:
            rows = await asyncio.to_thread(run)
        except Exception as exc:  # ddgs raises its own hierarchy; all mean "no results"
            raise ToolError(f"web search failed: {exc}") from exc
        return [WebResult(r.get("title", ""), r.get("href", ""), r.get("body", "")) for r in rows]


def _key(cfg: Mapping[str, Any], default_env: str) -> str:
    env = str(cfg.get("api_key_env", default_env))
    key = os.environ.get(env, "")
    if not key:
        raise ValueError(f"web search backend {cfg.get('backend')!r} needs ${env} to be set")
    return key


def web_backend_from_config(cfg: Mapping[str, Any] | None) -> WebSearchBackend | None:
    """Build the configured backend, or ``None`` when none is configured.

    TOML shape (``[search.web]``): ``backend = "searxng"`` + ``url = "http://..."``;
    ``backend = "brave"`` / ``"tavily"`` (+ optional ``api_key_env``);
    ``backend = "duckduckgo"``. Optional ``timeout`` (seconds)."""
    if not cfg or not cfg.get("backend"):
        return None
    name = str(cfg["backend"]).lower()
    timeout = float(cfg.get("timeout", 15.0))
    if name == "searxng":
        if not cfg.get("url"):
            raise ValueError("web search backend 'searxng' needs a 'url'")
        return SearXNGBackend(str(cfg["url"]), timeout=timeout)
    if name == "brave":
        return BraveBackend(_key(cfg, "BRAVE_API_KEY"), timeout=timeout)
    if name == "tavily":
        return TavilyBackend(_key(cfg, "TAVILY_API_KEY"), timeout=timeout)
    if name in ("duckduckgo", "ddgs", "ddg"):
        return DDGSBackend()
    raise ValueError(
        f"unknown web search backend {name!r} (expected searxng, brave, tavily or duckduckgo)"
    )
