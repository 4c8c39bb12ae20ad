"""What a run may spend, what it has spent, and the checks between them.

The loop asks ``Budget.exhausted(spend)`` before every step; when it answers with a reason
the loop does not crash: it asks the model once more, without tools, for its best final
answer. Counted budgets (steps, tool calls, tokens, cost) can only be crossed by a finished
call, so a check between steps is enough. Wall time is different: one model stream or tool
batch can run for minutes, so ``max_wall_time_s`` is also a real deadline (``Deadline``) that
cuts off whatever step is still running when it passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from thinkact.backends.tokens import estimate_tokens
from thinkact.messages import Message, Price, Usage


@dataclass
class Budget:
    max_steps: int | None = 300
    max_tool_calls: int | None = None
    max_thinking_tokens_per_step: int | None = None  # sent as the step's max_tokens
    thinking_tokens_per_step: int | None = None  # reasoning per step; the answer still comes
    max_thinking_tokens: int | None = None  # reasoning tokens over the whole run
    max_wall_time_s: float | None = None  # a deadline, see ``Deadline``
    final_answer_grace_s: float = 30.0  # see ``Deadline``; 0: no final call after it
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
        self.thinking_tokens += usage.reasoning_tokens or estimate_tokens(message.reasoning or "")
        if price is not None:
            self.cost_usd += price.cost(usage.prompt_tokens, usage.completion_tokens,
                                        usage.cached_tokens)


T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The step in progress was cut off at the wall-time deadline (``str``: the reason)."""


@dataclass
class Deadline:
    """``max_wall_time_s`` as a point in time, enforced inside steps, not just between them.

    A step (model call(s), tool batch) still running at ``at`` is cancelled: ``bound`` raises
    ``DeadlineExceeded`` and the loop leaves that step without its ``StepFinished``, as a kill
    would, so the trace and the resume rule stay as they are for killed runs. The usual
    tool-less "best final answer" call after a stop is then given ``grace_s`` more seconds
    (``Budget.final_answer_grace_s``); a run therefore never ends more than ``grace_s`` after
    its deadline. ``grace_s == 0`` skips that call after a wall-time stop: the run ends at the
    deadline with no answer. Wall time counts from the start of each run segment: a resumed
    run gets the whole ``max_wall_time_s`` again.
    """

    at: float | None  # time.monotonic() of the deadline; None: no wall-time budget
    limit_s: float = 0.0
    grace_s: float = 0.0

    @classmethod
    def of(cls, budget: Budget, spend: Spend) -> Deadline:
        if budget.max_wall_time_s is None:
            return cls(None)
        return cls(spend.started + budget.max_wall_time_s, budget.max_wall_time_s,
                   max(budget.final_answer_grace_s, 0.0))

    @property
    def reason(self) -> str:
        return f"budget exhausted: max_wall_time_s={self.limit_s:g} reached (deadline)"

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    async def bound(self, step: AsyncGenerator[T, None], final: bool = False
                    ) -> AsyncIterator[T]:
        """``step``'s items, cut off at the deadline (plus the grace for a ``final`` call)."""
        if self.at is None:  # no wall-time budget: no timer per event
            async for item in step:
                yield item
            return
        when = self.at + (self.grace_s if final else 0.0)
        while True:
            if time.monotonic() >= when:  # cut even a step that never waits
                await step.aclose()
                raise DeadlineExceeded(self.reason)
            try:
                async with asyncio.timeout_at(when) as scope:
                    item = await anext(step)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not scope.expired():  # a TimeoutError of the step's own
                    raise
                raise DeadlineExceeded(self.reason) from None
            yield item
