"""Ask a self-hosted server how long its context window is.

vLLM and SGLang list ``max_model_len`` for each model at ``GET /v1/models``; llama.cpp's
server (and llama-cpp-python's) reports ``n_ctx`` at ``GET /props``. A server that says
neither, or does not answer within a few seconds, leaves the configured window in place.
"""

from __future__ import annotations

from typing import Any

import httpx


def _window_from_models(body: Any, model: str) -> int | None:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    entries = [d for d in data if isinstance(d, dict)]
    mine = [d for d in entries if d.get("id") == model] or (entries if len(entries) == 1
                                                              else [])
    for entry in mine:
        for key in ("max_model_len", "context_length", "context_window"):
            if isinstance(entry.get(key), int) and entry[key] > 0:
                return int(entry[key])
    return None


def _window_from_props(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    settings = body.get("default_generation_settings")
    for source in (settings if isinstance(settings, dict) else {}, body):
        if isinstance(source.get("n_ctx"), int) and source["n_ctx"] > 0:
            return int(source["n_ctx"])
    return None


async def discover_context_window(base_url: str, model: str, api_key: str | None = None,
                                  timeout_s: float = 5.0) -> int | None:
    """The window the server at ``base_url`` (an OpenAI ``/v1`` URL) states, else None."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    root = base_url.rstrip("/")
    bare = root[:-3] if root.endswith("/v1") else root
    async with httpx.AsyncClient(timeout=timeout_s, headers=headers) as client:
        for url, read in ((f"{root}/models", lambda b: _window_from_models(b, model)),
                          (f"{bare}/props", _window_from_props)):
            try:
                response = await client.get(url)
                window = read(response.json()) if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                window = None
            if window is not None:
                return window
    return None
