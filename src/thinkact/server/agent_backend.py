"""The whole agent as a ``ModelBackend``: serve it and any OpenAI client talks to thinkact.

``thinkact serve`` puts ``AgentBackend`` behind the same OpenAI-compatible app as
``serve-model``. One chat request is one agent run (recorded in the trace store like any
other) on the request's conversation, with the server's own tools. What the client sees is
one assistant turn: the run's reasoning streams as ``reasoning_content`` (the model's own
thinking, step after step, with each tool call and a short view of its result written in
between), and the final answer comes as ``content`` once it is final. Tools the client
declares are not offered to the model: the served agent acts with its own. With ``heavy``
each request is a heavy group (``thinkact.agent.heavy``): the trajectories are narrated in
short, tagged ``[k]`` (tool calls, failures, answers), then the aggregation in full.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from thinkact.agent.agent import Agent, new_run_id
from thinkact.agent.heavy import Heavy, Reflect, Vote
from thinkact.backends.base import GenerationOptions
from thinkact.backends.tokens import estimate_request
from thinkact.events import (
    AssistantMessage,
    BackendEvent,
    ContentDelta,
    FinalAnswer,
    Notice,
    ReasoningDelta,
    Retry,
    RunError,
    RunFinished,
    RunStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolSpec, Usage
from thinkact.traces.base import TraceStore


def _end_interrupted(store: TraceStore, run_ids: Sequence[str], started: float) -> None:
    """Record ``stopped``/``interrupted`` for each of ``run_ids`` that has not finished."""
    from thinkact.cli.common import interrupted_end

    for rid in run_ids:
        try:
            if store.load_state(rid).finished:
                continue
        except KeyError:  # never started
            continue
        stop = interrupted_end(store, rid, started)
        if stop is not None:
            store.append(rid, stop)


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more chars)"


class AgentBackend:
    """Each ``stream`` call runs ``make(run_id)`` (a fresh agent: its own tools and
    workspace, closed after the run) on the given messages."""

    def __init__(self, make: Callable[[str], Agent], model_name: str, context_window: int,
                 result_chars: int = 600, heavy: int | None = None,
                 aggregator: Reflect | Vote | None = None) -> None:
        self.make = make
        self.name = model_name
        self.window = context_window
        self.result_chars = result_chars
        self.heavy = heavy  # N: each request runs heavy mode (trajectories RUN.1 .. RUN.N)
        self.aggregator = aggregator

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
        thinking: list[str] = []
        answer, end = None, None
        async for rid, event in self._run(run_id, task, list(messages)):
            text = self._narrate(event) if rid == run_id else self._trajectory(rid, event)
            if text:
                thinking.append(text)
                yield ReasoningDelta(text=text)
            if rid == run_id and isinstance(event, FinalAnswer):
                answer = event.content
            elif rid == run_id and isinstance(event, RunFinished):
                end = event
        if answer is None:  # failed, or stopped with no final call: say so, as the answer
            answer = f"[thinkact run {run_id} {end.status if end else 'failed'}: " \
                     f"{end.reason if end else 'no result'}]"
        yield ContentDelta(text=answer)
        usage = end.usage if end else Usage()
        yield AssistantMessage(message=Message(role="assistant", content=answer,
                                               reasoning="".join(thinking)),
                               usage=usage, finish_reason="stop")

    async def _run(self, run_id: str, task: str, opening: list[Message]
                   ) -> AsyncIterator[tuple[str, Any]]:
        """The request's run (or heavy group) as ``(run_id, event)``; agents closed after.
        A client that goes away mid-run (the response is cancelled) ends the runs the store
        still holds as running as ``stopped``/``interrupted``, so they can be resumed at
        once: the server process that wrote them is still alive."""
        stores: dict[int, TraceStore] = {}
        started = time.monotonic()

        def make(rid: str) -> Agent:
            agent = self.make(rid)
            if agent.trace is not None:
                stores[id(agent.trace)] = agent.trace
            return agent

        members = [run_id] if self.heavy is None else [
            *(f"{run_id}.{k}" for k in range(1, self.heavy + 1)), run_id]
        try:
            if self.heavy is None:
                agent = make(run_id)
                try:
                    run = agent.start(task, run_id=run_id, messages=opening)
                    async for event in run.events():
                        yield run_id, event
                finally:
                    await agent.aclose()
                return
            heavy = Heavy(lambda k: make(f"{run_id}.{k}"), n=self.heavy,
                          aggregator=self.aggregator)
            try:
                async for item in heavy.events(task, run_id=run_id, messages=opening):
                    yield item
            finally:
                await heavy.aclose()
        except (asyncio.CancelledError, GeneratorExit):
            for store in stores.values():
                _end_interrupted(store, members, started)
            raise

    def _trajectory(self, run_id: str, event: Any) -> str:
        """A heavy trajectory, in short: its tool calls, failures and answer, tagged [k]
        (their token-level reasoning would interleave unreadably)."""
        tag = f"[{run_id.rsplit('.', 1)[-1]}] "
        if isinstance(event, ToolCallStarted | ToolResultEvent | RunError):
            return tag + self._narrate(event).lstrip("\n").rstrip("\n") + "\n"
        if isinstance(event, FinalAnswer):
            return tag + "answer: " + _short(event.content, self.result_chars) + "\n"
        return ""

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
        if isinstance(event, Notice) and event.kind == "vote":
            return f"[{event.text}]\n"
        if isinstance(event, Retry):
            return f"\n[model call retried: {event.error}]\n"
        if isinstance(event, RunError):
            return f"\n[error: {event.message}]\n"
        return ""
