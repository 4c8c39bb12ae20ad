"""Render a conversation into K2 Thinking's chat format (docs/k2.md, "Chat template").

The output is the exact string the upstream Jinja template produces, so a real K2 model sees
what it was trained on. Every UNCONFIRMED detail (tool-declaration JSON separators, tool-call
index scheme, the default system prompt) is a field of :class:`ChatFormat`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from thinkact.chat_format.ids import IdScheme, normalize_tool_call_ids
from thinkact.chat_format.tokens import DEFAULT_MARKERS, Markers
from thinkact.messages import Message, ToolSpec
from thinkact.untrusted import unmarked

DEFAULT_SYSTEM_PROMPT = "You are Kimi, an AI assistant created by Moonshot AI."

# Jinja's ``tojson`` as chat templates run it (transformers' override) is ``json.dumps`` with
# default separators and ``ensure_ascii=False``; "compact" is what other Kimi templates use.
JSON_SEPARATORS: dict[str, tuple[str, str]] = {"default": (", ", ": "), "compact": (",", ":")}

Retention = Literal["current_turn", "all", "none"]


@dataclass(frozen=True)
class ChatFormat:
    """Knobs of the K2 chat format; the defaults reproduce the upstream template.

    ``default_system``: inserted when the conversation has no leading system message
    (``None`` turns it off). ``reasoning_retention``: ``current_turn`` is the template's rule
    (docs/k2.md); ``all``/``none`` are for experiments. ``think_in_prompt`` pre-fills ``<think>``
    after the generation prompt (the upstream template does not). ``tool_declare``: ``full``
    declares tools as the template does; ``signatures`` drops every ``description`` (names and
    JSON schemas only), which is what a tiny model with a short context is trained on.
    ``tool_envelope``: ``strip`` renders tool results without their untrusted-output envelope
    (the text inside stays neutralised), for a model trained on bare outputs.
    """

    markers: Markers = DEFAULT_MARKERS
    default_system: str | None = DEFAULT_SYSTEM_PROMPT
    json_separators: Literal["default", "compact"] = "default"
    normalize_ids: bool = True
    id_scheme: IdScheme = "global"
    use_message_name: bool = True
    reasoning_retention: Retention = "current_turn"
    think_in_prompt: bool = False
    tool_declare: Literal["full", "signatures"] = "full"
    tool_envelope: Literal["keep", "strip"] = "keep"


DEFAULT_FORMAT = ChatFormat()


def tools_json(tools: Sequence[ToolSpec | dict[str, Any]], fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    """The OpenAI-style tools array as the tool_declare turn carries it."""
    if fmt.json_separators not in JSON_SEPARATORS:
        raise ValueError(f"unknown json_separators {fmt.json_separators!r}")
    array = [t.to_openai() if isinstance(t, ToolSpec) else t for t in tools]
    if fmt.tool_declare == "signatures":
        array = [_without_descriptions(t) for t in array]
    elif fmt.tool_declare != "full":
        raise ValueError(f"unknown tool_declare {fmt.tool_declare!r}; known: full, signatures")
    return json.dumps(array, ensure_ascii=False, separators=JSON_SEPARATORS[fmt.json_separators])


def _without_descriptions(value: Any) -> Any:
    """``value`` with every ``description`` key removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def format_from_dict(data: dict[str, Any]) -> ChatFormat:
    """A :class:`ChatFormat` from a checkpoint's ``chat_format.json`` (unknown keys refused)."""
    known = {f.name for f in fields(ChatFormat)} - {"markers"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown chat format keys {sorted(unknown)}; known: {sorted(known)}")
    return replace(DEFAULT_FORMAT, **data)


def format_to_dict(fmt: ChatFormat) -> dict[str, Any]:
    """The fields of ``fmt`` that differ from the upstream template's defaults."""
    return {f.name: getattr(fmt, f.name) for f in fields(ChatFormat)
            if f.name != "markers" and getattr(fmt, f.name) != getattr(DEFAULT_FORMAT, f.name)}


def _turn(role_token: str, name: str, body: str, fmt: ChatFormat) -> str:
    return f"{role_token}{name}{fmt.markers.im_middle}{body}{fmt.markers.im_end}"


def render_tool_calls(msg: Message, fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    """The tool-call section of an assistant turn ('' when it has no calls)."""
    if not msg.tool_calls:
        return ""
    m = fmt.markers
    calls = "".join(
        f"{m.call_begin}{c.id}{m.arg_begin}{c.arguments}{m.call_end}" for c in msg.tool_calls
    )
    return f"{m.section_begin}{calls}{m.section_end}"


def render_assistant_body(
    msg: Message, keep_reasoning: bool = True, fmt: ChatFormat = DEFAULT_FORMAT
) -> str:
    """What follows the assistant header: think block, content, tool calls (no ``im_end``)."""
    m = fmt.markers
    reasoning = (msg.reasoning or "") if keep_reasoning else ""
    return f"{m.think}{reasoning}{m.think_end}{msg.content or ''}{render_tool_calls(msg, fmt)}"


def generation_prompt(fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    m = fmt.markers
    return f"{m.im_assistant}assistant{m.im_middle}" + (m.think if fmt.think_in_prompt else "")


def _last_final_answer(messages: Sequence[Message]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant" and not messages[i].tool_calls:
            return i
    return -1


def _keeps_reasoning(i: int, last_final: int, fmt: ChatFormat) -> bool:
    if fmt.reasoning_retention == "all":
        return True
    if fmt.reasoning_retention == "none":
        return False
    return i > last_final


def render_message(
    msg: Message, keep_reasoning: bool = True, fmt: ChatFormat = DEFAULT_FORMAT
) -> str:
    """One framed turn. The name in the header is ``msg.name`` if set, else the role."""
    m = fmt.markers
    name = msg.name if (fmt.use_message_name and msg.name) else msg.role
    if msg.role == "assistant":
        return _turn(m.im_assistant, name, render_assistant_body(msg, keep_reasoning, fmt), fmt)
    if msg.role == "user":
        return _turn(m.im_user, name, msg.content or "", fmt)
    if msg.role == "tool":
        if msg.tool_call_id is None:
            raise ValueError("tool message without tool_call_id cannot be rendered")
        body = msg.content or ""
        if fmt.tool_envelope == "strip":
            body = unmarked(body)
        return _turn(m.im_system, name, f"## Return of {msg.tool_call_id}\n{body}", fmt)
    if msg.role == "system":
        return _turn(m.im_system, name, msg.content or "", fmt)
    raise ValueError(f"unknown message role {msg.role!r}")


def render(
    messages: Sequence[Message],
    tools: Sequence[ToolSpec | dict[str, Any]] = (),
    *,
    add_generation_prompt: bool = True,
    fmt: ChatFormat = DEFAULT_FORMAT,
) -> str:
    """The full prompt string for ``messages`` (+ tool declarations, + generation prompt)."""
    msgs = normalize_tool_call_ids(messages, fmt.id_scheme) if fmt.normalize_ids else list(
        messages)
    m = fmt.markers
    parts: list[str] = []
    if tools:
        parts.append(_turn(m.im_system, "tool_declare", tools_json(tools, fmt), fmt))
    if fmt.default_system is not None and (not msgs or msgs[0].role != "system"):
        parts.append(_turn(m.im_system, "system", fmt.default_system, fmt))
    last_final = _last_final_answer(msgs)
    for i, msg in enumerate(msgs):
        parts.append(render_message(msg, _keeps_reasoning(i, last_final, fmt), fmt))
    if add_generation_prompt:
        parts.append(generation_prompt(fmt))
    return "".join(parts)
