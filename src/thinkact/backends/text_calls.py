"""Tool calls that a model wrote as text, recovered when the server returned none.

Servers without a tool parser for the model (llama.cpp's, llama-cpp-python's, a vLLM
started without ``--tool-call-parser``) pass such calls through as content. The formats open
models use:

- Hermes / Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, one block per
  call, optionally after some text;
- bare JSON: the whole content is ``{"name": ..., "arguments": {...}}`` (``parameters`` for
  Llama 3) or a list of them, optionally in a Markdown code fence;
- Llama 3: ``<|python_tag|>`` then such objects, ``;``-separated;
- Mistral: ``[TOOL_CALLS]`` then a JSON list of them, or ``[TOOL_CALLS]name[ARGS]{...}``.

The one rule: text is taken as calls only when it parses completely in one of these formats.
``parse_text_calls`` does not look at tool names; the caller decides what a name must be.
``as_written`` renders recovered calls back in their format, for the history sent to the
server that passed them through (its template may not render structured calls at all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from thinkact.events import AssistantMessage
from thinkact.messages import ToolCall

_HERMES = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.S)
_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")
_MISTRAL_ARGS = re.compile(r"\s*([A-Za-z_][\w.\-]*)\[ARGS\]")


@dataclass
class TextCalls:
    """Calls recovered from ``content``: the text before them, and the format's name."""

    prefix: str
    calls: list[ToolCall]
    written_as: str


def _one_call(value: Any, index: int, written_as: str) -> ToolCall | None:
    """A ``{"name": ..., "arguments"|"parameters": {...}}`` object as a call, else None."""
    if not isinstance(value, dict):
        return None
    fn = value.get("function") if value.get("type") == "function" else None
    if isinstance(fn, dict):  # {"type": "function", "function": {...}}
        value = fn
    name = value.get("name")
    keys = set(value) - {"name", "type", "id"}
    if not isinstance(name, str) or not _NAME.match(name) or len(keys) > 1:
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if keys and not keys <= {"arguments", "parameters"}:
        return None
    if isinstance(args, str):  # some models encode the arguments a second time
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return ToolCall(id=f"functions.{name}:{index}", name=name,
                    arguments=json.dumps(args, ensure_ascii=False), written_as=written_as)


def _calls_from_json(text: str, written_as: str, many: bool = True) -> list[ToolCall] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) and many else [value]
    calls = [_one_call(item, i, written_as) for i, item in enumerate(items)]
    if not calls or any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def _hermes(content: str) -> TextCalls | None:
    blocks = list(_HERMES.finditer(content))
    if not blocks or content[blocks[-1].end():].strip():
        return None
    between = [content[a.end():b.start()] for a, b in pairwise(blocks)]
    if any(gap.strip() for gap in between):
        return None
    calls = []
    for block in blocks:
        found = _calls_from_json(block.group(1), "hermes", many=False)
        if found is None:
            return None
        calls.extend(found)
    return TextCalls(content[:blocks[0].start()], calls, "hermes")


def _llama3(content: str) -> TextCalls | None:
    head, tag, body = content.partition("<|python_tag|>")
    if not tag:
        return None
    calls: list[ToolCall] = []
    for piece in body.split(";"):
        if not piece.strip():
            continue
        found = _calls_from_json(piece.strip(), "llama3", many=False)
        if found is None:
            return None
        calls.extend(found)
    return TextCalls(head, calls, "llama3") if calls else None


def _mistral(content: str) -> TextCalls | None:
    head, tag, body = content.partition("[TOOL_CALLS]")
    if not tag:
        return None
    calls = _calls_from_json(body.strip(), "mistral")
    if calls is not None:
        return TextCalls(head, calls, "mistral")
    calls = []  # the newer form: [TOOL_CALLS]name[ARGS]{...}, repeated
    for chunk in body.split("[TOOL_CALLS]"):
        named = _MISTRAL_ARGS.match(chunk)
        if named is None:
            return None
        try:
            args = json.loads(chunk[named.end():])
        except json.JSONDecodeError:
            return None
        call = _one_call({"name": named.group(1), "arguments": args}, len(calls), "mistral")
        if call is None:
            return None
        calls.append(call)
    return TextCalls(head, calls, "mistral") if calls else None


def _bare(content: str) -> TextCalls | None:
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text.startswith(("{", "[")):
        return None
    calls = _calls_from_json(text, "json")
    return TextCalls("", calls, "json") if calls else None


def parse_text_calls(content: str | None) -> TextCalls | None:
    """The calls ``content`` consists of, or None when it is not (only) tool calls."""
    if not content or not content.strip():
        return None
    for parse in (_hermes, _llama3, _mistral, _bare):
        found = parse(content)
        if found is not None:
            for i, call in enumerate(found.calls):
                call.id = f"functions.{call.name}:{i}"
            return found
    return None


def with_text_calls(event: AssistantMessage, declared: Collection[str], *,
                    undeclared: bool = False) -> AssistantMessage:
    """``event`` with a call-only answer turned into its calls: those naming only declared
    tools (``undeclared=False``), or those naming at least one tool that is not declared
    (``undeclared=True``, so the model gets the unknown-tool error rather than an answer)."""
    if event.message.tool_calls:
        return event
    found = parse_text_calls(event.message.content)
    if found is None or all(c.name in declared for c in found.calls) == undeclared:
        return event
    message = event.message.model_copy(update={
        "content": found.prefix.strip() or None, "tool_calls": found.calls})
    return event.model_copy(update={"message": message, "finish_reason": "tool_calls"})


# Inside JSON strings, characters that could form chat structure (``<|im_end|>``,
# ``</tool_call>``, ``[INST]``) once a server renders and tokenizes the history are written
# as \u escapes: the same JSON value, inert text. A model may have written them escaped;
# decoding them on the way back must not turn them into control tokens.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_INERT = {c: f"\\u{ord(c):04x}" for c in "<>&[]"}


def _inert_json(value: Any) -> str:
    return _JSON_STRING.sub(lambda m: "".join(_INERT.get(c, c) for c in m.group(0)),
                            json.dumps(value, ensure_ascii=False))


def as_written(calls: list[ToolCall]) -> str:
    """Calls recovered from text, written again in the format the model used (Mistral's in
    its list form), with structure-like characters in strings escaped."""
    objs = [{"name": c.name, "arguments": json.loads(c.arguments or "{}")} for c in calls]
    kind = calls[0].written_as
    if kind == "hermes":
        return "\n".join(f"<tool_call>\n{_inert_json(o)}\n</tool_call>" for o in objs)
    if kind == "llama3":  # Llama 3 names the arguments "parameters"
        return "<|python_tag|>" + "; ".join(
            _inert_json({"name": o["name"], "parameters": o["arguments"]}) for o in objs)
    if kind == "mistral":
        return "[TOOL_CALLS]" + _inert_json(objs)
    return _inert_json(objs[0] if len(objs) == 1 else objs)
