"""The resume rule of ``traces.base``, as one pure function over an event sequence.

The conversation is the first ``RunStarted.messages`` plus, for every step that reached
``StepFinished``, the messages its events carried, in event order: ``AssistantMessage``,
the tool message of each ``ToolResultEvent``, ``Notice.message`` where set. A step cut off
before its ``StepFinished`` (a kill, a crash, Ctrl-C, the wall-time deadline) contributes
nothing; a resumed run (or the loop, after a deadline) redoes it. Token usage counts every
model call, finished step or not, summaries included: it was spent. The task and model are
the first segment's; the config is the latest segment's (a resume may change options, such
as ``--ask-shell`` or a budget, and the next resume keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from thinkact.events import (
    AssistantMessage,
    ContextCompacted,
    Event,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolResult, Usage
from thinkact.traces.base import ResumeState

# Results the loop produced without running the tool: they do not count as tool calls.
NOT_RUN = ("repeated", "budget")


def replay_state(run_id: str, events: Iterable[Event]) -> ResumeState:
    first: RunStarted | None = None
    config: dict[str, Any] = {}
    messages: list[Message] = []
    pending: list[Message] = []
    results: list[ToolResult] = []
    pending_results: list[ToolResult] = []
    steps = calls = pending_calls = 0
    usage = Usage()
    finished = False
    for ev in events:
        if isinstance(ev, RunStarted):
            if first is None:
                first = ev
                messages.extend(ev.messages)
            config = ev.config
            pending, pending_results, pending_calls, finished = [], [], 0, False
        elif isinstance(ev, StepStarted):
            pending, pending_results, pending_calls = [], [], 0
        elif isinstance(ev, AssistantMessage):
            pending.append(ev.message)
            usage = usage + ev.usage
        elif isinstance(ev, ContextCompacted):  # a strategy's own model calls (summaries)
            usage = usage + ev.usage
        elif isinstance(ev, ToolResultEvent):
            pending.append(Message.tool(ev.result))
            pending_results.append(ev.result)
            pending_calls += ev.result.error not in NOT_RUN
        elif isinstance(ev, Notice) and ev.message is not None:
            pending.append(ev.message)
        elif isinstance(ev, StepFinished):
            messages.extend(pending)
            results.extend(pending_results)
            calls += pending_calls
            pending, pending_results, pending_calls, steps = [], [], 0, ev.step
        elif isinstance(ev, RunFinished):
            finished = ev.status == "completed"
    if first is None:
        raise KeyError(run_id)
    return ResumeState(run_id=run_id, task=first.task, model=first.model, config=config,
                       messages=messages, steps_done=steps, tool_calls=calls, usage=usage,
                       finished=finished, results=results)
