"""``Message`` <-> OpenAI chat wire format, with reasoning carried as ``reasoning_content``.

Rules that thinking APIs (Moonshot's K2 Thinking first) depend on:
- reasoning goes back on *every* assistant message exactly as received: ``""`` stays ``""``,
  ``None`` sends nothing (reasoning is never synthesised);
- an assistant message with tool calls and empty content omits ``content`` (Moonshot rejects
  an empty string there);
- tool results carry ``tool_call_id``, ``name`` and ``content``.
Reading accepts ``reasoning_content`` and the newer ``reasoning`` field, from dicts and from
OpenAI SDK objects (which do not declare either attribute).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from thinkact.backends.text_calls import as_written
from thinkact.chat_format.ids import normalize_tool_call_ids
from thinkact.messages import Message, ToolCall

REASONING_FIELDS = ("reasoning_content", "reasoning")


def read_field(obj: Any, name: str) -> Any:
    """A field from a dict or an SDK object, looking in pydantic ``model_extra`` too."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            value = extra.get(name)
    return value


def read_reasoning(obj: Any) -> str | None:
    """Reasoning text of a message or delta; ``None`` when the field is absent."""
    for name in REASONING_FIELDS:
        value = read_field(obj, name)
        if isinstance(value, str):
            return value
    return None


def message_to_wire(msg: Message, reasoning_field: str = "reasoning_content") -> dict[str, Any]:
    """One message as an OpenAI chat-completions request entry."""
    if msg.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": msg.tool_call_id or "",
            "name": msg.name or "",
            "content": msg.content or "",
        }
    out: dict[str, Any] = {"role": msg.role}
    if msg.role != "assistant":
        out["content"] = msg.content or ""
        if msg.name:
            out["name"] = msg.name
        return out
    if msg.tool_calls and all(c.written_as for c in msg.tool_calls):
        # the server passed these calls through as text: send them back as the model wrote
        # them (a template without tool support cannot render structured calls)
        out["content"] = "\n".join(t for t in (msg.content, as_written(msg.tool_calls)) if t)
    elif msg.tool_calls:
        if msg.content:
            out["content"] = msg.content
        out["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}}
            for c in msg.tool_calls
        ]
    else:
        out["content"] = msg.content or ""
    if msg.reasoning is not None:
        out[reasoning_field] = msg.reasoning
    return out


def to_wire(
    messages: Iterable[Message], reasoning_field: str = "reasoning_content"
) -> list[dict[str, Any]]:
    return [message_to_wire(m, reasoning_field) for m in messages]


def arguments_text(value: Any) -> str:
    """Tool-call arguments as the JSON text the model writes: a string is kept as sent, an
    object or array (some clients send them decoded) becomes JSON, as the K2 template's
    ``tojson`` renders it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def tool_call_from_wire(obj: Any) -> ToolCall:
    fn = read_field(obj, "function")
    return ToolCall(
        id=str(read_field(obj, "id") or ""),
        name=str(read_field(fn, "name") or ""),
        arguments=arguments_text(read_field(fn, "arguments")),
    )


def content_text(value: Any) -> str | None:
    """A message's content as one string: OpenAI content-part arrays have their text parts
    joined (nothing between them, as the K2 template joins them); any other part (an image,
    audio, a file) raises ``ValueError`` naming it, since thinkact's models read text only."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"content must be a string or a list of parts, not "
                         f"{type(value).__name__}")
    texts = []
    for i, part in enumerate(value):
        kind = read_field(part, "type")
        text = read_field(part, "text")
        if kind not in ("text", None) or not isinstance(text, str):
            raise ValueError(f"content[{i}]: {kind or 'non-text'} parts are not supported, "
                             "only text (this model reads no images, audio or files)")
        texts.append(text)
    return "".join(texts)


# OpenAI's newer SDKs send ``developer`` where older ones send ``system``; K2 has system only.
ROLE_ALIASES = {"developer": "system"}


def message_from_wire(obj: Any) -> Message:
    """An OpenAI message (dict or SDK object) as a ``Message``."""
    role = read_field(obj, "role") or "assistant"
    role = ROLE_ALIASES.get(role, role)
    if role not in ("system", "user", "assistant", "tool"):
        raise ValueError(f"unsupported message role {role!r}")
    calls = read_field(obj, "tool_calls") or []
    return Message(
        role=role,  # type: ignore[arg-type]  # checked just above
        content=content_text(read_field(obj, "content")),
        reasoning=read_reasoning(obj),
        tool_calls=[tool_call_from_wire(c) for c in calls],
        tool_call_id=read_field(obj, "tool_call_id"),
        name=read_field(obj, "name"),
    )


def k2_call_ids(messages: Iterable[Message]) -> list[Message]:
    """Rewrite every tool-call id to K2's ``functions.{name}:{idx}`` (conversation-global idx),
    keeping calls and results paired. Moonshot's API does this before the model sees a
    history; a self-hosted K2 does not, and foreign ids (``call_abc``) can make K2 emit
    malformed ids of its own. Same rule as the local chat format uses."""
    return normalize_tool_call_ids(list(messages), "global")
