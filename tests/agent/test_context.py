"""Request-view accounting and the context strategies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.agent_kit import agent_for, echo
from support.k2_server import Fault, K2Server, ToolLoop
from thinkact.agent import Agent, Budget, ContextView, HideToolOutputs, NoCompaction, Summarize
from thinkact.agent.context import (
    HIDDEN,
    SUMMARY_INSTRUCTIONS,
    SUMMARY_PREFIX,
    extractive_summary,
)
from thinkact.backends import Price, ScriptedBackend
from thinkact.backends.tokens import estimate_message
from thinkact.events import AssistantMessage, ContextCompacted, RunError, RunFinished
from thinkact.messages import Message, ToolCall, ToolResult, Usage
from thinkact.tools import tool
from thinkact.traces.sqlite import SQLiteTraceStore

StartServer = Callable[..., K2Server]


def conversation(steps: int, output_chars: int = 700) -> list[Message]:
    msgs = [Message.system("sys"), Message.user("the task")]
    for i in range(steps):
        call = ToolCall(id=f"functions.fetch:{i}", name="fetch", arguments=f'{{"i": {i}}}')
        msgs.append(Message(role="assistant", reasoning=f"think {i}", tool_calls=[call]))
        msgs.append(Message.tool(ToolResult(call_id=call.id, name="fetch",
                                            content=f"result {i} " + "z" * output_chars)))
    return msgs


def well_formed(messages: list[Message]) -> bool:
    """Every tool message answers a call made by an earlier assistant message."""
    called: set[str] = set()
    for m in messages:
        called.update(c.id for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in called:
            return False
    return True


def test_view_keeps_running_totals() -> None:
    msgs = conversation(5)
    view = ContextView(msgs, tools_tokens=50)
    assert view.raw_estimate() == sum(estimate_message(m) for m in msgs) + 50 + 3
    before = view.raw_estimate()
    view.replace(3, msgs[3].model_copy(update={"content": "short"}))
    delta = estimate_message(view.messages[3]) - estimate_message(msgs[3])
    assert view.raw_estimate() == before + delta
    view.splice(2, 6, [Message.user("summary")])
    assert len(view) == 9 and view.total == sum(view.tokens) + 3
    view.observe(reported_prompt_tokens=2 * view.raw_estimate(),
                 raw_estimate_sent=view.raw_estimate())
    assert view.estimate() == 2 * view.raw_estimate()
    view.observe(1, 1000)  # an API counting fewer tokens never lowers the estimate below ours
    assert view.scale == 1.0


async def test_hide_tool_outputs_oldest_first_keeps_recent() -> None:
    view = ContextView(conversation(10))
    limit = view.estimate() // 2
    strategy = HideToolOutputs(keep_recent=2, target=0.5)
    detail = await strategy.compact(view, limit, ScriptedBackend([]))
    hidden = [m.content == HIDDEN for m in view.messages if m.role == "tool"]
    assert hidden[-2:] == [False, False]
    n = sum(hidden)
    assert hidden[:n] == [True] * n and f"hid {n} tool outputs" in detail
    assert view.estimate() <= limit * 0.5 or n == 8
    assert well_formed(view.messages)


async def test_summarize_extractive_keeps_task_and_pairs() -> None:
    msgs = conversation(12)
    view = ContextView(msgs)
    limit = view.estimate() // 2
    detail = await Summarize(use_model=False, keep_recent=2).compact(
        view, limit, ScriptedBackend([]))
    assert "extractive" in detail
    assert [m.content for m in view.messages[:2]] == ["sys", "the task"]
    summary = view.messages[2]
    assert summary.role == "user" and (summary.content or "").startswith(SUMMARY_PREFIX)
    assert "called fetch" in (summary.content or "") and "result 0" in (summary.content or "")
    assert view.estimate() <= limit and well_formed(view.messages)
    assert view.messages[-1] == msgs[-1]


async def test_summarize_uses_the_model_and_falls_back_when_it_fails() -> None:
    view = ContextView(conversation(12))
    writer = ScriptedBackend([Message(role="assistant", content="model-written summary")])
    detail = await Summarize().compact(view, view.estimate() // 2, writer)
    assert "(model)" in detail and "model-written summary" in (view.messages[2].content or "")
    assert writer.requests[0][1] == []  # no tools for the summary call

    view = ContextView(conversation(12))
    detail = await Summarize().compact(view, view.estimate() // 2, ScriptedBackend([]))
    assert "(extractive)" in detail and well_formed(view.messages)


def test_extractive_summary_is_bounded_and_deterministic() -> None:
    msgs = conversation(200)
    text = extractive_summary(msgs, max_chars=1000)
    assert len(text) <= 1002 and text == extractive_summary(msgs, max_chars=1000)
    assert "result 199" in text  # the most recent findings are kept


async def test_last_resort_hides_outputs_and_stops_when_nothing_fits(k2: StartServer) -> None:
    @tool
    def fetch(text: str) -> str:
        """A big page."""
        return "x" * 4000

    server = k2(ToolLoop(20, tool="fetch"), context_window=6000)
    agent = agent_for(server, tools=[fetch], context=NoCompaction())
    events = [e async for e in agent.events("t")]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    used = [e.strategy for e in events if isinstance(e, ContextCompacted)]
    assert used[:2] == ["none", "hide_tool_outputs"]  # configured strategy, then last resort
    assert server.context_rejections == 0 and server.max_request_tokens <= 6000

    before = len(server.requests)
    events = [e async for e in agent_for(server, tools=[fetch]).events("y" * 30000)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "stopped"
    assert "context window exceeded" in finished.reason
    assert any(isinstance(e, RunError) for e in events)
    assert len(server.requests) == before  # the oversized request was never sent


async def test_api_failure_after_retries_then_resume_against_k2(
    k2: StartServer, trace_store: Any
) -> None:
    server = k2(ToolLoop(4))
    server.faults.append(Fault("500", times=3, at_step=2))
    trace = trace_store
    agent = agent_for(server, tools=[echo], trace=trace, backend_overrides={"max_attempts": 3})
    events = [e async for e in agent.events("t")]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "failed"
    assert "gave up after 3 attempts" in finished.reason
    run_id = events[0].run_id  # type: ignore[union-attr]
    resumed = [e async for e in agent.resume_events(run_id)]
    assert isinstance(resumed[-1], RunFinished) and resumed[-1].status == "completed"
    assert resumed[-1].tool_calls == 4 and server.reasoning_mismatches == []
    state = trace.load_state(run_id)
    assert state.finished and [m.role for m in state.messages].count("tool") == 4


async def test_k2_setting_hides_every_previous_tool_output() -> None:
    view = ContextView(conversation(6))
    await HideToolOutputs(keep_recent=0, target=0).compact(view, 10**6, ScriptedBackend([]))
    tools = [m for m in view.messages if m.role == "tool"]
    assert len(tools) == 6 and all(m.content == HIDDEN for m in tools)
    assert all(m.reasoning for m in view.messages if m.role == "assistant")  # reasoning kept


def summaries_asked(backend: ScriptedBackend) -> list[Any]:
    return [r for r in backend.requests if r[0][0].content == SUMMARY_INSTRUCTIONS]


async def test_summary_model_calls_are_spent_like_steps(tmp_path: Path) -> None:
    """The summary's own call spends tokens, thinking and money: the run's usage, its
    budgets and the trace all count it (and a resume inherits it)."""
    @tool
    def fetch(i: int) -> str:
        """A big page."""
        return f"page {i} " + "z" * 3000

    def policy(messages: Any) -> Message:
        if messages[0].content == SUMMARY_INSTRUCTIONS:
            return Message(role="assistant", reasoning="w" * 3500, content="what was found")
        done = len(backend.requests) - len(summaries_asked(backend))
        if done >= 6:
            return Message(role="assistant", content="final")
        return Message(role="assistant", reasoning="r", tool_calls=[ToolCall(
            id=f"functions.fetch:{done}", name="fetch", arguments=f'{{"i": {done}}}')])

    backend = ScriptedBackend(policy, context_window=4000)
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    price = Price(input_per_m=1.0, output_per_m=1000.0)
    agent = Agent(backend, tools=[fetch], context=Summarize(keep_recent=2), trace=store,
                  budget=Budget(price=price))
    events = [e async for e in agent.events("t")]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    compactions = [e for e in events if isinstance(e, ContextCompacted)]
    summaries = [c for c in compactions if "(model)" in c.detail]
    assert summaries and all(c.usage.reasoning_tokens == 1000 for c in summaries)
    steps = sum((e.usage for e in events if isinstance(e, AssistantMessage)), Usage())
    spent = sum((c.usage for c in compactions), steps)
    assert finished.usage == spent and finished.usage.reasoning_tokens > steps.reasoning_tokens
    run_id = events[0].run_id  # type: ignore[union-attr]
    assert store.load_state(run_id).usage == spent  # what a resume starts from
    row = store.run_info(run_id)
    assert (row["reasoning_tokens"], row["completion_tokens"]) == (
        spent.reasoning_tokens, spent.completion_tokens)
    store.close()

    # the summary's thinking alone exhausts a thinking budget the steps never reach
    backend = ScriptedBackend(policy, context_window=4000)
    limited = Agent(backend, tools=[fetch], context=Summarize(keep_recent=2),
                    budget=Budget(max_thinking_tokens=steps.reasoning_tokens + 500))
    events = [e async for e in limited.events("t")]
    assert isinstance(events[-1], RunFinished) and "max_thinking_tokens" in events[-1].reason
    # and its cost is charged: a cost budget below one summary's output stops the run
    backend = ScriptedBackend(policy, context_window=4000)
    costly = Agent(backend, tools=[fetch], context=Summarize(keep_recent=2),
                   budget=Budget(price=price, max_cost_usd=price.cost(0, steps.completion_tokens)
                                 + 0.5))
    events = [e async for e in costly.events("t")]
    assert isinstance(events[-1], RunFinished) and "max_cost_usd" in events[-1].reason


async def test_a_window_smaller_than_configured_is_learned_from_the_refusal(
        k2: StartServer) -> None:
    """The user overstated the window (100k on a 6k server): the refusal names the real one,
    llama-cpp-python style (an empty stream, the error only when asked plainly), and the run
    compacts to it and goes on instead of failing."""
    @tool
    def fetch(text: str) -> str:
        """A big page."""
        return "x" * 4000

    server = k2(ToolLoop(6, tool="fetch"), context_window=6000)
    server.empty_stream_errors = server.vllm_wording = True
    agent = agent_for(server, tools=[fetch], backend_overrides={"context_window": 100_000},
                      budget=Budget(max_steps=12))
    events = [e async for e in agent.events("t")]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    assert agent.backend.context_window == 6000
    # one request refused (streamed, then asked plainly); once learned, every request fits
    assert server.context_rejections == 2 and server.max_request_tokens <= 6000
    assert any(isinstance(e, ContextCompacted) for e in events)
