"""Tool-call id normalisation: history ids become ``functions.NAME:IDX`` (docs/k2.md,
"Tool-call ids").

The official API rewrites every historical call id to this form before the model sees it;
foreign ids such as ``call_abc`` or ``search:0`` in history can make K2 emit wrong ids. Whether
``IDX`` counts across the whole conversation or restarts in each assistant turn is UNCONFIRMED,
so both are offered (global is the default). Tool results are renamed consistently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from thinkact.messages import Message

IdScheme = Literal["global", "per_turn"]

# Optional "functions." prefix, a name (anything but '<' and ':'-free tail), a colon, digits.
_ID_RE = re.compile(r"^\s*(?P<base>[^<]+?):(?P<idx>\d+)\s*$")


def make_call_id(name: str, idx: int) -> str:
    return f"functions.{name}:{idx}"


@dataclass(frozen=True)
class ParsedId:
    name: str
    index: int


def parse_call_id(identifier: str) -> ParsedId | None:
    """Name = the part before the colon, last dot component; None when malformed."""
    m = _ID_RE.match(identifier)
    if m is None:
        return None
    name = m.group("base").strip().split(".")[-1]
    if not name:
        return None
    return ParsedId(name=name, index=int(m.group("idx")))


def normalize_tool_call_ids(
    messages: Sequence[Message], scheme: IdScheme = "global"
) -> list[Message]:
    """Copies of ``messages`` with assistant call ids and tool-result ids renamed.

    A tool message is matched to the most recent assistant turn that issued its id, so
    providers that reuse ids across turns (``call_0`` every time) still map correctly. Tool
    messages whose id no assistant issued are left unchanged.
    """
    if scheme not in ("global", "per_turn"):
        raise ValueError(f"unknown tool-call id scheme {scheme!r} (use 'global' or 'per_turn')")
    out: list[Message] = []
    counter = 0
    mapping: dict[str, str] = {}
    for msg in messages:
        if msg.role == "assistant" and msg.tool_calls:
            if scheme == "per_turn":
                counter = 0
            calls = []
            for call in msg.tool_calls:
                new_id = make_call_id(call.name, counter)
                counter += 1
                mapping[call.id] = new_id
                calls.append(call.model_copy(update={"id": new_id}))
            out.append(msg.model_copy(update={"tool_calls": calls}))
        elif msg.role == "tool" and msg.tool_call_id in mapping:
            out.append(msg.model_copy(update={"tool_call_id": mapping[msg.tool_call_id]}))
        else:
            out.append(msg)
    return out
