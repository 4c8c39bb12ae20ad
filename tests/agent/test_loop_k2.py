"""Whole runs against the fake K2 server through the real ``openai`` client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from support.agent_kit import agent_for, boom, echo, slow
from support.k2_server import Fault, K2Server, ToolLoop, reasoning_for
from thinkact.agent import Budget, HideToolOutputs, Summarize
from thinkact.agent.context import HIDDEN, SUMMARY_PREFIX
from thinkact.events import (
    ContextCompacted,
    Event,
    Retry,
    RunFinished,
    ToolResultEvent,
)
from thinkact.tools import Toolset, tool

StartServer = Callable[..., K2Server]


def of_type(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def non_delta_types(events: Any) -> list[str]:
    """Event types without deltas (a store may merge consecutive deltas)."""
    return [e.type for e in events if e.type not in ("reasoning_delta", "content_delta")]


async def run_events(agent: Any, task: str = "do the task") -> list[Event]:
    return [e async for e in agent.events(task)]


async def test_250_tool_calls_with_every_reasoning_returned_exactly(
    k2: StartServer, trace_store: Any
) -> None:
    server = k2(ToolLoop(250))
    trace = trace_store
    agent = agent_for(server, trace=trace, budget=Budget(max_steps=300))
    result = await agent.arun("call echo 250 times")
    assert (result.status, result.answer, result.tool_calls, result.steps) == (
        "completed", "All done.", 250, 251)
    assert len(server.requests) == 251 and server.reasoning_mismatches == []
    last = server.requests[-1]["messages"]
    tool_steps = [m for m in last if m["role"] == "assistant" and m.get("tool_calls")]
    assert len(tool_steps) == 250
    assert [m["reasoning_content"] for m in tool_steps] == [reasoning_for(i) for i in range(250)]
    # the server checked every earlier step's reasoning on every request: 0 + 1 + ... + 250
    assert server.reasoning_checked == sum(range(251))
    assert result.messages[-1].content == "All done." and len(result.messages) == 1 + 2 * 250 + 1
    state = trace.load_state(result.run_id)
    assert state.finished and state.steps_done == 251 and state.tool_calls == 250
    assert state.messages == result.messages


@pytest.mark.parametrize("strategy", [
    HideToolOutputs(), Summarize(use_model=False), Summarize(use_model=True)],
    ids=["hide", "summarize-extractive", "summarize-model"])
async def test_outputs_many_times_the_window_never_overflow(
    k2: StartServer, strategy: Any, trace_store: Any
) -> None:
    window = 6000

    @tool
    def fetch(text: str) -> str:
        """Returns a big page."""
        return f"page for {text}: " + "lorem ipsum dolor sit amet " * 120  # ~3.2k chars

    server = k2(ToolLoop(30, tool="fetch"), context_window=window)
    trace = trace_store
    agent = agent_for(server, tools=[fetch], trace=trace, context=strategy)
    events = await run_events(agent)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed", finished.reason
    total_output = sum(len(e.result.content) for e in of_type(events, ToolResultEvent))
    assert total_output / 3.5 > 4 * window  # several times the window went through the run
    assert server.context_rejections == 0 and server.max_request_tokens <= window
    compactions = of_type(events, ContextCompacted)
    assert compactions and all(c.tokens_after < c.tokens_before for c in compactions)
    assert compactions[0].strategy == strategy.name
    assert server.reasoning_mismatches == []
    last = server.requests[-1]["messages"]
    marker = HIDDEN if isinstance(strategy, HideToolOutputs) else SUMMARY_PREFIX
    assert any(marker in (m.get("content") or "") for m in last)
    # The full history stays intact in the trace.
    state = trace.load_state(finished and of_type(events, type(events[0]))[0].run_id)
    assert sum(HIDDEN in (m.content or "") for m in state.messages) == 0
    assert len([m for m in state.messages if m.role == "tool"]) == 30


async def test_malformed_arguments_become_an_error_the_model_sees(
    k2: StartServer, trace_store: Any
) -> None:
    def args(i: int) -> str:
        return '{"text": "unterminated' if i == 1 else json.dumps({"text": f"t{i}"})

    server = k2(ToolLoop(3, arguments=args))
    trace = trace_store
    events = await run_events(agent_for(server, trace=trace))
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    errors = [e.result for e in of_type(events, ToolResultEvent) if e.result.error]
    assert [r.error for r in errors] == ["invalid_json"]
    sent = server.requests[2]["messages"]
    assert any(m["role"] == "tool" and "not valid JSON" in m["content"] for m in sent)
    run_id = events[0].run_id  # type: ignore[union-attr]
    assert non_delta_types(trace.events(run_id)) == non_delta_types(events)


@pytest.mark.parametrize("case", ["raises", "hangs"])
async def test_failing_tools_do_not_end_the_run(
    k2: StartServer, case: str, trace_store: Any
) -> None:
    if case == "raises":
        server = k2(ToolLoop(2, tool="boom", arguments=lambda i: '{"reason": "bad luck"}'))
        tools: Any = [boom]
        expected, text = "exception", "exploded because bad luck"
    else:
        server = k2(ToolLoop(2, tool="slow", arguments=lambda i: '{"seconds": 60}'))
        tools = Toolset([slow], timeouts={"slow": 0.1})
        expected, text = "timeout", "timed out after 0.1s"
    trace = trace_store
    events = await run_events(agent_for(server, tools=tools, trace=trace))
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    results = [e.result for e in of_type(events, ToolResultEvent)]
    assert [r.error for r in results] == [expected, expected]
    assert text in results[0].content
    recorded = [e for e in trace.events(events[0].run_id) if isinstance(e, ToolResultEvent)]
    assert [r.result.error for r in recorded] == [expected, expected]


@pytest.mark.parametrize("fault", [Fault("429", times=6, at_step=1),
                                   Fault("cut", after_chunks=5, at_step=2),
                                   Fault("500", times=2, at_step=0)],
                         ids=["429-storm", "stream-cut", "5xx"])
async def test_transient_api_failures_are_retried_and_visible(
    k2: StartServer, fault: Fault, trace_store: Any
) -> None:
    server = k2(ToolLoop(3))
    server.faults.append(fault)
    times = fault.times
    trace = trace_store
    events = await run_events(agent_for(server, tools=[echo], trace=trace))
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    retries = of_type(events, Retry)
    assert len(retries) == times and server.served_faults == [fault.kind] * times
    recorded = [e for e in trace.events(events[0].run_id) if isinstance(e, Retry)]
    assert len(recorded) == times
    # Exactly one assistant message per step, reasoning intact despite the failed attempts.
    state = trace.load_state(events[0].run_id)  # type: ignore[union-attr]
    assistants = [m for m in state.messages if m.role == "assistant"]
    assert [m.reasoning for m in assistants] == [reasoning_for(i) for i in range(4)]
    assert server.reasoning_mismatches == []


async def test_malformed_call_from_the_server_fault(k2: StartServer, trace_store: Any) -> None:
    server = k2(ToolLoop(3))
    server.faults.append(Fault("malformed", at_step=1))
    trace = trace_store
    events = await run_events(agent_for(server, trace=trace))
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    errors = [e.result.error for e in of_type(events, ToolResultEvent)]
    assert errors == [None, "invalid_json", None]
    recorded = [e.result.error for e in trace.events(events[0].run_id)  # type: ignore[union-attr]
                if isinstance(e, ToolResultEvent)]
    assert recorded == errors


async def test_denser_tokenizer_is_learned_from_reported_usage(k2: StartServer) -> None:
    """The server counts twice the tokens we estimate; only the usage correction keeps every
    request inside its window."""
    @tool
    def fetch(text: str) -> str:
        """Returns a big page."""
        return "lorem ipsum dolor sit amet " * 60

    server = k2(ToolLoop(30, tool="fetch"), context_window=8000, chars_per_token=1.75)
    events = await run_events(agent_for(server, tools=[fetch], context=HideToolOutputs()))
    assert events[-1].status == "completed", events[-1]  # type: ignore[union-attr]
    assert server.context_rejections == 0 and server.max_request_tokens <= 8000
    assert of_type(events, ContextCompacted)


async def test_non_streaming_run(k2: StartServer) -> None:
    server = k2(ToolLoop(10))
    result = await agent_for(server, backend_overrides={"stream": False}).arun("t")
    assert result.status == "completed" and result.tool_calls == 10
    assert all(not r.get("stream") for r in server.requests)
    assert server.reasoning_checked == sum(range(11)) and server.reasoning_mismatches == []
