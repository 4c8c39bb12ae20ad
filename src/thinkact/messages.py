"""The conversation's vocabulary, shared by every layer: messages, the tools declared to the
model, its calls and their results, token usage and its price.

An assistant turn carries three things side by side: ``reasoning`` (the model's thinking),
``content`` (what it says) and ``tool_calls``. Backends convert to and from their wire
format at the edge (OpenAI JSON in ``backends``, K2 tokens in ``chat_format``); nothing in
between knows about wire formats.

``reasoning`` distinguishes *absent* (``None``: the model produced no reasoning field) from
*empty* (``""``: the model produced an empty reasoning). Both are preserved exactly so that
reasoning is never dropped and never invented when sent back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolSpec(BaseModel):
    """What the model sees of a tool: OpenAI-style function declaration.

    ``declaration``: a client's tool entry exactly as it sent it (key order, ``strict`` and
    any other field); when set, it is what ``to_openai`` returns and the model sees.
    """

    name: str
    description: str
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    declaration: dict[str, Any] | None = Field(default=None, exclude=True, repr=False)

    def to_openai(self) -> dict[str, Any]:
        if self.declaration is not None:
            return self.declaration
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class ToolCall(BaseModel):
    """A call the model asked for. ``arguments`` is the raw text the model produced.

    ``truncated`` marks a call whose end marker never arrived (the output was cut off), so
    its arguments are incomplete; the Toolset reports that instead of running it.
    ``written_as`` names the text format a call was recovered from when the model wrote it
    as content (``hermes``, ``json``, ``llama3``, ``mistral``); ``None`` for a native call.
    """

    id: str
    name: str
    arguments: str = "{}"
    truncated: bool = False
    written_as: str | None = None

    def parse_arguments(self) -> dict[str, Any]:
        """Parse the raw JSON arguments; raises ``ValueError`` naming the problem."""
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not valid JSON ({exc.msg} at char {exc.pos})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
        return value


ErrorKind = Literal[
    "invalid_json", "unknown_tool", "invalid_arguments", "exception", "timeout", "rejected",
    "repeated", "budget",
]


class ToolResult(BaseModel):
    """The outcome of one tool call, as the model will see it. Errors are values, not raises."""

    call_id: str
    name: str
    content: str
    error: ErrorKind | None = None
    duration_s: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class Usage(BaseModel):
    """Token accounting for one model call (from the API when it reports it)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_m: float
    output_per_m: float
    cached_input_per_m: float | None = None

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float:
        cached_rate = self.cached_input_per_m
        if cached_rate is None:
            cached_rate, cached = self.input_per_m, 0
        fresh = max(prompt - cached, 0)
        return (fresh * self.input_per_m + cached * cached_rate
                + completion * self.output_per_m) / 1e6


class Message(BaseModel):
    """One chat message. ``tool_call_id`` and ``name`` are set on tool results."""

    role: Role
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=text)

    @classmethod
    def tool(cls, result: ToolResult) -> Message:
        return cls(
            role="tool", content=result.content, tool_call_id=result.call_id, name=result.name
        )
