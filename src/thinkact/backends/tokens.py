"""A cheap, tokenizer-free token estimate that holds for every script.

The loop needs a number every step to size ``max_tokens`` and decide when to compact the
context; tokenizing the whole history each step would make a step O(history). Latin text
and code: characters / 3.5. Every other script (CJK, Cyrillic, Arabic, Devanagari, emoji,
...) one token per character: BPE vocabularies hold far fewer of their pieces, and an
estimate must not fall below what the server counts (20,000 Chinese characters are about
20,000 tokens, not 5,700). The loop further corrects it with the prompt-token count the API
reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from thinkact.messages import Message, ToolSpec
from thinkact.token_estimate import CHARS_PER_TOKEN, estimate_text, estimate_tokens

__all__ = ["CHARS_PER_TOKEN", "estimate_message", "estimate_request", "estimate_text",
           "estimate_tokens", "estimate_tools"]

MESSAGE_OVERHEAD = 4


def message_texts(msg: Message) -> list[str]:
    texts = [msg.content or "", msg.reasoning or ""]
    for call in msg.tool_calls:
        texts += [call.id, call.name, call.arguments]
    return texts


def estimate_message(msg: Message) -> int:
    return MESSAGE_OVERHEAD + estimate_tokens("".join(message_texts(msg)))


def estimate_tools(tools: Sequence[ToolSpec]) -> int:
    if not tools:
        return 0
    return estimate_tokens(json.dumps([t.to_openai() for t in tools], ensure_ascii=False))


def estimate_request(messages: Iterable[Message], tools: Sequence[ToolSpec]) -> int:
    return sum(estimate_message(m) for m in messages) + estimate_tools(tools) + 3
