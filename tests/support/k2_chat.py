"""Shared fixtures for chat-format and local-backend tests: a tiny trained K2 tokenizer and
the example conversation of the K2 chat template."""

from __future__ import annotations

from functools import lru_cache

from thinkact.chat_format.tokenizer import K2Tokenizer, train_tokenizer
from thinkact.messages import Message, ToolCall, ToolSpec

CORPUS = [
    "I'll check the weather. The quick brown fox jumps over the lazy dog.",
    'Arguments: {"city": "Beijing"} {"city": "Tokyo"} {"html": "<div>content</div>"}',
    "Let me think step by step about this problem, then give a final answer.",
    "Sunny with a high of 25 degrees. Rain expected tomorrow in Shanghai and Paris.",
    "北京天气晴朗。东京下雨。我们需要调用工具。 It's 12345 and they're 678.",
    "def add(a, b):\n    return a + b\n\nprint(add(17, 23))\n",
    '{"name": "test", "value": 123, "nested": {"a": [1, 2, 3]}}',
]

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]},
)


@lru_cache(maxsize=1)
def tiny_tokenizer() -> K2Tokenizer:
    """Trained once per test process (a fraction of a second)."""
    return train_tokenizer(CORPUS * 20, vocab_size=600)


def example_conversation() -> list[Message]:
    """Two user turns, each with a weather tool call; provider-style ids."""
    return [
        Message.user("Q1"),
        Message(role="assistant", reasoning="R1a", tool_calls=[
            ToolCall(id="call_abc", name="get_weather", arguments='{"city": "Beijing"}')]),
        Message(role="tool", content="Sunny", tool_call_id="call_abc"),
        Message(role="assistant", reasoning="R1b", content="A1"),
        Message.user("Q2"),
        Message(role="assistant", reasoning="R2a", tool_calls=[
            ToolCall(id="call_xyz", name="get_weather", arguments='{"city": "Tokyo"}')]),
        Message(role="tool", content="Rain", tool_call_id="call_xyz"),
    ]
