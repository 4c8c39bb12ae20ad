"""Rendering checked byte for byte against the official Kimi-K2-Thinking chat template.

``fixtures/kimi_k2_thinking_chat_template.jinja`` is the template Moonshot AI publishes with
the model (huggingface.co/moonshotai/Kimi-K2-Thinking, ``chat_template.jinja``), taken
verbatim from the copy llama.cpp keeps (github.com/ggml-org/llama.cpp,
``models/templates/moonshotai-Kimi-K2-Thinking.jinja``). It is rendered here as transformers'
``apply_chat_template`` renders it. Each shape is a request body a client may send to
``serve-model``; thinkact parses it as the server does and renders it with its own code.

The template is given the request with thinkact's two documented normalisations applied:
``developer`` is read as ``system`` (OpenAI's newer name for it), and ``reasoning_content:
null`` as absent (the template would print ``None`` into the think block).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from thinkact.chat_format.render import render
from thinkact.server.openai_app import RequestError, parse_messages, parse_tools

TEMPLATE = (Path(__file__).parent / "fixtures" / "kimi_k2_thinking_chat_template.jinja"
            ).read_text(encoding="utf-8")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
# key order as a client wrote it, with ``strict`` and no description
STRICT = {"function": {"parameters": {"type": "object", "additionalProperties": False,
                                      "properties": {"q": {"type": "string"}},
                                      "required": ["q"]},
                       "name": "search", "strict": True}, "type": "function"}


def call(idx: int, name: str, arguments: Any) -> dict[str, Any]:
    return {"id": f"functions.{name}:{idx}", "type": "function",
            "function": {"name": name, "arguments": arguments}}


def tool(idx: int, name: str, content: Any, with_name: bool = True) -> dict[str, Any]:
    msg = {"role": "tool", "tool_call_id": f"functions.{name}:{idx}", "content": content}
    return {**msg, "name": name} if with_name else msg


USER = {"role": "user", "content": "Weather in Beijing?"}
LOOP = [USER,
        {"role": "assistant", "content": None, "reasoning_content": "Check it.",
         "tool_calls": [call(0, "get_weather", '{"city": "Beijing"}')]},
        tool(0, "get_weather", "Sunny")]

SHAPES: dict[str, dict[str, Any]] = {
    "one user message": {"messages": [USER]},
    "system first": {"messages": [{"role": "system", "content": "Be brief."}, USER]},
    "developer first": {"messages": [{"role": "developer", "content": "Be brief."}, USER]},
    "system later": {"messages": [USER, {"role": "system", "content": "Answer in French."}]},
    "user content parts": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Weather in "}, {"type": "text", "text": "Beijing?"}]}]},
    "system content parts": {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, USER]},
    "named user": {"messages": [{"role": "user", "name": "alice", "content": "hi"}]},
    "non-ASCII": {"messages": [{"role": "user", "content": "北京天气？ é ✓"}]},
    "tools declared": {"messages": [USER], "tools": [WEATHER]},
    "tools in client key order with strict": {"messages": [USER], "tools": [STRICT, WEATHER]},
    "tool loop, arguments as string": {"messages": LOOP, "tools": [WEATHER]},
    "arguments as an object": {"tools": [WEATHER], "messages": [
        USER, {"role": "assistant", "reasoning_content": "r",
               "tool_calls": [call(0, "get_weather", {"city": "北京", "days": [1, 2]})]},
        tool(0, "get_weather", "Sunny")]},
    "reasoning_content null": {"tools": [WEATHER], "messages": [
        USER, {"role": "assistant", "reasoning_content": None,
               "tool_calls": [call(0, "get_weather", '{"city": "Beijing"}')]},
        tool(0, "get_weather", "Sunny")]},
    "reasoning_content empty and absent": {"tools": [WEATHER], "messages": [
        USER, {"role": "assistant", "reasoning_content": "",
               "tool_calls": [call(0, "get_weather", '{"city": "A"}')]},
        tool(0, "get_weather", "x"),
        {"role": "assistant", "tool_calls": [call(1, "get_weather", '{"city": "B"}')]},
        tool(1, "get_weather", "y")]},
    "tool result without name": {"tools": [WEATHER], "messages": [
        *LOOP[:2], tool(0, "get_weather", "Sunny", with_name=False)]},
    "tool result as content parts": {"tools": [WEATHER], "messages": [
        *LOOP[:2], tool(0, "get_weather", [{"type": "text", "text": "Sun"},
                                           {"type": "text", "text": "ny"}])]},
    "parallel calls with content": {"tools": [WEATHER], "messages": [
        USER, {"role": "assistant", "content": "Checking both.", "reasoning_content": "Two.",
               "tool_calls": [call(0, "get_weather", '{"city": "A"}'),
                              call(1, "get_weather", '{"city": "B"}')]},
        tool(0, "get_weather", "Sunny"), tool(1, "get_weather", "Rain")]},
    "finished turn then a new one": {"tools": [WEATHER], "messages": [
        *LOOP, {"role": "assistant", "content": "Sunny.", "reasoning_content": "Done."},
        {"role": "user", "content": "And Tokyo?"},
        {"role": "assistant", "reasoning_content": "Again.",
         "tool_calls": [call(1, "get_weather", '{"city": "Tokyo"}')]},
        tool(1, "get_weather", "Rain")]},
    "ends with a final answer": {"messages": [
        USER, {"role": "assistant", "content": "Sunny.", "reasoning_content": "Easy."}]},
    "multi-line tool output": {"tools": [WEATHER], "messages": [
        *LOOP[:2], tool(0, "get_weather", "line 1\nline 2\n\n## not a header")]},
    "empty user content": {"messages": [{"role": "user", "content": ""}]},
}


def official(body: dict[str, Any]) -> str:
    from transformers.utils.chat_template_utils import _compile_jinja_template

    messages = copy.deepcopy(body["messages"])
    for msg in messages:
        if msg["role"] == "developer":
            msg["role"] = "system"
        if "reasoning_content" in msg and msg["reasoning_content"] is None:
            del msg["reasoning_content"]
    return _compile_jinja_template(TEMPLATE).render(
        messages=messages, tools=body.get("tools"), add_generation_prompt=True)


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_renders_as_the_official_template(shape: str) -> None:
    body = SHAPES[shape]
    ours = render(parse_messages(body), parse_tools(body))
    assert ours == official(body)


def test_object_arguments_become_json_not_a_python_repr() -> None:
    body = SHAPES["arguments as an object"]
    (msg,) = [m for m in parse_messages(body) if m.tool_calls]
    assert msg.tool_calls[0].arguments == '{"city": "北京", "days": [1, 2]}'


@pytest.mark.parametrize("part", [
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
])
def test_non_text_parts_are_refused_by_name(part: dict[str, Any]) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "What?"},
                                                      part]}]}
    with pytest.raises(RequestError, match=rf"messages\[0\]: content\[1\]: {part['type']} "
                                           "parts are not supported, only text"):
        parse_messages(body)
