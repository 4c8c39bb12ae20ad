"""Spotting a model that is stuck calling the same tool with the same arguments.

Arguments are compared as normalised JSON (key order and spacing do not matter). At
``warn_at`` repeats the model gets a reminder in the conversation; at ``stop_at`` the call
is not run and the run stops with that reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from thinkact.messages import Message, ToolCall

Verdict = Literal["ok", "warn", "stop"]


@dataclass
class RepeatPolicy:
    warn_at: int | None = 3
    stop_at: int | None = 5
    reminder: str = (
        "[notice] You have called {name} with the same arguments {count} times. Repeating it "
        "will not give a different result: use what you have, try something else, or answer."
    )


def call_key(call: ToolCall) -> str:
    try:
        args = json.dumps(call.parse_arguments(), sort_keys=True, separators=(",", ":"))
    except ValueError:
        args = call.arguments.strip()
    return f"{call.name}\x00{args}"


@dataclass
class RepeatDetector:
    policy: RepeatPolicy
    counts: dict[str, int] = field(default_factory=dict)

    def observe(self, call: ToolCall) -> tuple[Verdict, int]:
        key = call_key(call)
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if self.policy.stop_at is not None and count >= self.policy.stop_at:
            return "stop", count
        if self.policy.warn_at is not None and count >= self.policy.warn_at:
            return "warn", count
        return "ok", count

    def replay(self, history: Iterable[Message]) -> None:
        """Rebuild the counts from a resumed conversation."""
        for msg in history:
            for call in msg.tool_calls:
                key = call_key(call)
                self.counts[key] = self.counts.get(key, 0) + 1

    def reminder(self, call: ToolCall, count: int) -> str:
        return self.policy.reminder.format(name=call.name, count=count)
