"""A backend that replays recorded assistant turns: deterministic model behaviour for tests.

``script`` is either a list of assistant ``Message`` objects (played in order) or a policy
``(messages) -> Message`` deciding the next turn from the conversation. Turns are streamed
as reasoning deltas then content deltas, exactly like a real thinking API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from thinkact.backends.base import GenerationOptions
from thinkact.backends.tokens import estimate_request, estimate_tokens
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, Usage
from thinkact.tools.base import ToolSpec

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
