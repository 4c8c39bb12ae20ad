"""The model-backend protocol: one async stream per model call.

A backend turns (messages, tool specs) into a stream of ``ReasoningDelta`` / ``ContentDelta``
/ ``Retry`` events that ends with exactly one ``AssistantMessage`` holding the complete
message and its usage. Remote APIs, the in-process local model and the scripted test model
all implement it; the agent loop knows nothing else about them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from thinkact.events import BackendEvent
from thinkact.messages import Message, ToolSpec


@dataclass
class GenerationOptions:
    """Per-call sampling settings. ``None`` means the backend's / provider's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    thinking_tokens: int | None = None  # reasoning budget of the call: ``backends.thinking``
    min_thinking_tokens: int | None = None  # local models: an earlier end of thinking waits


@runtime_checkable
class ModelBackend(Protocol):
    """Anything that can stream one assistant turn."""

    @property
    def model_name(self) -> str: ...

    @property
    def context_window(self) -> int:
        """Tokens the model accepts (prompt + completion)."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        options: GenerationOptions,
    ) -> AsyncIterator[BackendEvent]: ...

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        """Estimate (or count exactly) the prompt tokens of a request."""
        ...
