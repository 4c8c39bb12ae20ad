"""Any OpenAI-compatible chat-completions endpoint (Moonshot, vLLM, SGLang, OpenRouter, ...).

One ``stream`` call is one model turn. Each attempt streams reasoning deltas, then content
deltas, while tool-call fragments are assembled; only an attempt that reaches a finish
reason yields the ``AssistantMessage``. A failed attempt (429, 5xx, timeout, dropped stream)
yields a ``Retry`` and starts over, so a half-received answer is never recorded. The SDK's
own retries are off so that ours are the only ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from openai import AsyncOpenAI

from thinkact.backends.base import GenerationOptions
from thinkact.backends.config import BackendConfig
from thinkact.backends.discovery import discover_context_window
from thinkact.backends.remote_tokens import RemoteTokenizer
from thinkact.backends.retry import (
    BackendError,
    EmptyStream,
    IncompleteStream,
    RetryPolicy,
    describe,
    is_context_overflow,
    is_retryable,
    is_unreachable,
    retry_after_s,
    window_in,
)
from thinkact.backends.text_calls import with_text_calls
from thinkact.backends.thinking import remote_fields, remote_max_tokens
from thinkact.backends.tokens import estimate_request, estimate_tokens
from thinkact.backends.wire import (
    k2_call_ids,
    message_from_wire,
    read_field,
    read_reasoning,
    to_wire,
)
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta, Retry
from thinkact.messages import Message, Price, ToolCall, ToolSpec, Usage

FIRST_CONTACT_ATTEMPTS = 3  # a server that refuses the very first call is tried this often


def usage_from_wire(obj: Any) -> Usage:
    """API usage, including reasoning and cached tokens where the provider reports them."""
    details = read_field(obj, "completion_tokens_details")
    prompt_details = read_field(obj, "prompt_tokens_details")
    cached = read_field(prompt_details, "cached_tokens") or read_field(obj, "cached_tokens")
    return Usage(
        prompt_tokens=read_field(obj, "prompt_tokens") or 0,
        completion_tokens=read_field(obj, "completion_tokens") or 0,
        reasoning_tokens=read_field(details, "reasoning_tokens") or 0,
        cached_tokens=cached or 0,
    )


def _sdk_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """Send the body through ``extra_body``, which the SDK merges into the JSON untouched.

    The SDK otherwise walks every message through its TypedDict transformer: ~0.3 ms per
    message per request, which made request building quadratic over a 300-step run (tens of
    seconds). The JSON on the wire is the same.
    """
    body = dict(request)
    body.update(body.pop("extra_body", {}))
    return {"model": body.pop("model"), "messages": [], "extra_body": body}


def _mark_cut_calls(message: Message) -> Message:
    """The calls of an output cut at max_tokens whose arguments did not get to end."""
    def cut(call: ToolCall) -> bool:
        try:
            call.parse_arguments()
        except ValueError:
            return True
        return False

    calls = [c.model_copy(update={"truncated": True}) if cut(c) else c
             for c in message.tool_calls]
    return message.model_copy(update={"tool_calls": calls})


class _Turn:
    """Accumulates one streamed attempt."""

    def __init__(self) -> None:
        self.reasoning: str | None = None
        self.content: str | None = None
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def add_tool_delta(self, delta: Any) -> None:
        index = read_field(delta, "index") or 0
        slot = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        if read_field(delta, "id"):
            slot["id"] = read_field(delta, "id")
        fn = read_field(delta, "function")
        if read_field(fn, "name") and not slot["name"]:
            slot["name"] = read_field(fn, "name")
        slot["arguments"] += read_field(fn, "arguments") or ""

    def message(self) -> Message:
        calls = [
            ToolCall(id=s["id"] or f"functions.{s['name']}:{i}", name=s["name"],
                     arguments=s["arguments"])
            for i, s in sorted(self.calls.items())
        ]
        return Message(role="assistant", content=self.content, reasoning=self.reasoning,
                       tool_calls=calls)


class OpenAIBackend:
    """``ModelBackend`` over the ``openai`` SDK's ``AsyncOpenAI`` client."""

    def __init__(
        self, config: BackendConfig, *, client: AsyncOpenAI | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy(
            config.max_attempts, config.retry_base_delay_s, config.retry_max_delay_s,
            total_s=config.retry_total_s,
        )
        self.reached = False  # has any call got through? (then a refused connection is news)
        self._discovered = not config.discover_context_window
        self.tokenizer = (RemoteTokenizer(config.base_url, config.model, config.api_key)
                          if config.tokenize else None)
        self.client = client or AsyncOpenAI(
            base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_s,
            max_retries=0, default_headers=config.extra_headers or None,
        )

    @property
    def model_name(self) -> str:
        return self.config.model

    @property
    def context_window(self) -> int:
        return self.config.context_window

    @property
    def price(self) -> Price | None:
        return self.config.price

    async def prepare(self) -> None:
        """Before the first call: learn the server's context window where it states one
        (``discover_context_window``); once per backend."""
        if self._discovered:
            return
        self._discovered = True
        cfg = self.config
        window = await discover_context_window(cfg.base_url, cfg.model, cfg.api_key)
        if window is not None:
            cfg.context_window = window

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        return estimate_request(messages, tools)

    async def count_exact(self, messages: Sequence[Message], tools: Sequence[ToolSpec]
                          ) -> int | None:
        """The prompt tokens as the server counts them (``RemoteTokenizer``); None where the
        server has no tokenize endpoint (then the loop keeps its estimate)."""
        if self.tokenizer is None or self.tokenizer.unavailable:
            return None
        request = self.build_request(messages, tools, GenerationOptions())
        return await self.tokenizer.count(request["messages"], request.get("tools", []))

    def build_request(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], options: GenerationOptions
    ) -> dict[str, Any]:
        """The chat-completions request body (without ``stream``)."""
        cfg = self.config
        room = cfg.context_window - estimate_request(messages, tools)  # never ask for more
        max_tokens = room if options.max_tokens is None else min(options.max_tokens, room)
        if cfg.max_tokens is not None:
            max_tokens = min(max_tokens, cfg.max_tokens)
        sent = messages if cfg.send_reasoning else [
            m.model_copy(update={"reasoning": None}) for m in messages
        ]
        if cfg.k2_call_ids:
            sent = k2_call_ids(sent)
        request: dict[str, Any] = {
            "model": cfg.model,
            "messages": to_wire(sent, cfg.reasoning_field),
            cfg.max_tokens_param: max(1, max_tokens),
        }
        if tools:
            request["tools"] = [t.to_openai() for t in tools]
            request["tool_choice"] = "auto"
        for key, value in (("temperature", options.temperature), ("top_p", options.top_p),
                           ("seed", options.seed)):
            default = getattr(cfg, key, None)
            if value is not None or default is not None:
                request[key] = value if value is not None else default
        budget = {}
        if options.thinking_tokens is not None:  # the same budget as a local model's
            budget = remote_fields(cfg.provider, options.thinking_tokens)
            request[cfg.max_tokens_param] = remote_max_tokens(
                request[cfg.max_tokens_param], options.thinking_tokens)
        extra = {**budget, **cfg.extra_body, **options.extra}
        if extra:
            request["extra_body"] = extra
        return request

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], options: GenerationOptions
    ) -> AsyncIterator[BackendEvent]:
        await self.prepare()
        request = self.build_request(messages, tools, options)
        once = self._stream_once if self.config.stream else self._complete_once
        attempt, started = 0, time.monotonic()
        while True:
            attempt += 1
            deltas = 0
            try:
                async for event in once(request):
                    deltas += isinstance(event, ReasoningDelta | ContentDelta)
                    yield self._recover_text_calls(event, tools)
                self.reached = True
                return
            except Exception as exc:
                if isinstance(exc, EmptyStream):
                    once = self._complete_once  # the plain request shows what went wrong
                status = getattr(exc, "status_code", None)
                if not is_retryable(exc):
                    error = BackendError(describe(exc), status=status, attempts=attempt)
                    self._learn_window(error)
                    raise error from exc
                if not self.reached and is_unreachable(exc) and attempt >= FIRST_CONTACT_ATTEMPTS:
                    raise BackendError(
                        f"cannot reach {self.config.base_url} ({describe(exc)}): is the server "
                        "running there? Check --base-url (or THINKACT_BASE_URL, or base_url "
                        "in the config file)", attempts=attempt) from exc
                delay = self.retry.delay(attempt, retry_after_s(exc))
                if not self.reached and is_unreachable(exc):
                    delay = min(delay, 1.0)  # a first contact that fails is likely a typo
                spent = time.monotonic() - started
                if attempt >= self.retry.max_attempts or spent + delay > self.retry.total_s:
                    raise BackendError(
                        f"gave up after {attempt} attempts in {spent:.0f}s: {describe(exc)}",
                        status=status, attempts=attempt,
                    ) from exc
                yield Retry(attempt=attempt, error=describe(exc), delay_s=delay,
                            discard_deltas=deltas)
                await asyncio.sleep(delay)

    def _learn_window(self, error: BackendError) -> None:
        """A refusal that states a window smaller than the configured one: that is the
        server's real window, so the next request is sized to it."""
        stated = window_in(str(error)) if is_context_overflow(error) else None
        if stated is not None and 0 < stated < self.config.context_window:
            self.config.context_window = stated

    def _recover_text_calls(self, event: BackendEvent, tools: Sequence[ToolSpec]
                            ) -> BackendEvent:
        """Calls cut at max_tokens are marked ``truncated``; with ``tool_call_text = "auto"``
        an answer that is nothing but calls to declared tools, written as text, becomes
        those calls (each marked with its format)."""
        if not isinstance(event, AssistantMessage):
            return event
        if event.finish_reason == "length" and event.message.tool_calls:
            event = event.model_copy(update={"message": _mark_cut_calls(event.message)})
        if self.config.tool_call_text != "auto" or not tools:
            return event
        return with_text_calls(event, {t.name for t in tools})

    async def _stream_once(self, request: dict[str, Any]) -> AsyncIterator[BackendEvent]:
        started = time.monotonic()
        extra = {"stream_options": {"include_usage": True}} if self.config.stream_usage else {}
        create: Any = self.client.chat.completions.create
        stream = await create(**_sdk_arguments({**request, **extra}), stream=True)
        turn, chunks = _Turn(), 0
        try:
            async for chunk in stream:
                chunks += 1
                if chunk.usage is not None:
                    turn.usage = usage_from_wire(chunk.usage)
                for choice in chunk.choices[:1]:
                    if read_field(choice, "usage"):  # Moonshot puts usage in the last choice
                        turn.usage = usage_from_wire(read_field(choice, "usage"))
                    delta = choice.delta
                    reasoning = read_reasoning(delta)
                    if reasoning is not None:
                        turn.reasoning = (turn.reasoning or "") + reasoning
                        if reasoning:
                            yield ReasoningDelta(text=reasoning)
                    if delta.content:
                        turn.content = (turn.content or "") + delta.content
                        yield ContentDelta(text=delta.content)
                    for call_delta in delta.tool_calls or []:
                        turn.add_tool_delta(call_delta)
                    if choice.finish_reason:
                        turn.finish_reason = choice.finish_reason
        finally:
            await stream.close()
        if chunks == 0:
            raise EmptyStream("the stream ended before its first chunk")
        if turn.finish_reason is None:
            raise IncompleteStream("stream ended before the model finished its turn")
        message = turn.message()
        yield AssistantMessage(
            message=message, usage=turn.usage or self._estimate_usage(request, message),
            finish_reason=turn.finish_reason, duration_s=time.monotonic() - started,
        )

    async def _complete_once(self, request: dict[str, Any]) -> AsyncIterator[BackendEvent]:
        started = time.monotonic()
        create: Any = self.client.chat.completions.create
        response = await create(**_sdk_arguments(request), stream=False)
        if not response.choices:
            raise IncompleteStream("response has no choices")
        choice = response.choices[0]
        message = message_from_wire(choice.message).model_copy(update={"role": "assistant"})
        if message.reasoning:
            yield ReasoningDelta(text=message.reasoning)
        if message.content:
            yield ContentDelta(text=message.content)
        usage = (usage_from_wire(response.usage) if response.usage is not None
                 else self._estimate_usage(request, message))
        yield AssistantMessage(message=message, usage=usage, finish_reason=choice.finish_reason,
                               duration_s=time.monotonic() - started)

    def _estimate_usage(self, request: dict[str, Any], message: Message) -> Usage:
        """Usage when the provider reports none, so budgets still count something."""
        prompt = sum(estimate_tokens(str(m)) for m in request["messages"])
        reasoning = estimate_tokens(message.reasoning or "")
        completion = reasoning + estimate_tokens(message.content or "") + sum(
            estimate_tokens(c.arguments) for c in message.tool_calls)
        return Usage(prompt_tokens=prompt, completion_tokens=completion,
                     reasoning_tokens=reasoning)

    async def aclose(self) -> None:
        await self.client.close()
