"""A backend that replays recorded assistant turns: deterministic model behaviour for tests.

``script`` is either a list of assistant ``Message`` objects (played in order) or a policy
``(messages) -> Message`` deciding the next turn from the conversation. Turns are streamed
as reasoning deltas then content deltas, exactly like a real thinking API.

``ScriptFileBackend`` (``thinkact.backend("scripted", script=FILE)``, ``--provider
scripted --script FILE``) plays turns from a JSON file: a list of ``{"reasoning": ...,
"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}`` or ``{"turns": [...],
"delay_s": 0.05}``. The turn played is chosen by the number of assistant messages already in
the conversation, so a resumed run continues the script where the trace left it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from thinkact.backends.base import GenerationOptions
from thinkact.backends.config import ConfigError
from thinkact.backends.tokens import estimate_request, estimate_tokens
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolCall, ToolSpec, Usage

Policy = Callable[[Sequence[Message]], Message]


class ScriptExhausted(RuntimeError):
    """The test asked the scripted model for more turns than it was given."""


class ScriptedBackend:
    def __init__(
        self,
        script: Sequence[Message] | Policy,
        *,
        model_name: str = "scripted",
        context_window: int = 262144,
        chunk_chars: int = 16,
        record: bool = True,
    ) -> None:
        self._policy = script if callable(script) else None
        self._turns = [] if callable(script) else list(script)
        self._model = model_name
        self._window = context_window
        self.chunk_chars = chunk_chars
        self.record = record
        self.requests: list[tuple[list[Message], list[str], GenerationOptions]] = []
        self.calls = 0

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        return estimate_request(messages, tools)

    def _next_turn(self, messages: Sequence[Message]) -> Message:
        if self._policy is not None:
            return self._policy(messages)
        if self.calls >= len(self._turns):
            raise ScriptExhausted(
                f"scripted backend has {len(self._turns)} turns; call {self.calls + 1} asked"
            )
        return self._turns[self.calls]

    def _chunks(self, text: str) -> list[str]:
        n = max(1, self.chunk_chars)
        return [text[i:i + n] for i in range(0, len(text), n)]

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], options: GenerationOptions
    ) -> AsyncIterator[BackendEvent]:
        if self.record:
            self.requests.append((list(messages), [t.name for t in tools], options))
        turn = self._next_turn(messages)
        self.calls += 1
        for piece in self._chunks(turn.reasoning or ""):
            yield ReasoningDelta(text=piece)
        for piece in self._chunks(turn.content or ""):
            yield ContentDelta(text=piece)
        reasoning = estimate_tokens(turn.reasoning or "")
        usage = Usage(
            prompt_tokens=0,  # unknown without an O(history) count; the loop estimates it
            completion_tokens=reasoning + estimate_tokens(turn.content or ""),
            reasoning_tokens=reasoning,
        )
        yield AssistantMessage(
            message=turn.model_copy(update={"role": "assistant"}), usage=usage,
            finish_reason="tool_calls" if turn.tool_calls else "stop",
        )


class ScriptFileBackend(ScriptedBackend):
    """``ScriptedBackend`` playing turns from a JSON file, optionally slowed per chunk
    (``delay_s``: seconds per chunk; None: the file's own ``delay_s``)."""

    def __init__(self, path: Path, *, model_name: str = "scripted",
                 delay_s: float | None = None) -> None:
        turns, delay = load_script(path)
        self.turns = turns
        super().__init__(self._policy_for, model_name=model_name, record=False)
        self.delay_s = float(delay if delay_s is None else delay_s)

    def _policy_for(self, messages: Sequence[Message]) -> Message:
        index = sum(m.role == "assistant" for m in messages)
        if index >= len(self.turns):
            raise ScriptExhausted(f"the script has {len(self.turns)} turns; turn {index + 1} "
                                  "was asked for")
        return self.turns[index]

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        async for event in super().stream(messages, tools, options):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield event


def load_script(path: Path) -> tuple[list[Message], float]:
    """The turns of a script file and its per-chunk delay; ``ConfigError`` when malformed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read script {path}: {exc}") from None
    delay = 0.0
    if isinstance(data, dict):
        delay = float(data.get("delay_s", 0.0))
        data = data.get("turns")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"script {path} must be a non-empty JSON list of assistant turns "
                          "(or an object with a 'turns' list)")
    return [_turn(t, i) for i, t in enumerate(data)], delay


def _turn(raw: Any, i: int) -> Message:
    if not isinstance(raw, dict):
        raise ConfigError(f"script turn {i + 1} must be an object, got {type(raw).__name__}")
    calls = []
    for j, c in enumerate(raw.get("tool_calls") or []):
        args = c.get("arguments", {})
        calls.append(ToolCall(id=c.get("id") or f"call_{i + 1}_{j}", name=c["name"],
                              arguments=args if isinstance(args, str) else json.dumps(args)))
    return Message(role="assistant", content=raw.get("content"),
                   reasoning=raw.get("reasoning"), tool_calls=calls)
