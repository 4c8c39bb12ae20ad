"""Toolset: every failure becomes a ToolResult with an error kind; nothing raises."""

from __future__ import annotations

import asyncio
from typing import Any

from support.agent_kit import boom, echo, slow
from thinkact.messages import ToolCall
from thinkact.tools import ToolContext, ToolError, Toolset, ToolSpec, tool, truncate

CTX = ToolContext()


def call(name: str, arguments: str = "{}", id: str = "c1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


class RawTool:
    """A tool that is not a FunctionTool: validated by JSON schema, tracks closing."""

    def __init__(self) -> None:
        self.closed = False

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name="raw", description="raw", parameters={
            "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        if arguments["n"] < 0:
            raise ToolError("n must be positive")
        return "x" * arguments["n"]

    async def aclose(self) -> None:
        self.closed = True


async def test_ok_and_error_kinds() -> None:
    ts = Toolset([echo, boom, RawTool()])
    ok = await ts.call(call("echo", '{"text": "hi"}'), CTX)
    assert ok.ok and ok.content == "echo: hi" and ok.call_id == "c1" and ok.name == "echo"

    unknown = await ts.call(call("nope"), CTX)
    assert unknown.error == "unknown_tool"
    assert "echo" in unknown.content and "boom" in unknown.content and "raw" in unknown.content

    bad_json = await ts.call(call("echo", '{"text": "hi"'), CTX)
    assert bad_json.error == "invalid_json" and "not valid JSON" in bad_json.content

    not_object = await ts.call(call("echo", "[1, 2]"), CTX)
    assert not_object.error == "invalid_json" and "JSON object" in not_object.content

    missing = await ts.call(call("echo", "{}"), CTX)
    assert missing.error == "invalid_arguments" and "text" in missing.content

    wrong_type = await ts.call(call("raw", '{"n": "many"}'), CTX)
    assert wrong_type.error == "invalid_arguments" and "n" in wrong_type.content

    raised = await ts.call(call("boom", '{"reason": "testing"}'), CTX)
    assert raised.error == "exception"
    assert "RuntimeError: exploded because testing" in raised.content
    assert "Traceback" in raised.content or "line" in raised.content  # traceback tail

    tool_error = await ts.call(call("raw", '{"n": -1}'), CTX)
    assert tool_error.error == "exception" and tool_error.content == "error: n must be positive"


async def test_timeout_per_tool_and_default() -> None:
    ts = Toolset([slow], timeout_s=30, timeouts={"slow": 0.05})
    result = await ts.call(call("slow", '{"seconds": 30}'), CTX)
    assert result.error == "timeout" and "0.05s" in result.content
    quick = await Toolset([slow], timeout_s=5).call(call("slow", '{"seconds": 0}'), CTX)
    assert quick.ok and quick.content == "woke up"


async def test_truncation_keeps_head_and_tail_with_note() -> None:
    ts = Toolset([RawTool()], max_output_chars=300)
    result = await ts.call(call("raw", '{"n": 5000}'), CTX)
    assert result.truncated and result.ok
    assert "4700 characters truncated" in result.content
    assert result.content.startswith("x" * 200) and result.content.endswith("x" * 100)
    text, cut = truncate("abc", 10)
    assert (text, cut) == ("abc", False)


async def test_call_many_runs_concurrently_and_keeps_order() -> None:
    started: list[str] = []
    both = asyncio.Event()

    @tool
    async def rendezvous(name: str, delay: float) -> str:
        """Waits until both calls have started: only passes if calls run concurrently."""
        started.append(name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)
        await asyncio.sleep(delay)
        return name

    ts = Toolset([rendezvous])
    calls = [call("rendezvous", '{"name": "first", "delay": 0.05}', "a"),
             call("rendezvous", '{"name": "second", "delay": 0}', "b")]
    results = await ts.call_many(calls, CTX)
    assert [r.content for r in results] == ["first", "second"]
    assert [r.call_id for r in results] == ["a", "b"]


async def test_approval_hook_rejects_with_reason() -> None:
    seen: list[str] = []

    async def approve(c: ToolCall) -> tuple[bool, str]:
        seen.append(c.name)
        return (c.name != "boom", "boom is not allowed here")

    ts = Toolset([echo, boom], approval=approve)
    rejected = await ts.call(call("boom", '{"reason": "x"}'), CTX)
    assert rejected.error == "rejected" and "boom is not allowed here" in rejected.content
    assert (await ts.call(call("echo", '{"text": "y"}'), CTX)).ok
    assert seen == ["boom", "echo"]


async def test_aclose_closes_every_tool_and_duplicates_refused() -> None:
    a = RawTool()
    ts = Toolset([a, echo])
    await ts.aclose()
    assert a.closed
    try:
        ts.add(echo)
    except ValueError as exc:
        assert "duplicate" in str(exc)
    else:
        raise AssertionError("duplicate tool name accepted")
    assert [s.name for s in ts.specs()] == ["raw", "echo"]


async def test_truncated_call_is_reported_not_run() -> None:
    ran: list[str] = []

    @tool
    def note(text: str) -> str:
        """Record a note."""
        ran.append(text)
        return "ok"

    toolset = Toolset([note])
    # Valid JSON, but the model's output ended before the call's end marker: do not run it.
    cut = ToolCall(id="1", name="note", arguments='{"text": "hal"}', truncated=True)
    result = await toolset.call(cut, ToolContext())
    assert result.error == "invalid_json"
    assert "cut off" in result.content and "hal" in result.content
    assert ran == []
    whole = await toolset.call(cut.model_copy(update={"truncated": False}), ToolContext())
    assert whole.ok and ran == ["hal"]
