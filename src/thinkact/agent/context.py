"""Context strategies: what to drop from the request view when it would not fit the window.

The loop calls ``compact(view, limit, backend)`` when the next request would exceed
``limit`` tokens (window minus room for the answer). A strategy shrinks the view well below
the limit (to ``target`` × limit) so that compaction happens rarely, not every step.

- ``HideToolOutputs``: K2 Thinking's evaluation strategy; older tool outputs become a short
  placeholder, oldest first, keeping the most recent ``keep_recent``.
- ``Summarize``: older steps are replaced by one summary message, written by the model or,
  without one (or if that call fails), by a deterministic extractive summary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from thinkact.agent.context_view import ContextView
from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.tokens import estimate_text
from thinkact.events import AssistantMessage, BackendEvent
from thinkact.messages import Message, ToolSpec, Usage

HIDDEN = "[tool output hidden to save context]"
SUMMARY_PREFIX = "[summary of earlier steps, replacing them to save context]\n"


class ContextStrategy(Protocol):
    name: str

    async def compact(self, view: ContextView, limit: int, backend: ModelBackend) -> str:
        """Shrink ``view`` towards ``limit`` tokens; return a one-line description."""
        ...


@dataclass
class MeteredBackend:
    """The backend as a strategy sees it: every reply it streams is kept in ``replies``.

    A strategy's own model calls (``Summarize`` writing a summary) spend tokens, thinking and
    money like any step; the loop hands strategies this wrapper and charges ``replies`` to the
    run's ``Spend``, whichever strategy made the calls.
    """

    inner: ModelBackend
    replies: list[AssistantMessage] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        return self.inner.count_tokens(messages, tools)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        async for event in self.inner.stream(messages, tools, options):
            if isinstance(event, AssistantMessage):
                self.replies.append(event)
            yield event

    @property
    def usage(self) -> Usage:
        return sum((r.usage for r in self.replies), Usage())


@dataclass
class NoCompaction:
    """Leave the view alone. The loop's last resort (hide every tool output) still applies,
    and the run stops cleanly if even that does not fit."""

    name: str = "none"

    async def compact(self, view: ContextView, limit: int, backend: ModelBackend) -> str:
        return "no compaction configured"


@dataclass
class HideToolOutputs:
    """Replace older tool outputs with a placeholder, oldest first, down to ``target``.

    ``HideToolOutputs(keep_recent=0, target=0)`` is K2 Thinking's published evaluation
    setting: once the input passes the window, hide *all* previous tool outputs.
    """

    keep_recent: int = 1
    target: float = 0.5
    placeholder: str = HIDDEN
    name: str = "hide_tool_outputs"

    async def compact(self, view: ContextView, limit: int, backend: ModelBackend) -> str:
        goal = int(limit * self.target)
        candidates = [i for i in range(view.hidden_upto, len(view))
                      if view.messages[i].role == "tool"
                      and view.messages[i].content != self.placeholder]
        hideable = candidates[:max(len(candidates) - self.keep_recent, 0)]
        hidden = 0
        for i in hideable:
            if view.estimate() <= goal:
                break
            view.replace(i, view.messages[i].model_copy(update={"content": self.placeholder}))
            view.hidden_upto = i + 1
            hidden += 1
        return f"hid {hidden} tool outputs (kept the last {self.keep_recent})"


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def extractive_summary(messages: list[Message], max_chars: int = 4000) -> str:
    """One line per call and per result; no model needed, same input gives same output."""
    lines: list[str] = []
    for m in messages:
        if m.role == "assistant":
            if m.content:
                lines.append(f"- said: {_clip(m.content, 200)}")
            lines.extend(f"- called {c.name}({_clip(c.arguments, 160)})" for c in m.tool_calls)
        elif m.role == "tool":
            lines.append(f"  -> {m.name}: {_clip(m.content or '', 200)}")
        elif m.role == "user" and (m.content or "").startswith(SUMMARY_PREFIX):
            lines.append((m.content or "")[len(SUMMARY_PREFIX):])  # an earlier summary, whole
        elif m.role == "user":
            lines.append(f"- user/notice: {_clip(m.content or '', 200)}")
    text = "\n".join(lines)
    if len(text) > max_chars:  # keep the most recent findings
        text = "…\n" + text[-max_chars:]
    return text


SUMMARY_INSTRUCTIONS = (
    "Summarise the agent transcript below for the agent itself: the facts found, results of "
    "tool calls that still matter, what was tried and failed, and open questions. Be concise."
)


@dataclass
class Summarize:
    keep_recent: int = 6  # messages kept verbatim at the end (at least)
    target: float = 0.5
    use_model: bool = True
    max_summary_chars: int = 4000
    name: str = "summarize"

    def _cut(self, view: ContextView, head: int, goal: int) -> int:
        """Start of the verbatim tail: a step boundary leaving the request under ``goal``."""
        fixed = (view.raw_estimate() - sum(view.tokens) + sum(view.tokens[:head])
                 + estimate_text(self.max_summary_chars) + 4)
        budget = goal / view.scale - fixed
        cut, tail = len(view), 0
        for i in range(len(view) - 1, head, -1):
            tail += view.tokens[i]
            if view.messages[i].role == "tool":  # never separate results from their call
                continue
            if tail > budget and len(view) - cut >= self.keep_recent:
                break
            cut = i
        return cut

    async def compact(self, view: ContextView, limit: int, backend: ModelBackend) -> str:
        head = next((i + 1 for i, m in enumerate(view.messages) if m.role == "user"), 0)
        cut = self._cut(view, head, int(limit * self.target))
        region = view.messages[head:cut]
        if not region:
            return "nothing to summarise"
        text, how = extractive_summary(region, self.max_summary_chars), "extractive"
        if self.use_model:
            written = await self._model_summary(text, region, backend, limit)
            if written:
                text, how = written, "model"
        view.splice(head, cut, [Message.user(SUMMARY_PREFIX + text)])
        return f"summarised {len(region)} messages ({how})"

    async def _model_summary(
        self, fallback: str, region: list[Message], backend: ModelBackend, limit: int
    ) -> str | None:
        transcript = extractive_summary(region, max_chars=min(limit, 60000))
        request = [Message.system(SUMMARY_INSTRUCTIONS), Message.user(transcript)]
        options = GenerationOptions(max_tokens=max(self.max_summary_chars // 3, 64))
        try:
            async for event in backend.stream(request, [], options):
                if isinstance(event, AssistantMessage):
                    content = (event.message.content or "").strip()
                    return content[: self.max_summary_chars] or None
        except Exception:  # the extractive summary is the fallback
            return None
        return None
