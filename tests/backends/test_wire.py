"""Message <-> OpenAI wire format: reasoning carried exactly, Moonshot's quirks respected."""

from __future__ import annotations

from openai.types.chat.chat_completion_chunk import ChoiceDelta
from openai.types.chat.chat_completion_message import ChatCompletionMessage

from thinkact.backends.wire import (
    k2_call_ids,
    message_from_wire,
    message_to_wire,
    read_reasoning,
    to_wire,
)
from thinkact.messages import Message, ToolCall, ToolResult

CALL = ToolCall(id="functions.search:0", name="search", arguments='{"q": "x"}')


def test_reasoning_sent_back_exactly_including_empty_and_absent() -> None:
    with_reasoning = Message(role="assistant", reasoning="  think\n ✓ ", tool_calls=[CALL])
    empty = Message(role="assistant", reasoning="", tool_calls=[CALL])
    absent = Message(role="assistant", reasoning=None, content="hi")
    assert message_to_wire(with_reasoning)["reasoning_content"] == "  think\n ✓ "
    assert message_to_wire(empty)["reasoning_content"] == ""
    assert "reasoning_content" not in message_to_wire(absent)
    assert message_to_wire(with_reasoning, "reasoning")["reasoning"] == "  think\n ✓ "


def test_tool_call_message_omits_empty_content_but_answer_keeps_it() -> None:
    wire = message_to_wire(Message(role="assistant", content="", reasoning="r", tool_calls=[CALL]))
    assert "content" not in wire
    assert wire["tool_calls"] == [{"id": CALL.id, "type": "function",
                                   "function": {"name": "search", "arguments": '{"q": "x"}'}}]
    assert message_to_wire(Message(role="assistant", content=""))["content"] == ""
    spoken = message_to_wire(Message(role="assistant", content="let me look", tool_calls=[CALL]))
    assert spoken["content"] == "let me look"


def test_tool_result_carries_id_name_content() -> None:
    msg = Message.tool(ToolResult(call_id=CALL.id, name="search", content="3 hits"))
    assert message_to_wire(msg) == {"role": "tool", "tool_call_id": CALL.id, "name": "search",
                                    "content": "3 hits"}
    assert to_wire([Message.system("s"), Message.user("u")]) == [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def test_read_reasoning_from_dicts_and_sdk_objects() -> None:
    assert read_reasoning({"reasoning_content": "a"}) == "a"
    assert read_reasoning({"reasoning": "b"}) == "b"
    assert read_reasoning({"content": "c"}) is None
    assert read_reasoning({"reasoning_content": ""}) == ""
    delta = ChoiceDelta.model_validate({"content": None, "reasoning_content": "sdk"})
    assert read_reasoning(delta) == "sdk"
    newer = ChoiceDelta.model_validate({"reasoning": "newer field"})
    assert read_reasoning(newer) == "newer field"


def test_message_from_sdk_object_round_trips() -> None:
    sdk = ChatCompletionMessage.model_validate({
        "role": "assistant", "content": None, "reasoning_content": "why",
        "tool_calls": [{"id": CALL.id, "type": "function",
                        "function": {"name": "search", "arguments": '{"q": "x"}'}}],
    })
    msg = message_from_wire(sdk)
    assert msg.reasoning == "why" and msg.tool_calls == [CALL] and msg.content is None
    assert message_from_wire(message_to_wire(msg)) == msg


def test_k2_call_ids_rewrites_foreign_ids_and_keeps_pairs() -> None:
    history = [
        Message.user("q"),
        Message(role="assistant", reasoning="a", tool_calls=[
            ToolCall(id="call_x", name="search"), ToolCall(id="search:0", name="open")]),
        Message(role="tool", tool_call_id="call_x", name="search", content="1"),
        Message(role="tool", tool_call_id="search:0", name="open", content="2"),
        Message(role="assistant", reasoning="b", tool_calls=[ToolCall(id="z", name="search")]),
        Message(role="tool", tool_call_id="z", name="search", content="3"),
    ]
    out = k2_call_ids(history)
    assert [c.id for m in out for c in m.tool_calls] == [
        "functions.search:0", "functions.open:1", "functions.search:2"]
    assert [m.tool_call_id for m in out if m.role == "tool"] == [
        "functions.search:0", "functions.open:1", "functions.search:2"]
    assert history[1].tool_calls[0].id == "call_x"  # the caller's history is untouched
    assert [m.reasoning for m in out] == [m.reasoning for m in history]
