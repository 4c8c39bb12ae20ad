"""Verify, then replan: one more look at an answer before it becomes final.

K2 Thinking verifies inside its own reasoning (the K2 Thinking blog publishes no separate
mechanism; docs/k2.md). ``VerifyPolicy`` adds an explicit, opt-in check for any model: when the
model answers, the loop may reply with a verification request instead of ending the run. The model
then either confirms (answers again: that answer is final) or finds a problem and goes on
working with its tools: the replan. ``rounds`` bounds how many answers get checked.

The rounds already used are counted from the conversation itself (user messages that start
with ``MARK``), so a resumed run continues with the right count and nothing to replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from thinkact.messages import Message

MARK = "[verify]"

VERIFY_PROMPT = (
    "Before this becomes your final answer, check it. Re-read the task and test the answer "
    "against it and against the tool results you have; recompute or look up again with a tool "
    "where that is cheap. If the answer holds, give it again as your final answer, complete. If "
    "something is wrong or missing, say what, keep working with the tools, and answer when done."
)


@dataclass
class VerifyPolicy:
    rounds: int = 0  # answers checked per run; 0: off (the model's first answer is final)
    prompt: str = VERIFY_PROMPT

    def check(self, history: Sequence[Message]) -> str | None:
        """The verification request to send after an answer, or None: the answer is final."""
        used = sum(m.role == "user" and (m.content or "").startswith(MARK) for m in history)
        return f"{MARK} {self.prompt}" if used < self.rounds else None
