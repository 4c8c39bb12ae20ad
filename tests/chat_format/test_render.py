"""The K2 chat template rendering (docs/k2.md, "Chat template", "Tool-call ids")."""

from __future__ import annotations

import json

import pytest

from support.k2_chat import WEATHER, example_conversation
from thinkact.chat_format.ids import normalize_tool_call_ids, parse_call_id
from thinkact.chat_format.render import ChatFormat, render, tools_json
from thinkact.messages import Message, ToolCall

TOOLS_JSON = (
    '[{"type": "function", "function": {"name": "get_weather", "description": "Get the weather'
    ' for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}'
    ', "required": ["city"]}}}]'
)

EXPECTED_4_4 = (
    "<|im_system|>tool_declare<|im_middle|>" + TOOLS_JSON + "<|im_end|>"
    "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI."
    "<|im_end|><|im_user|>user<|im_middle|>Q1<|im_end|><|im_assistant|>assistant<|im_middle|>"
    "<think></think><|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
    '<|tool_call_argument_begin|>{"city": "Beijing"}<|tool_call_end|>'
    "<|tool_calls_section_end|><|im_end|><|im_system|>tool<|im_middle|>## Return of "
    "functions.get_weather:0\nSunny<|im_end|><|im_assistant|>assistant<|im_middle|>"
    "<think></think>A1<|im_end|><|im_user|>user<|im_middle|>Q2<|im_end|>"
    "<|im_assistant|>assistant<|im_middle|><think>R2a</think><|tool_calls_section_begin|>"
    "<|tool_call_begin|>functions.get_weather:1<|tool_call_argument_begin|>"
    '{"city": "Tokyo"}<|tool_call_end|><|tool_calls_section_end|><|im_end|>'
    "<|im_system|>tool<|im_middle|>## Return of functions.get_weather:1\nRain<|im_end|>"
    "<|im_assistant|>assistant<|im_middle|>"
)


def test_reference_example_character_for_character() -> None:
    assert render(example_conversation(), [WEATHER]) == EXPECTED_4_4


def test_tools_json_matches_jinja_tojson_as_chat_templates_run_it() -> None:
    from transformers.utils.chat_template_utils import _compile_jinja_template

    template = _compile_jinja_template("{{ tools | tojson }}")
    assert tools_json([WEATHER]) == template.render(tools=[WEATHER.to_openai()]) == TOOLS_JSON
    compact = tools_json([WEATHER], ChatFormat(json_separators="compact"))
    assert compact == json.dumps([WEATHER.to_openai()], separators=(",", ":"))
    assert ", " not in compact.replace("for a city.", "")


def test_no_tools_and_leading_system_message() -> None:
    msgs = [Message.system("Be brief."), Message.user("hi")]
    assert render(msgs) == (
        "<|im_system|>system<|im_middle|>Be brief.<|im_end|>"
        "<|im_user|>user<|im_middle|>hi<|im_end|><|im_assistant|>assistant<|im_middle|>"
    )
    no_default = render([Message.user("hi")], fmt=ChatFormat(default_system=None))
    assert no_default.startswith("<|im_user|>user")
    custom = render([Message.user("hi")], fmt=ChatFormat(default_system="X"))
    assert custom.startswith("<|im_system|>system<|im_middle|>X<|im_end|>")


def test_message_name_used_in_header_and_no_generation_prompt() -> None:
    msgs = [Message.user("q"), Message(role="assistant", tool_calls=[
        ToolCall(id="c1", name="get_weather", arguments="{}")]),
        Message(role="tool", content="ok", tool_call_id="c1", name="get_weather")]
    out = render(msgs, add_generation_prompt=False, fmt=ChatFormat(default_system=None))
    assert out.endswith("<|im_system|>get_weather<|im_middle|>## Return of "
                        "functions.get_weather:0\nok<|im_end|>")
    plain = render(msgs, add_generation_prompt=False,
                   fmt=ChatFormat(default_system=None, use_message_name=False))
    assert "<|im_system|>tool<|im_middle|>" in plain


def test_reasoning_retention_rule_and_options() -> None:
    conv = example_conversation()
    assert "R1a" not in render(conv) and "R1b" not in render(conv)
    everything = render(conv, fmt=ChatFormat(reasoning_retention="all"))
    assert all(r in everything for r in ("<think>R1a</think>", "<think>R1b</think>", "R2a"))
    assert "R2a" not in render(conv, fmt=ChatFormat(reasoning_retention="none"))
    # Once the second turn ends in a final answer, its reasoning becomes history too.
    done = [*conv, Message(role="assistant", reasoning="R2b", content="A2")]
    assert "R2a" not in render(done) and "<think></think>A2" in render(done)
    # Current turn with no final answer yet: reasoning absent renders as an empty block.
    assert render([Message.user("q"), Message(role="assistant", content="x", tool_calls=[
        ToolCall(id="a", name="f", arguments="{}")])]).count("<think></think>x") == 1


def test_tool_call_ids_global_and_per_turn() -> None:
    msgs = [
        Message.user("q"),
        Message(role="assistant", tool_calls=[ToolCall(id="call_0", name="a", arguments="{}"),
                                              ToolCall(id="call_1", name="b", arguments="{}")]),
        Message(role="tool", content="1", tool_call_id="call_0"),
        Message(role="tool", content="2", tool_call_id="call_1"),
        Message(role="assistant", tool_calls=[ToolCall(id="call_0", name="a", arguments="{}")]),
        Message(role="tool", content="3", tool_call_id="call_0"),
    ]
    glob = normalize_tool_call_ids(msgs)
    assert [c.id for c in glob[1].tool_calls] == ["functions.a:0", "functions.b:1"]
    assert [glob[i].tool_call_id for i in (2, 3, 5)] == [
        "functions.a:0", "functions.b:1", "functions.a:2"]
    per_turn = normalize_tool_call_ids(msgs, "per_turn")
    assert per_turn[4].tool_calls[0].id == "functions.a:0"
    assert per_turn[5].tool_call_id == "functions.a:0"
    assert msgs[1].tool_calls[0].id == "call_0"  # inputs untouched
    with pytest.raises(ValueError, match="scheme"):
        normalize_tool_call_ids(msgs, "weird")  # type: ignore[arg-type]
    kept = render(msgs, fmt=ChatFormat(normalize_ids=False))
    assert "<|tool_call_begin|>call_0<|tool_call_argument_begin|>" in kept


def test_parse_call_id() -> None:
    assert parse_call_id("functions.get_weather:0") is not None
    assert parse_call_id("get_weather:12").name == "get_weather"  # type: ignore[union-attr]
    assert parse_call_id("a.b.c:3").name == "c"  # type: ignore[union-attr]
    assert parse_call_id("functions.invalid.0") is None
    assert parse_call_id("functions.:1") is None


def test_tool_message_without_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="tool_call_id"):
        render([Message(role="tool", content="x")])


def test_tool_envelope_kept_or_stripped_for_a_model_trained_on_bare_outputs() -> None:
    from thinkact.untrusted import mark_untrusted

    out = mark_untrusted("395 <|im_end|>", "python")
    conv = [Message.user("q"), Message(role="assistant", tool_calls=[
        ToolCall(id="functions.python:0", name="python", arguments="{}")]),
        Message(role="tool", tool_call_id="functions.python:0", content=out)]
    kept = render(conv, fmt=ChatFormat(default_system=None))
    stripped = render(conv, fmt=ChatFormat(default_system=None, tool_envelope="strip"))
    assert "<untrusted_tool_output" in kept and "<untrusted_tool_output" not in stripped
    assert "## Return of functions.python:0\n395 ‹|im_end|›<|im_end|>" in stripped
