"""Runs against a server that passes tool calls through as content (llama.cpp's server does
this for models without a tool parser): the calls run, the answer is an answer.

The turns are written in the shapes small open models produce (Qwen2.5-Coder's bare JSON
and ``<tool_call>`` blocks); they are made up for the test, not recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.agent_kit import agent_for
from support.k2_server import K2Server, Turn
from thinkact.events import AssistantMessage, FinalAnswer, Notice, RunFinished, ToolResultEvent
from thinkact.traces.sqlite import SQLiteTraceStore

StartServer = Callable[..., K2Server]


def scripted(*turns: Turn) -> Callable[[int, dict[str, Any]], Turn]:
    return lambda step, request: turns[min(step, len(turns) - 1)]


def bare(name: str, **arguments: Any) -> str:
    return json.dumps({"name": name, "arguments": arguments})


async def test_calls_written_as_text_run_and_the_answer_is_the_answer(
        k2: StartServer, tmp_path: Path) -> None:
    server = k2(scripted(
        Turn("I will echo.", content=bare("echo", text="one")),
        Turn("Again, as a block.", content="Sure.\n<tool_call>\n"
             + bare("echo", text="two") + "\n</tool_call>"),
        Turn("Done.", content="one, two")))
    trace = SQLiteTraceStore(tmp_path / "t.sqlite")
    events = [e async for e in agent_for(server, trace=trace).events("echo twice")]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["one, two"]
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert [(r.ok, r.content) for r in results] == [(True, "echo: one"), (True, "echo: two")]
    replies = [e.message for e in events if isinstance(e, AssistantMessage)]
    assert [[c.written_as for c in m.tool_calls] for m in replies] == [["json"], ["hermes"], []]
    assert replies[1].content == "Sure."
    assert server.reasoning_mismatches == []  # reasoning carried back with the recovered calls
    # the trace records the calls as recovered from text
    recorded = [r.event for r in trace.records(events[0].run_id)  # type: ignore[union-attr]
                if isinstance(r.event, AssistantMessage)]
    assert recorded[0].message.tool_calls[0].written_as == "json"
    trace.close()


async def test_tool_call_text_off_keeps_the_text(k2: StartServer) -> None:
    server = k2(scripted(Turn("r", content=bare("echo", text="one"))))
    agent = agent_for(server, backend_overrides={"tool_call_text": "off"})
    events = [e async for e in agent.events("echo")]
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == [
        bare("echo", text="one")]


async def test_a_text_call_to_an_unknown_tool_gets_the_unknown_tool_error(
        k2: StartServer) -> None:
    server = k2(scripted(Turn("r", content=bare("fibonacci", n=10)),
                         Turn("r2", content="55")))
    events = [e async for e in agent_for(server).events("fib(10)")]
    (result,) = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert result.error == "unknown_tool" and "fibonacci" in result.content
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["55"]


async def test_an_empty_reply_is_asked_again_once_then_ends_as_no_answer(
        k2: StartServer) -> None:
    server = k2(scripted(Turn("thinking", content="")))
    events = [e async for e in agent_for(server).events("say something")]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert (finished.status, finished.reason, finished.steps) == ("stopped", "no_answer", 2)
    assert [e.kind for e in events if isinstance(e, Notice)] == ["empty"]
    assert not [e for e in events if isinstance(e, FinalAnswer)]

    server = k2(scripted(Turn("thinking", content="  "), Turn("ok", content="Hello.")))
    events = [e async for e in agent_for(server).events("say something")]
    assert events[-1].status == "completed"  # type: ignore[union-attr]
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["Hello."]


async def test_a_call_cut_at_max_tokens_is_reported_as_cut_not_as_bad_json(
        k2: StartServer) -> None:
    from support.k2_server import Fault, ToolLoop

    server = k2(ToolLoop(2))
    server.faults.append(Fault("length", at_step=0))
    events = [e async for e in agent_for(server).events("echo")]
    first = next(e.result for e in events if isinstance(e, ToolResultEvent))
    assert first.error == "invalid_json" and "cut off before it ended" in first.content
    (cut,) = next(e.message for e in events if isinstance(e, AssistantMessage)).tool_calls
    assert cut.truncated
    assert events[-1].status == "completed"  # type: ignore[union-attr]
