"""The whole agent as a ``ModelBackend``: serve it and any OpenAI client talks to thinkact.

``thinkact serve`` puts ``AgentBackend`` behind the same OpenAI-compatible app as
``serve-model``. One chat request is one agent run (recorded in the trace store like any
other) on the request's conversation, with the server's own tools. What the client sees is
one assistant turn: the run's reasoning streams as ``reasoning_content`` (the model's own
thinking, step after step, with each tool call and a short view of its result written in
between), and the final answer comes as ``content`` once it is final. Tools the client
declares are not offered to the model: the served agent acts with its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from thinkact.agent.agent import Agent, new_run_id
from thinkact.backends.base import GenerationOptions
from thinkact.backends.tokens import estimate_request
from thinkact.events import (
    AssistantMessage,
    BackendEvent,
    ContentDelta,
    FinalAnswer,
    ReasoningDelta,
    Retry,
    RunError,
    RunFinished,
    RunStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, Usage
from thinkact.tools.base import ToolSpec


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more chars)"


class AgentBackend:
    """Each ``stream`` call runs ``make(run_id)`` (a fresh agent: its own tools and
    workspace, closed after the run) on the given messages."""

    def __init__(self, make: Callable[[str], Agent], model_name: str, context_window: int,
                 result_chars: int = 600) -> None:
        self.make = make
        self.name = model_name
        self.window = context_window
        self.result_chars = result_chars

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def context_window(self) -> int:
        return self.window

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        return estimate_request(messages, [])  # the client's tools are not sent on

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        users = [m for m in messages if m.role == "user"]
        if not users:
            raise ValueError("the conversation has no user message: nothing to do")
        task = users[-1].content if isinstance(users[-1].content, str) else ""
        run_id = new_run_id()
        agent = self.make(run_id)
        opening = list(messages)
        if agent.system_prompt and not any(m.role == "system" for m in opening):
            opening.insert(0, Message.system(agent.system_prompt))
        thinking: list[str] = []
        answer, end = None, None
        try:
            async for event in agent.events(task, run_id=run_id, messages=opening):
                text = self._narrate(event)
                if text:
                    thinking.append(text)
                    yield ReasoningDelta(text=text)
                if isinstance(event, FinalAnswer):
                    answer = event.content
                elif isinstance(event, RunFinished):
                    end = event
        finally:
            await agent.aclose()
        if answer is None:  # failed, or stopped with no final call: say so, as the answer
            answer = f"[thinkact run {run_id} {end.status if end else 'failed'}: " \
                     f"{end.reason if end else 'no result'}]"
        yield ContentDelta(text=answer)
        usage = end.usage if end else Usage()
        yield AssistantMessage(message=Message(role="assistant", content=answer,
                                               reasoning="".join(thinking)),
                               usage=usage, finish_reason="stop")

    def _narrate(self, event: Any) -> str:
        """What of a run event goes into the served reasoning."""
        if isinstance(event, ReasoningDelta):
            return event.text
        if isinstance(event, RunStarted):
            return f"[thinkact run {event.run_id}]\n"
        if isinstance(event, AssistantMessage) and event.message.tool_calls:
            said = (event.message.content or "").strip()
            return f"\n{said}\n" if said else "\n"
        if isinstance(event, ToolCallStarted):
            return f"→ {event.call.name} {_short(event.call.arguments, 300)}\n"
        if isinstance(event, ToolResultEvent):
            r = event.result
            status = "ok" if r.ok else f"error ({r.error})"
            return f"← {r.name} {status}: {_short(r.content, self.result_chars)}\n\n"
        if isinstance(event, Retry):
            return f"\n[model call retried: {event.error}]\n"
        if isinstance(event, RunError):
            return f"\n[error: {event.message}]\n"
        return ""
