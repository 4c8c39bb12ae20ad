"""A thinking budget that means the same on every backend: reasoning tokens per model call.

Local models get *budget forcing*: when the call's reasoning reaches ``thinking_tokens`` the
decode loop emits the end-of-thinking token itself and the model goes on to its answer or
tool call; with ``min_thinking_tokens``, an end of thinking that comes earlier is replaced
by a continuation cue ("Wait", as in s1: Muennighoff et al., 2025), at most twice per call.
Remote models get what their API offers: ``max_tokens`` = the budget plus room for the
answer, and the provider's reasoning setting where it has one (OpenAI's
``reasoning_effort``, OpenRouter's ``reasoning.max_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ANSWER_ROOM = 4096  # tokens a remote call keeps for its answer or tool call past the budget
CUE = "Wait"
MAX_EXTENSIONS = 2


def effort(tokens: int) -> str:
    """OpenAI's three reasoning efforts, by budget."""
    return "low" if tokens <= 2048 else "medium" if tokens <= 16384 else "high"


def remote_fields(provider: str, tokens: int) -> dict[str, Any]:
    """Request fields that carry a reasoning budget of ``tokens`` to ``provider``."""
    if provider == "openai":
        return {"reasoning_effort": effort(tokens)}
    if provider == "openrouter":
        return {"reasoning": {"max_tokens": tokens}}
    return {}  # Moonshot, vLLM, DeepSeek, ...: max_tokens is the only lever


def remote_max_tokens(max_tokens: int, tokens: int) -> int:
    return min(max_tokens, tokens + ANSWER_ROOM)


@dataclass
class BudgetForcing:
    """The per-call rule a local decode loop consults (token ids, no model knowledge)."""

    budget: int | None
    min_tokens: int | None
    close: list[int]  # what to emit when the budget is reached (the end-of-thinking token)
    cue: list[int]  # what replaces an early end of thinking
    extended: int = 0
    closed: bool = field(default=False)

    def at_budget(self, in_reasoning: bool, spent: int) -> list[int]:
        """Tokens to force now: the end of thinking once ``spent`` reaches the budget."""
        if self.closed or not in_reasoning or self.budget is None or spent < self.budget:
            return []
        self.closed = True
        return list(self.close)

    def on_early_end(self, spent: int) -> list[int]:
        """Tokens to emit instead of an end of thinking the model chose after ``spent``
        reasoning tokens ([]: let it end)."""
        if self.closed or self.min_tokens is None or spent >= self.min_tokens or \
                self.extended >= MAX_EXTENSIONS:
            return []
        self.extended += 1
        return list(self.cue)


def forcing_for(options: Any, think_end: int, encode: Any) -> BudgetForcing | None:
    """The rule for a call's ``GenerationOptions`` (None when it sets no thinking budget)."""
    budget, least = options.thinking_tokens, options.min_thinking_tokens
    if budget is None and least is None:
        return None
    cue: Sequence[int] = encode(CUE) if least is not None else []
    return BudgetForcing(budget, least, [think_end], list(cue))
