"""An OpenAI-compatible chat-completions server over any ``ModelBackend``.

``thinkact serve-model`` puts a local checkpoint behind it, but nothing here knows about
torch: a remote or scripted backend can be served the same way. The wire shape follows what
K2 Thinking endpoints send (docs/k2.md, "API streaming"): ``reasoning_content`` deltas before any
``content`` delta, tool calls as OpenAI ``tool_calls`` deltas, usage with cached and
reasoning token details, and ``finish_reason`` ``stop`` / ``tool_calls`` / ``length``.
Request messages are converted with ``backends.wire`` (the same code the client side uses).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.wire import message_from_wire, message_to_wire
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolSpec, Usage


class RequestError(ValueError):
    """A bad request; becomes an HTTP 400 with OpenAI's error shape."""


def parse_tools(body: dict[str, Any]) -> list[ToolSpec]:
    if body.get("tool_choice") == "none":
        return []
    specs = []
    for i, entry in enumerate(body.get("tools") or []):
        fn = entry.get("function") if isinstance(entry, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise RequestError(f"tools[{i}] must be {{'type': 'function', 'function': "
                               "{'name': ...}}")
        specs.append(ToolSpec(name=fn["name"], description=fn.get("description") or "",
                              parameters=fn.get("parameters") or {"type": "object",
                                                                  "properties": {}},
                              declaration=entry))  # the model sees it as the client sent it
    return specs


def parse_messages(body: dict[str, Any]) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' must be a non-empty list")
    out = []
    for i, entry in enumerate(raw):
        try:
            msg = message_from_wire(entry)
        except (ValueError, TypeError) as exc:
            raise RequestError(f"messages[{i}]: {exc}") from exc
        out.append(msg)
    return out


def parse_options(body: dict[str, Any]) -> GenerationOptions:
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return GenerationOptions(max_tokens=max_tokens, temperature=body.get("temperature"),
                             top_p=body.get("top_p"), seed=body.get("seed"))


def usage_to_wire(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


class _Completion:
    """One request: parsed inputs plus the envelope fields every chunk repeats."""

    def __init__(self, backend: ModelBackend, body: dict[str, Any], model: str) -> None:
        self.backend = backend
        self.messages = parse_messages(body)
        self.tools = parse_tools(body)
        self.options = parse_options(body)
        self.model = str(body.get("model") or model)
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def envelope(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps({**self.envelope("chat.completion.chunk"), "choices": [choice]},
                          ensure_ascii=False)

    async def final(self) -> AssistantMessage:
        async for event in self.backend.stream(self.messages, self.tools, self.options):
            if isinstance(event, AssistantMessage):
                return event
        raise RuntimeError("backend ended without an assistant message")

    async def start(self) -> tuple[BackendEvent, AsyncIterator[BackendEvent]]:
        """The first event, awaited before any byte is sent so errors become an HTTP 400."""
        events = aiter(self.backend.stream(self.messages, self.tools, self.options))
        return await anext(events), events

    async def sse(self, first: BackendEvent, rest: AsyncIterator[BackendEvent]
                  ) -> AsyncIterator[dict[str, str]]:
        yield {"data": self.chunk({"role": "assistant"})}
        sent_reasoning = False

        async def all_events() -> AsyncIterator[BackendEvent]:
            yield first
            async for event in rest:
                yield event

        async for event in all_events():
            if isinstance(event, ReasoningDelta):
                sent_reasoning = True
                yield {"data": self.chunk({"reasoning_content": event.text})}
            elif isinstance(event, ContentDelta):
                yield {"data": self.chunk({"content": event.text})}
            elif isinstance(event, AssistantMessage):
                msg = event.message
                if msg.reasoning == "" and not sent_reasoning:  # empty, not absent
                    yield {"data": self.chunk({"reasoning_content": ""})}
                for i, call in enumerate(msg.tool_calls):
                    yield {"data": self.chunk({"tool_calls": [{
                        "index": i, "id": call.id, "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments}}]})}
                yield {"data": self.chunk({}, _finish(event))}
                if self.include_usage:
                    body = {**self.envelope("chat.completion.chunk"), "choices": [],
                            "usage": usage_to_wire(event.usage)}
                    yield {"data": json.dumps(body)}
        yield {"data": "[DONE]"}


def _finish(event: AssistantMessage) -> str:
    if event.message.tool_calls:
        return "tool_calls"
    return event.finish_reason if event.finish_reason in ("stop", "length") else "stop"


@dataclass
class Access:
    """Who may call the server. A web page the user has open can send simple cross-origin
    POSTs to a loopback port, and DNS rebinding can make such a page same-origin, so by
    default requests carrying an ``Origin`` header are refused, a server bound to loopback
    answers only loopback ``Host`` names, and POST bodies must be ``application/json``
    (which a page cannot send cross-origin without a preflight). ``api_key``: also require
    ``Authorization: Bearer <api_key>``. ``same_origin``: also accept an ``Origin`` equal to
    the request's own ``scheme://host`` (the web UI's own page; the Host rule still holds)."""

    api_key: str | None = None
    loopback_only: bool = True
    origins: frozenset[str] = frozenset()
    same_origin: bool = False

    def refusal(self, request: Request, post: bool) -> JSONResponse | None:
        host = _host_name(request.headers.get("host") or "")
        if self.loopback_only and host and not _loopback(host):
            return _error(403, f"host {host!r} refused: this server answers loopback names "
                               "only", "permission_error")
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is not None and origin not in self.origins and not (
                self.same_origin and origin == own):
            return _error(403, f"origin {origin!r} refused (browser requests are not "
                               "accepted)", "permission_error")
        given = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
        if self.api_key is not None and not secrets.compare_digest(
                given, f"Bearer {self.api_key}".encode()):
            return _error(401, "missing or wrong API key", "authentication_error")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if post and ctype != "application/json":
            return _error(415, f"content type must be application/json, not {ctype!r}")
        return None


def _host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _loopback(name: str) -> bool:
    if name.rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def access_for(host: str, key_env: str | None) -> Access:
    """The access rule for a server bound to ``host``, keyed by the variable ``key_env``
    (None: no key). Raises ``ValueError`` when the variable is unset or empty."""
    key = None
    if key_env is not None:
        key = os.environ.get(key_env)
        if not key:
            raise ValueError(f"--key-env {key_env}: the variable is unset or empty")
    return Access(api_key=key, loopback_only=_loopback(host))


def create_app(backend: ModelBackend, model_name: str | None = None,
               access: Access | None = None) -> FastAPI:
    """The FastAPI app: ``GET /v1/models``, ``POST /v1/chat/completions``."""
    name = model_name or backend.model_name
    guard = access or Access()
    # no /docs, /redoc, /openapi.json: they would answer outside ``Access``
    app = FastAPI(title="thinkact model server", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.get("/v1/models", response_model=None)
    async def models(request: Request) -> Any:
        if (refused := guard.refusal(request, post=False)) is not None:
            return refused
        return {"object": "list", "data": [{
            "id": name, "object": "model", "created": 0, "owned_by": "thinkact",
            "context_window": backend.context_window}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        if (refused := guard.refusal(request, post=True)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        try:
            completion = _Completion(backend, body, name)
            if body.get("stream"):
                first, rest = await completion.start()
                return EventSourceResponse(completion.sse(first, rest), ping=15)
            event = await completion.final()
        except ValueError as exc:  # RequestError, or the backend refusing (context too long)
            return _error(400, str(exc))
        message = message_to_wire(event.message)
        return {**completion.envelope("chat.completion"), "choices": [{
            "index": 0, "message": message, "finish_reason": _finish(event)}],
            "usage": usage_to_wire(event.usage)}

    return app
