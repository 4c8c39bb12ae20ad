"""Loop behaviour with the scripted backend: repeats, budgets, ordering, truncation, resume."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from support.agent_kit import echo
from support.memory_trace import MemoryTraceStore
from thinkact.agent import Agent, Budget, RepeatPolicy, new_run_id
from thinkact.backends import GenerationOptions, Price, ScriptedBackend
from thinkact.events import (
    AssistantMessage,
    Event,
    FinalAnswer,
    Notice,
    RunError,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolCall
from thinkact.tools import Toolset, tool


def calls(*args: str, name: str = "echo") -> Message:
    return Message(role="assistant", reasoning="r", tool_calls=[
        ToolCall(id=f"functions.{name}:{i}", name=name, arguments=a) for i, a in enumerate(args)])


def answer(text: str = "the answer", reasoning: str | None = "done thinking") -> Message:
    return Message(role="assistant", content=text, reasoning=reasoning)


def wrapping_up(messages: Sequence[Message]) -> bool:
    return "The run must stop now" in (messages[-1].content or "")


def forever(arguments: str = '{"text": "same"}') -> Any:
    """A model that keeps calling echo until told to wrap up."""
    def policy(messages: Sequence[Message]) -> Message:
        return answer("best effort") if wrapping_up(messages) else calls(arguments)
    return policy


async def events_of(agent: Agent, task: str = "task") -> list[Event]:
    return [e async for e in agent.events(task)]


def last(events: list[Event]) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    return events[-1]


async def test_simple_run_and_event_order() -> None:
    backend = ScriptedBackend([calls('{"text": "a"}'), answer()])
    events = await events_of(Agent(backend, tools=[echo], system_prompt="be brief"))
    types = [e.type for e in events if e.type not in ("reasoning_delta", "content_delta")]
    assert types == ["run_started", "step_started", "assistant_message", "tool_call",
                     "tool_result", "step_finished", "step_started", "assistant_message",
                     "step_finished", "final_answer", "run_finished"]
    start = events[0]
    assert isinstance(start, RunStarted)
    assert [m.role for m in start.messages] == ["system", "user"]
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", start.run_id)
    sent = backend.requests[1][0]
    assert sent[-1] == Message(role="tool", content="echo: a", tool_call_id="functions.echo:0",
                               name="echo")
    assert sent[-2].reasoning == "r"  # carried back exactly
    assert last(events).status == "completed"


async def test_repeats_get_a_reminder_then_stop_the_run() -> None:
    backend = ScriptedBackend(forever('{"text": "same"}'))
    agent = Agent(backend, tools=[echo], repeat=RepeatPolicy(warn_at=3, stop_at=5))
    events = await events_of(agent)
    notices = [e for e in events if isinstance(e, Notice) and e.kind == "repeat"]
    assert len(notices) == 2 and all(n.message is not None for n in notices)
    assert "same arguments 3 times" in notices[0].text
    # the reminder reached the model in the next request
    assert backend.requests[3][0][-1].content == notices[0].text
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert [r.error for r in results] == [None, None, None, None, "repeated"]
    finished = last(events)
    assert finished.status == "stopped" and "repeat: echo called 5 times" in finished.reason
    assert finished.tool_calls == 4  # the fifth was not run
    assert backend.requests[-1][1] == []  # wrap-up call offers no tools
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["best effort"]


async def test_repeat_key_normalises_json() -> None:
    variants = iter(['{"text": "x"}', '{ "text":"x" }', '{"text":   "x"}', '{"text": "y"}'])
    backend = ScriptedBackend(
        lambda m: answer() if len(backend.requests) > 4 else calls(next(variants)))
    events = await events_of(Agent(backend, tools=[echo], repeat=RepeatPolicy(warn_at=3)))
    assert [e.kind for e in events if isinstance(e, Notice)] == ["repeat"]


async def test_step_budget_ends_with_best_final_answer() -> None:
    backend = ScriptedBackend(forever())
    agent = Agent(backend, tools=[echo], budget=Budget(max_steps=3),
                  repeat=RepeatPolicy(warn_at=None, stop_at=None))
    events = await events_of(agent)
    finished = last(events)
    assert finished.status == "stopped" and "max_steps=3" in finished.reason
    assert finished.steps == 4 and finished.tool_calls == 3
    stop = [e for e in events if isinstance(e, Notice) and e.kind == "stop"]
    assert len(stop) == 1 and "max_steps" in stop[0].text
    assert backend.requests[-1][0][-1].content == stop[0].text
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["best effort"]


async def test_tool_call_budget_refuses_extra_parallel_calls() -> None:
    backend = ScriptedBackend(lambda m: answer() if wrapping_up(m) else calls(
        *(f'{{"text": "{len(m)}-{i}"}}' for i in range(3))))
    events = await events_of(Agent(backend, tools=[echo], budget=Budget(max_tool_calls=4)))
    errors = [e.result.error for e in events if isinstance(e, ToolResultEvent)]
    assert errors == [None, None, None, None, "budget", "budget"]
    finished = last(events)
    assert finished.tool_calls == 4 and "max_tool_calls=4" in finished.reason


async def test_thinking_cost_and_time_budgets() -> None:
    thinker = ScriptedBackend(lambda m: answer() if wrapping_up(m) else Message(
        role="assistant", reasoning="x" * 350, tool_calls=[ToolCall(
            id=f"c{len(m)}", name="echo", arguments=f'{{"text": "{len(m)}"}}')]))
    events = await events_of(Agent(thinker, tools=[echo], budget=Budget(
        max_thinking_tokens=250, max_thinking_tokens_per_step=4000)))
    assert "max_thinking_tokens=250" in last(events).reason and last(events).steps == 4
    assert thinker.requests[0][2].max_tokens == 4000  # per-step thinking budget -> max_tokens

    priced = ScriptedBackend(forever())
    events = await events_of(Agent(priced, tools=[echo], budget=Budget(
        max_cost_usd=1e-9, price=Price(input_per_m=1.0, output_per_m=1.0))))
    assert "max_cost_usd" in last(events).reason and last(events).steps == 2

    timed = ScriptedBackend(forever())
    events = await events_of(Agent(timed, tools=[echo], budget=Budget(max_wall_time_s=0)))
    assert "max_wall_time_s" in last(events).reason and last(events).tool_calls == 0


async def test_wrap_up_tool_calls_are_answered_not_run() -> None:
    backend = ScriptedBackend([calls('{"text": "1"}'), calls('{"text": "2"}')])
    events = await events_of(Agent(backend, tools=[echo], budget=Budget(max_steps=1)))
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert [r.error for r in results] == [None, "budget"]
    assert last(events).status == "stopped" and last(events).tool_calls == 1


async def test_parallel_calls_run_together_results_in_call_order() -> None:
    @tool
    async def nap(name: str, seconds: float) -> str:
        """Sleep then return the name."""
        await asyncio.sleep(seconds)
        return name

    turn = calls('{"name": "slowest", "seconds": 0.06}', '{"name": "mid", "seconds": 0.03}',
                 '{"name": "fast", "seconds": 0}', name="nap")
    backend = ScriptedBackend([turn, answer()])
    events = await events_of(Agent(backend, tools=[nap]))
    assert [e.result.content for e in events if isinstance(e, ToolResultEvent)] == [
        "slowest", "mid", "fast"]
    assert [m.content for m in backend.requests[1][0][-3:]] == ["slowest", "mid", "fast"]


async def test_long_output_truncated_with_visible_note(trace_store: Any) -> None:
    @tool
    def dump() -> str:
        """A very long output."""
        return "HEAD" + "x" * 50000 + "TAIL"

    backend = ScriptedBackend([calls("{}", name="dump"), answer()])
    trace = trace_store
    events = await events_of(Agent(backend, tools=Toolset([dump], max_output_chars=1000),
                                   trace=trace))
    result = next(e.result for e in events if isinstance(e, ToolResultEvent))
    assert result.truncated and len(result.content) < 1200
    seen = backend.requests[1][0][-1].content or ""
    assert seen.startswith("HEAD") and seen.endswith("TAIL") and "characters truncated" in seen


async def test_trace_gets_each_event_before_it_is_yielded() -> None:
    trace = MemoryTraceStore()
    agent = Agent(ScriptedBackend([calls('{"text": "a"}'), answer()]), tools=[echo],
                  trace=trace)
    count = 0
    run_id = ""
    async for event in agent.events("task", run_id="fixed-id"):
        count += 1
        run_id = run_id or event.run_id  # type: ignore[union-attr]
        assert len(list(trace.events(run_id))) == count
    assert run_id == "fixed-id"


class Flaky:
    """Wraps a backend; fails the call numbered ``fail_at`` once, mid-stream."""

    def __init__(self, inner: ScriptedBackend, fail_at: int) -> None:
        self.inner, self.fail_at, self.failed = inner, fail_at, False

    model_name = "flaky"
    context_window = 100000

    def count_tokens(self, messages: Any, tools: Any) -> int:
        return self.inner.count_tokens(messages, tools)

    async def stream(self, messages: Any, tools: Any, options: GenerationOptions) -> Any:
        if len(self.inner.requests) + 1 == self.fail_at and not self.failed:
            self.failed = True
            raise ConnectionError("backend went away after retries")
        async for e in self.inner.stream(messages, tools, options):
            yield e


async def test_backend_failure_is_an_event_and_the_run_resumes(trace_store: Any) -> None:
    script = [calls('{"text": "1"}'), calls('{"text": "2"}'),
              Message(role="assistant", reasoning="", tool_calls=[
                  ToolCall(id="functions.echo:2", name="echo", arguments='{"text": "3"}')]),
              answer("resumed answer")]
    inner = ScriptedBackend(lambda m: script[sum(x.role == "assistant" for x in m)])
    trace = trace_store
    agent = Agent(Flaky(inner, fail_at=4), tools=[echo], trace=trace)
    events = await events_of(agent)
    errors = [e for e in events if isinstance(e, RunError)]
    assert len(errors) == 1 and "backend went away" in errors[0].message
    assert last(events).status == "failed" and last(events).steps == 4
    run_id = events[0].run_id  # type: ignore[union-attr]
    state = trace.load_state(run_id)
    assert state.steps_done == 3 and state.tool_calls == 3 and not state.finished

    resumed = [e async for e in agent.resume_events(run_id)]
    start = resumed[0]
    assert isinstance(start, RunStarted) and start.resumed_from_step == 3
    assert start.run_id == run_id and start.messages == []
    assert last(resumed).status == "completed" and last(resumed).steps == 4
    assert [e.content for e in resumed if isinstance(e, FinalAnswer)] == ["resumed answer"]
    # the resumed request is the conversation of the three complete steps, reasoning intact
    sent = inner.requests[-1][0]
    assert [m.reasoning for m in sent if m.role == "assistant"] == ["r", "r", ""]
    assert sum(isinstance(e, StepFinished) for e in trace.events(run_id)) == 4
    assert trace.load_state(run_id).finished


def test_sync_run_and_result() -> None:
    backend = ScriptedBackend([calls('{"text": "a"}'), answer("42")])
    result = Agent(backend, tools=[echo]).run("what is it?")
    assert (result.answer, result.status, result.steps, result.tool_calls) == (
        "42", "completed", 2, 1)
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert result.usage.completion_tokens > 0
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", new_run_id())


async def test_reasoning_absent_and_empty_survive_the_loop() -> None:
    backend = ScriptedBackend([
        Message(role="assistant", reasoning=None, tool_calls=[ToolCall(
            id="a", name="echo", arguments='{"text": "1"}')]),
        Message(role="assistant", reasoning="", tool_calls=[ToolCall(
            id="b", name="echo", arguments='{"text": "2"}')]),
        answer()])
    events = await events_of(Agent(backend, tools=[echo]))
    replies = [e.message for e in events if isinstance(e, AssistantMessage)]
    assert [m.reasoning for m in replies] == [None, "", "done thinking"]
    assert [m.reasoning for m in backend.requests[2][0] if m.role == "assistant"] == [None, ""]


async def test_answer_cut_off_by_token_limit_is_continued() -> None:
    class CutOnce(ScriptedBackend):
        async def stream(self, messages: Any, tools: Any, options: GenerationOptions) -> Any:
            async for e in super().stream(messages, tools, options):
                if isinstance(e, AssistantMessage) and self.calls == 1:
                    e = e.model_copy(update={"finish_reason": "length"})
                yield e

    backend = CutOnce([Message(role="assistant", reasoning="long long"), answer("short")])
    events = await events_of(Agent(backend))
    notices = [e for e in events if isinstance(e, Notice)]
    assert [n.kind for n in notices] == ["length"]
    assert backend.requests[1][0][-1].content == notices[0].text
    assert last(events).status == "completed" and last(events).steps == 2
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["short"]


async def test_resume_keeps_spent_thinking_budget(trace_store: Any) -> None:
    trace = trace_store
    thinking = Message(role="assistant", reasoning="x" * 350, tool_calls=[
        ToolCall(id="a", name="echo", arguments='{"text": "1"}')])
    inner = ScriptedBackend([thinking, thinking, answer("after")])
    agent = Agent(Flaky(inner, fail_at=2), tools=[echo], trace=trace,
                  budget=Budget(max_thinking_tokens=150))
    events = await events_of(agent)
    assert last(events).status == "failed"
    # one step of 100 thinking tokens is done; the resumed run must still count it
    resumed = [e async for e in agent.resume_events(events[0].run_id)]  # type: ignore[union-attr]
    assert last(resumed).status == "stopped" and "max_thinking_tokens" in last(resumed).reason
