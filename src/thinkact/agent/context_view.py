"""The request view: the messages actually sent to the model, with running token counts.

The full history stays intact (in the trace and in ``RunResult.messages``); context
strategies only rewrite this view. Each message's estimate is computed once when it enters
the view, so knowing the request size is O(1) per step however long the run gets. The
estimate is scaled up when the API reports more prompt tokens than estimated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from thinkact.backends.tokens import estimate_message
from thinkact.messages import Message

REQUEST_OVERHEAD = 3
MAX_SCALE = 3.0
MIN_SCALE = 0.2


class ContextView:
    def __init__(self, messages: Iterable[Message] = (), tools_tokens: int = 0) -> None:
        self.messages: list[Message] = []
        self.tokens: list[int] = []
        self.tools_tokens = tools_tokens
        self.total = REQUEST_OVERHEAD
        self.scale = 1.0
        self.hidden_upto = 0  # strategies may record how far they already compacted
        for m in messages:
            self.append(m)

    def __len__(self) -> int:
        return len(self.messages)

    def append(self, msg: Message) -> None:
        n = estimate_message(msg)
        self.messages.append(msg)
        self.tokens.append(n)
        self.total += n

    def replace(self, index: int, msg: Message) -> None:
        n = estimate_message(msg)
        self.total += n - self.tokens[index]
        self.messages[index] = msg
        self.tokens[index] = n

    def splice(self, start: int, end: int, new: list[Message]) -> None:
        """Replace ``messages[start:end]`` with ``new``."""
        counts = [estimate_message(m) for m in new]
        self.total += sum(counts) - sum(self.tokens[start:end])
        self.messages[start:end] = new
        self.tokens[start:end] = counts
        self.hidden_upto = min(self.hidden_upto, start)

    def raw_estimate(self, with_tools: bool = True) -> int:
        return self.total + (self.tools_tokens if with_tools else 0)

    def estimate(self, with_tools: bool = True) -> int:
        """Prompt tokens of the next request, corrected by what the API reported."""
        return math.ceil(self.raw_estimate(with_tools) * self.scale)

    def calibrate(self, exact_tokens: int, with_tools: bool = True) -> None:
        """Scale the estimate to an exact count of the current view (up or down)."""
        raw = self.raw_estimate(with_tools)
        if exact_tokens > 0 and raw > 0:
            self.scale = min(max(exact_tokens / raw, MIN_SCALE), MAX_SCALE * 4)

    def observe(self, reported_prompt_tokens: int, raw_estimate_sent: int) -> None:
        """Learn from the API's prompt-token count for a request we estimated."""
        if reported_prompt_tokens > 0 and raw_estimate_sent > 0:
            ratio = reported_prompt_tokens / raw_estimate_sent
            self.scale = min(max(ratio, 1.0), MAX_SCALE)
