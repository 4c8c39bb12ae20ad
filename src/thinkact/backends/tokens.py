"""A cheap, tokenizer-free token estimate.

The loop needs a number every step to size ``max_tokens`` and decide when to compact the
context; tokenizing the whole history each step would make a step O(history). Characters /
3.5 plus a per-message overhead is close enough for English and code, and the loop corrects
it with the prompt-token count the API reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

from thinkact.messages import Message
from thinkact.tools.base import ToolSpec

CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD = 4


def estimate_text(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def message_chars(msg: Message) -> int:
    n = len(msg.content or "") + len(msg.reasoning or "")
    for call in msg.tool_calls:
        n += len(call.id) + len(call.name) + len(call.arguments)
    return n


def estimate_message(msg: Message) -> int:
    return MESSAGE_OVERHEAD + estimate_text(message_chars(msg))


def estimate_tools(tools: Sequence[ToolSpec]) -> int:
    if not tools:
        return 0
    return estimate_text(len(json.dumps([t.to_openai() for t in tools])))


def estimate_request(messages: Iterable[Message], tools: Sequence[ToolSpec]) -> int:
    return sum(estimate_message(m) for m in messages) + estimate_tools(tools) + 3
