"""Incremental parser for K2 output: reasoning, content and tool calls (docs/k2.md,
"Output parsing").

Feed decoded text in any chunking (single characters, token pieces, whole strings); the
result is the same. A possible marker prefix at the end of a chunk is held back until the next
chunk decides it, so split markers never leak into reasoning, content or arguments.

Behaviour (the union of the vLLM/SGLang ``kimi_k2`` parsers): an optional leading ``<think>``;
without it the output is reasoning from the start (``implicit_reasoning``, on by default
because the generation prompt leaves the model inside its thinking). ``</think>`` or the
tool-call section begin ends reasoning. Inside a section, text between calls is noise and
dropped; an output may hold several sections and the calls of all of them are kept (as vLLM
and SGLang return them). A call's identifier is ``[functions.]NAME:IDX`` (name = last dot
component before the colon), malformed identifiers are skipped (and listed), arguments are
kept raw even when not valid JSON, text after a section end is dropped, ``<|im_end|>`` ends
the turn. A call that never saw its end marker is reported with ``truncated=True``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any, Literal

from thinkact.chat_format.ids import make_call_id, parse_call_id
from thinkact.chat_format.tokens import DEFAULT_MARKERS, Markers
from thinkact.messages import Message, ToolCall, ToolSpec


@dataclass
class ParsedToolCall:
    """One call as the model wrote it; ``id`` is the model's native identifier."""

    id: str
    name: str
    arguments: str
    index: int
    truncated: bool = False

    def to_tool_call(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments=self.arguments,
                        truncated=self.truncated)


@dataclass
class TextDelta:
    kind: Literal["reasoning", "content"]
    text: str


@dataclass
class ToolCallParsed:
    call: ParsedToolCall


ParseEvent = TextDelta | ToolCallParsed


@dataclass
class ParseResult:
    reasoning: str | None
    content: str | None
    tool_calls: list[ParsedToolCall]
    malformed: list[str] = field(default_factory=list)  # identifiers of skipped calls
    finished: bool = False  # saw the end-of-turn marker

    @property
    def truncated(self) -> bool:
        return any(c.truncated for c in self.tool_calls)

    def to_message(self) -> Message:
        return Message(
            role="assistant",
            content=self.content,
            reasoning=self.reasoning,
            tool_calls=[c.to_tool_call() for c in self.tool_calls],
        )


class _State(Enum):
    START = auto()
    REASONING = auto()
    CONTENT = auto()
    SECTION = auto()
    CALL_ID = auto()
    ARGS = auto()
    AFTER = auto()
    DONE = auto()


_BARE_COUNTER = re.compile(r"^\s*(\d+)\s*$")


class K2OutputParser:
    """Feed text with :meth:`feed` (returns events); :meth:`final` flushes and summarises."""

    def __init__(
        self,
        *,
        implicit_reasoning: bool = True,
        tools: Sequence[ToolSpec] = (),
        markers: Markers = DEFAULT_MARKERS,
    ) -> None:
        self.markers = m = markers
        self.implicit_reasoning = implicit_reasoning
        self.tools = list(tools)
        self._state = _State.START
        self._buf = ""
        self._reasoning: str | None = None
        self._content = ""
        self._calls: list[ParsedToolCall] = []
        self._malformed: list[str] = []
        self._id = ""
        self._args = ""
        self._events: list[ParseEvent] = []
        self._relevant: dict[_State, tuple[str, ...]] = {
            _State.REASONING: (m.think_end, m.section_begin, m.im_end),
            _State.CONTENT: (m.section_begin, m.im_end),
            _State.SECTION: (m.call_begin, m.section_end, m.im_end),
            _State.CALL_ID: (m.arg_begin, m.call_begin, m.call_end, m.section_end, m.im_end),
            _State.ARGS: (m.call_end, m.call_begin, m.section_end, m.im_end),
            _State.AFTER: (m.section_begin, m.im_end),
        }

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def feed(self, text: str) -> list[ParseEvent]:
        self._buf += text
        self._process(final=False)
        return self._take_events()

    def flush(self) -> list[ParseEvent]:
        """End of output: release held-back text and close an open call (marked truncated)."""
        self._process(final=True)
        if self._state in (_State.CALL_ID, _State.ARGS):
            self._close_call(truncated=True)
            self._state = _State.AFTER
        return self._take_events()

    def final(self) -> ParseResult:
        """Flush (events not taken are discarded) and summarise the whole output."""
        self.flush()
        return ParseResult(
            reasoning=self._reasoning,
            content=self._content or None,
            tool_calls=list(self._calls),
            malformed=list(self._malformed),
            finished=self._state is _State.DONE,
        )

    def _take_events(self) -> list[ParseEvent]:
        events, self._events = self._events, []
        return events

    # -- scanning -------------------------------------------------------------------------

    def _process(self, final: bool) -> None:
        while self._buf:
            if self._state is _State.DONE:
                self._buf = ""
                return
            if self._state is _State.START:
                if not self._decide_start(final):
                    return
                continue
            found = self._earliest(self._relevant[self._state])
            if found is not None:
                idx, marker = found
                self._text(self._buf[:idx])
                self._buf = self._buf[idx + len(marker):]
                self._on_marker(marker)
                continue
            keep = 0 if final else self._held_back(self._relevant[self._state])
            self._text(self._buf[: len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep:]
            return
        if final and self._state is _State.START:
            self._decide_start(final=True)

    def _decide_start(self, final: bool) -> bool:
        """Consume an optional leading ``<think>``; False while the buffer cannot tell yet."""
        think = self.markers.think
        if self._buf.startswith(think):
            self._buf = self._buf[len(think):]
            self._state = _State.REASONING
        elif think.startswith(self._buf) and not final:
            return False
        else:
            self._state = _State.REASONING if self.implicit_reasoning else _State.CONTENT
        if self._state is _State.REASONING:
            self._reasoning = ""
        return True

    def _earliest(self, markers: tuple[str, ...]) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for marker in markers:
            i = self._buf.find(marker)
            if i >= 0 and (best is None or i < best[0]):
                best = (i, marker)
        return best

    def _held_back(self, markers: tuple[str, ...]) -> int:
        """Length of the longest buffer suffix that could still grow into a marker."""
        longest = 0
        for marker in markers:
            for n in range(min(len(marker) - 1, len(self._buf)), longest, -1):
                if self._buf.endswith(marker[:n]):
                    longest = n
                    break
        return longest

    def _text(self, text: str) -> None:
        if not text:
            return
        st = self._state
        if st is _State.REASONING:
            self._reasoning = (self._reasoning or "") + text
            self._events.append(TextDelta("reasoning", text))
        elif st is _State.CONTENT:
            self._content += text
            self._events.append(TextDelta("content", text))
        elif st is _State.CALL_ID:
            self._id += text
        elif st is _State.ARGS:
            self._args += text
        # SECTION / AFTER: noise between calls and text after the section are dropped.

    def _on_marker(self, marker: str) -> None:
        m, st = self.markers, self._state
        if marker == m.im_end:
            if st in (_State.CALL_ID, _State.ARGS):
                self._close_call(truncated=True)
            self._state = _State.DONE
        elif st in (_State.REASONING, _State.CONTENT):
            self._state = _State.CONTENT if marker == m.think_end else _State.SECTION
        elif st is _State.AFTER:  # marker is section_begin: another section
            self._state = _State.SECTION
        elif st is _State.SECTION:
            self._state = _State.AFTER if marker == m.section_end else self._open_call()
        elif st is _State.CALL_ID and marker == m.arg_begin:
            self._args = ""
            self._state = _State.ARGS
        elif st in (_State.CALL_ID, _State.ARGS):
            complete = st is _State.ARGS and marker == m.call_end
            self._close_call(truncated=not complete)
            if marker == m.call_begin:
                self._state = self._open_call()
            else:
                self._state = _State.AFTER if marker == m.section_end else _State.SECTION

    def _open_call(self) -> _State:
        self._id = ""
        self._args = ""
        return _State.CALL_ID

    def _close_call(self, truncated: bool) -> None:
        identifier, args = self._id.strip(), self._args.strip()
        self._id = self._args = ""
        resolved = self._resolve(identifier, args)
        if resolved is None:
            self._malformed.append(identifier)
            return
        call_id, name = resolved
        call = ParsedToolCall(call_id, name, args, index=len(self._calls), truncated=truncated)
        self._calls.append(call)
        self._events.append(ToolCallParsed(call))

    def _resolve(self, identifier: str, args: str) -> tuple[str, str] | None:
        parsed = parse_call_id(identifier)
        if parsed is not None:
            return identifier, parsed.name
        bare = _BARE_COUNTER.match(identifier)
        if bare is None:
            return None
        name = self._infer_tool(args)
        return (make_call_id(name, int(bare.group(1))), name) if name else None

    def _infer_tool(self, args: str) -> str | None:
        """For a bare counter id: the single declared tool, or the one the argument keys fit."""
        if len(self.tools) == 1:
            return self.tools[0].name
        try:
            value: Any = json.loads(args or "{}")
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict):
            return None
        keys = set(value)
        fits = []
        for tool in self.tools:
            props = set(tool.parameters.get("properties", {}))
            required = set(tool.parameters.get("required", []))
            if keys <= props and required <= keys:
                fits.append(tool.name)
        return fits[0] if len(fits) == 1 else None


def parse_output(
    text: str, *, implicit_reasoning: bool = True, tools: Sequence[ToolSpec] = ()
) -> ParseResult:
    """Non-streaming convenience: parse a complete output string."""
    parser = K2OutputParser(implicit_reasoning=implicit_reasoning, tools=tools)
    parser.feed(text)
    return parser.final()
