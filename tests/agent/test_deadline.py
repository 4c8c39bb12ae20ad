"""The wall-time budget as a deadline: a model stream or tool batch still running is cut off,
the trace keeps only complete steps (the cut one is superseded, as after a kill), and the
best-final-answer call gets ``final_answer_grace_s`` more, or none when the grace is 0."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from support.agent_kit import agent_for
from support.k2_server import Fault, K2Server, ToolLoop
from thinkact.agent import Agent, Budget
from thinkact.backends import GenerationOptions, ScriptedBackend
from thinkact.events import (
    AssistantMessage,
    Event,
    FinalAnswer,
    ReasoningDelta,
    RunFinished,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolCall
from thinkact.tools import tool
from thinkact.traces.sqlite import SQLiteTraceStore

StartServer = Callable[..., K2Server]


def wrapping_up(messages: Sequence[Message]) -> bool:
    return "The run must stop now" in (messages[-1].content or "")


def call(name: str, arguments: str, i: int = 0) -> Message:
    return Message(role="assistant", reasoning="r", tool_calls=[
        ToolCall(id=f"functions.{name}:{i}", name=name, arguments=arguments)])


HANG_S = 60.0  # "forever" for a sub-second budget; bounded so a regression fails, not hangs


class Hanging(ScriptedBackend):
    """Streams a little reasoning, then goes silent for ``HANG_S`` on the calls ``hang``
    picks; records each cancellation it saw."""

    def __init__(self, script: Any, hang: Callable[[Sequence[Message], list[Any]], bool]
                 ) -> None:
        super().__init__(script)
        self.hang = hang
        self.cancelled = 0

    async def stream(self, messages: Any, tools: Any, options: GenerationOptions) -> Any:
        if self.hang(messages, tools):
            self.requests.append((list(messages), [t.name for t in tools], options))
            yield ReasoningDelta(text="thinking very slowly")
            try:
                await asyncio.sleep(HANG_S)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        async for event in super().stream(messages, tools, options):
            yield event


@tool
async def echo(text: str) -> str:
    """Return the text."""
    return f"echo: {text}"


def last(events: list[Event]) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    return events[-1]


def step_numbers(events: list[Event]) -> list[tuple[str, int]]:
    return [(e.type, e.step) for e in events if isinstance(e, StepStarted | StepFinished)]


async def test_hung_model_call_is_cut_and_the_final_answer_gets_the_grace(
    tmp_path: Path
) -> None:
    """Step 2's model call never returns: it is cancelled at the deadline, and the wrap-up
    (step 2 again) answers from the one complete step."""
    def policy(messages: Sequence[Message]) -> Message:
        if wrapping_up(messages):
            return Message(role="assistant", content="best effort")
        return call("echo", '{"text": "a"}')

    backend = Hanging(policy, hang=lambda m, tools: bool(tools) and len(m) > 1)
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    agent = Agent(backend, tools=[echo], trace=store,
                  budget=Budget(max_wall_time_s=0.5, final_answer_grace_s=60))
    events = [e async for e in agent.events("task")]
    finished = last(events)
    assert backend.cancelled == 1
    assert finished.status == "stopped" and "max_wall_time_s=0.5" in finished.reason
    assert (finished.steps, finished.tool_calls) == (2, 1)
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["best effort"]
    # step 2 started, was cut (no StepFinished), and was redone as the wrap-up
    assert step_numbers(events) == [("step_started", 1), ("step_finished", 1),
                                    ("step_started", 2), ("step_started", 2),
                                    ("step_finished", 2)]
    # the wrap-up request is the conversation of complete steps plus the stop notice
    sent = backend.requests[-1][0]
    assert [m.role for m in sent] == ["user", "assistant", "tool", "user"]
    assert "max_wall_time_s" in (sent[-1].content or "") and backend.requests[-1][1] == []
    # the record: the cut attempt is superseded, the rest is the final trace
    run_id = events[0].run_id  # type: ignore[union-attr]
    records = store.records(run_id)
    cut = [r for r in records if r.superseded]
    assert [r.event.type for r in cut] == ["step_started", "reasoning_delta"]
    state = store.load_state(run_id)
    assert [m.role for m in state.messages] == ["user", "assistant", "tool", "user",
                                                "assistant"]
    assert state.steps_done == 2 and state.tool_calls == 1
    store.close()


async def test_hung_tool_is_cancelled_and_never_counted() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    @tool
    async def wait_forever(label: str) -> str:
        """Takes far longer than the run may."""
        started.append(label)
        try:
            await asyncio.sleep(HANG_S)
        except asyncio.CancelledError:
            cancelled.append(label)
            raise
        return "finished after all"

    backend = ScriptedBackend(lambda m: Message(role="assistant", content="gave up waiting")
                              if wrapping_up(m) else call("wait_forever", '{"label": "x"}'))
    agent = Agent(backend, tools=[wait_forever],
                  budget=Budget(max_wall_time_s=0.3, final_answer_grace_s=60))
    events = [e async for e in agent.events("task")]
    assert started == ["x"] and cancelled == ["x"]
    assert [e.call.name for e in events if isinstance(e, ToolCallStarted)] == ["wait_forever"]
    assert not [e for e in events if isinstance(e, ToolResultEvent)]
    finished = last(events)
    assert finished.status == "stopped" and finished.tool_calls == 0 and finished.steps == 1
    # the cut step's call is gone from the conversation: no dangling tool call is sent
    assert [m.role for m in backend.requests[-1][0]] == ["user", "user"]
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["gave up waiting"]


async def test_grace_zero_ends_at_the_deadline_and_resume_redoes_the_cut_step(
    tmp_path: Path
) -> None:
    hang = {"on": True}
    script = [call("echo", '{"text": "1"}'), call("echo", '{"text": "2"}', 1),
              Message(role="assistant", content="resumed answer")]
    backend = Hanging(lambda m: script[sum(x.role == "assistant" for x in m)],
                      hang=lambda m, tools: hang["on"] and len(m) > 1)
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    agent = Agent(backend, tools=[echo], trace=store,
                  budget=Budget(max_wall_time_s=0.3, final_answer_grace_s=0))
    events = [e async for e in agent.events("task")]
    finished = last(events)
    assert finished.status == "stopped" and "max_wall_time_s" in finished.reason
    assert finished.steps == 1  # no final-answer call, but the best answer the run has:
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == [
        "Last tool result (echo):\necho: 1"]
    assert backend.cancelled == 1 and len(backend.requests) == 2
    run_id = events[0].run_id  # type: ignore[union-attr]
    state = store.load_state(run_id)
    assert state.steps_done == 1 and not state.finished

    hang["on"] = False
    agent.config.budget = Budget(max_wall_time_s=60)
    resumed = [e async for e in agent.resume_events(run_id)]
    assert last(resumed).status == "completed" and last(resumed).steps == 3
    assert [e.content for e in resumed if isinstance(e, FinalAnswer)] == ["resumed answer"]
    # the resumed run redid step 2 from the conversation of step 1
    assert [m.role for m in backend.requests[2][0]] == ["user", "assistant", "tool"]
    assert [r.event.type for r in store.records(run_id) if r.superseded] == [
        "step_started", "reasoning_delta", "final_answer"]  # the best answer, replaced
    store.close()


async def test_final_answer_that_outlives_the_grace_is_cut_too() -> None:
    backend = Hanging(lambda m: call("echo", '{"text": "a"}'),
                      hang=lambda m, tools: not tools)  # only the wrap-up call hangs
    agent = Agent(backend, tools=[echo],
                  budget=Budget(max_steps=1, max_wall_time_s=0.2, final_answer_grace_s=0.2))
    events = [e async for e in agent.events("task")]
    finished = last(events)
    assert backend.cancelled == 1
    assert finished.status == "stopped" and "final answer cut off" in finished.reason
    assert "max_wall_time_s" in finished.reason and finished.steps == 1
    # the cut answer is replaced by the best one the run has: its last tool output
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == [
        "Last tool result (echo):\necho: a"]


async def test_stalled_k2_stream_is_cut_at_the_deadline(k2: StartServer, trace_store: Any
                                                        ) -> None:
    """Through the real client: the server goes silent mid-reasoning for far longer than the
    budget; the run does not wait for it."""
    server = k2(ToolLoop(3))
    server.faults.append(Fault("stall", at_step=0, after_chunks=3, seconds=30))
    agent = agent_for(server, trace=trace_store,
                      budget=Budget(max_wall_time_s=1.0, final_answer_grace_s=20))
    events = [e async for e in agent.events("do the task")]
    finished = last(events)
    assert server.served_faults == ["stall"]
    assert finished.status == "stopped" and "max_wall_time_s=1" in finished.reason
    assert finished.duration_s < 30  # it did not sit out the stall
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["All done. (wrap-up)"]
    assert step_numbers(events) == [("step_started", 1), ("step_started", 1),
                                    ("step_finished", 1)]
    assert sum(isinstance(e, AssistantMessage) for e in events) == 1
    state = trace_store.load_state(events[0].run_id)
    assert [m.role for m in state.messages] == ["user", "user", "assistant"]
    assert state.steps_done == 1
