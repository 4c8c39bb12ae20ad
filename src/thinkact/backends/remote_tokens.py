"""Exact prompt-token counts from a server that tokenizes on request.

vLLM (and SGLang) count a whole chat request at ``POST /tokenize`` (``{"model", "messages",
"tools"}`` -> ``{"count": N}``). llama.cpp's server renders the chat with
``POST /apply-template`` (-> ``{"prompt"}``) and counts text at ``POST /tokenize``
(``{"content"}`` -> ``{"tokens": [...]}``). llama-cpp-python's server counts text at
``POST /extras/tokenize/count`` (``{"input"}`` -> ``{"count"}``). The rule: the first dialect
that answers is kept; a server that speaks none is not asked again (``None``: estimate).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from thinkact.backends.tokens import MESSAGE_OVERHEAD, estimate_tokens

DIALECTS = ("vllm", "llama.cpp", "llama-cpp-python")


def _text(message: dict[str, Any]) -> str:
    calls = "".join(c["function"]["name"] + c["function"]["arguments"]
                    for c in message.get("tool_calls") or [])
    return str(message.get("content") or "") + str(message.get("reasoning_content") or "") + calls


class RemoteTokenizer:
    """Counts a request's prompt tokens with the server's own tokenizer."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout_s: float = 10.0) -> None:
        root = base_url.rstrip("/")
        self.root = root[:-3] if root.endswith("/v1") else root
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s
        self.dialect: str | None = None  # found by the first count
        self.unavailable = False

    async def count(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
                    ) -> int | None:
        """Prompt tokens of ``messages`` (OpenAI wire form) and ``tools``; None: can't."""
        if self.unavailable:
            return None
        async with httpx.AsyncClient(timeout=self.timeout_s, headers=self.headers) as client:
            for dialect in [self.dialect] if self.dialect else DIALECTS:
                try:
                    n = await self._count(client, dialect, messages, tools)
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    n = None
                if n is not None:
                    self.dialect = dialect
                    return n
        if self.dialect is None:
            self.unavailable = True
        return None

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        response = await client.post(self.root + path, json=body)
        return response.json() if response.status_code == 200 else None

    async def _count(self, client: httpx.AsyncClient, dialect: str,
                     messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int | None:
        # tools: counted by the server where its endpoint takes them, else estimated
        tools_tokens = estimate_tokens(json.dumps(tools, ensure_ascii=False)) if tools else 0
        if dialect == "vllm":
            body: dict[str, Any] = {"model": self.model, "messages": messages,
                                    "add_generation_prompt": True}
            if tools:
                body["tools"] = tools
            out = await self._post(client, "/tokenize", body)
            return int(out["count"]) if isinstance(out, dict) and "count" in out else None
        if dialect == "llama.cpp":
            # with --jinja the template renders the tools too; without, they are refused
            rendered = await self._post(client, "/apply-template",
                                        {"messages": messages, "tools": tools} if tools
                                        else {"messages": messages})
            if rendered is None and tools:
                rendered = await self._post(client, "/apply-template", {"messages": messages})
            else:
                tools_tokens = 0
            if not isinstance(rendered, dict) or not isinstance(rendered.get("prompt"), str):
                return None
            out = await self._post(client, "/tokenize", {"content": rendered["prompt"]})
            return len(out["tokens"]) + tools_tokens if isinstance(out, dict) else None
        text = "".join(_text(m) for m in messages)  # llama-cpp-python: text, not template
        out = await self._post(client, "/extras/tokenize/count",
                               {"model": self.model, "input": text})
        if not isinstance(out, dict) or "count" not in out:
            return None
        return int(out["count"]) + MESSAGE_OVERHEAD * len(messages) + tools_tokens
