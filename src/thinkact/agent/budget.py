"""What a run may spend, what it has spent, and the one check between them.

The loop asks ``Budget.exhausted(spend)`` before every step; when it answers with a reason
the loop does not crash or cut off: it asks the model once more, without tools, for its best
final answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from thinkact.backends.presets import Price
from thinkact.backends.tokens import estimate_text
from thinkact.messages import Message, Usage


@dataclass
class Budget:
    max_steps: int | None = 300
    max_tool_calls: int | None = None
    max_thinking_tokens_per_step: int | None = None  # sent as the step's max_tokens
    max_thinking_tokens: int | None = None  # reasoning tokens over the whole run
    max_wall_time_s: float | None = None
    max_cost_usd: float | None = None
    price: Price | None = None  # overrides the backend's price for cost accounting

    def exhausted(self, spend: Spend) -> str | None:
        """Why the run must stop now, or ``None`` while there is budget left."""
        limits: list[tuple[str, float | None, float]] = [
            ("max_steps", self.max_steps, spend.steps),
            ("max_tool_calls", self.max_tool_calls, spend.tool_calls),
            ("max_thinking_tokens", self.max_thinking_tokens, spend.thinking_tokens),
            ("max_wall_time_s", self.max_wall_time_s, spend.elapsed_s()),
            ("max_cost_usd", self.max_cost_usd, spend.cost_usd),
        ]
        for name, limit, used in limits:
            if limit is not None and used >= limit:
                return f"budget exhausted: {name}={limit:g} reached (used {used:g})"
        return None

    def tool_calls_left(self, spend: Spend) -> int | None:
        if self.max_tool_calls is None:
            return None
        return max(self.max_tool_calls - spend.tool_calls, 0)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "price" and v is not None}


@dataclass
class Spend:
    steps: int = 0
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def add_model_call(self, usage: Usage, message: Message, price: Price | None) -> None:
        self.usage = self.usage + usage
        # Providers that do not report reasoning tokens still spend them: estimate.
        self.thinking_tokens += usage.reasoning_tokens or estimate_text(
            len(message.reasoning or ""))
        if price is not None:
            self.cost_usd += price.cost(usage.prompt_tokens, usage.completion_tokens,
                                        usage.cached_tokens)
