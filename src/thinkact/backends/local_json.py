"""A JSON-validity guard for tool-call arguments in local generation (constrained decoding).

:class:`JsonPrefix` is a small pushdown automaton that says whether a string is a prefix of
some JSON object and whether it is a complete one. :class:`ArgumentGuard` watches the token
stream: between ``<|tool_call_argument_begin|>`` and ``<|tool_call_end|>`` it rejects any
token whose text would make the arguments an invalid JSON prefix, and allows the end marker
only once the object is complete. This is the "schema accuracy" lever of K2-Vendor-Verifier
(docs/k2.md) in its simplest form (valid JSON; no schema).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_WS = " \t\n\r"
_LITERALS = {"t": "rue", "f": "alse", "n": "ull"}
_HEX = set("0123456789abcdefABCDEF")


@dataclass
class JsonPrefix:
    """Feed characters; ``ok`` turns False at the first character no JSON object allows."""

    stack: list[str] = field(default_factory=list)  # open containers: "{" / "["
    mode: str = "start"  # start|value|key|key_or_end|colon|next|value_or_end|str|num|lit|done
    in_key: bool = False
    escape: int = 0  # 0 none, 1 after backslash, 2..5 hex digits still expected (\uXXXX)
    num: str = ""  # the number read so far
    lit: str = ""  # remaining letters of true/false/null
    ok: bool = True

    def copy(self) -> JsonPrefix:
        return JsonPrefix(list(self.stack), self.mode, self.in_key, self.escape, self.num,
                          self.lit, self.ok)

    @property
    def complete(self) -> bool:
        return self.ok and self.mode == "done"

    def feed(self, text: str) -> bool:
        for ch in text:
            if not self.ok:
                return False
            self.ok = self._step(ch)
        return self.ok

    def _step(self, ch: str) -> bool:
        mode = self.mode
        if mode == "str":
            return self._string(ch)
        if mode == "num":
            if _number_prefix(self.num + ch):
                self.num += ch
                return True
            if not _number_complete(self.num):
                return False
            self._end_value()
            return self._step(ch)
        if mode == "lit":
            if ch != self.lit[0]:
                return False
            self.lit = self.lit[1:]
            if not self.lit:
                self._end_value()
            return True
        if ch in _WS:
            return True
        if mode == "start":
            return self._open(ch) if ch == "{" else False
        if mode == "done":
            return False
        if mode in ("key", "key_or_end"):
            if ch == "}" and mode == "key_or_end":
                return self._close("{")
            if ch == '"':
                self.mode, self.in_key = "str", True
                return True
            return False
        if mode == "colon":
            if ch == ":":
                self.mode = "value"
                return True
            return False
        if mode == "next":
            if ch == ",":
                self.mode = "key" if self.stack[-1] == "{" else "value"
                return True
            return self._close(self.stack[-1]) if ch in "}]" and _closes(ch,
                                                                          self.stack[-1]) else False
        # value or value_or_end
        if ch == "]" and mode == "value_or_end":
            return self._close("[")
        return self._value(ch)

    def _value(self, ch: str) -> bool:
        if ch in "{[":
            return self._open(ch)
        if ch == '"':
            self.mode, self.in_key = "str", False
            return True
        if ch == "-" or (ch.isdigit() and ch.isascii()):
            self.mode, self.num = "num", ch
            return True
        if ch in _LITERALS:
            self.mode, self.lit = "lit", _LITERALS[ch]
            return True
        return False

    def _open(self, ch: str) -> bool:
        self.stack.append(ch)
        self.mode = "key_or_end" if ch == "{" else "value_or_end"
        return True

    def _close(self, kind: str) -> bool:
        if not self.stack or self.stack[-1] != kind:
            return False
        self.stack.pop()
        self._end_value()
        return True

    def _end_value(self) -> None:
        self.mode = "next" if self.stack else "done"

    def _string(self, ch: str) -> bool:
        if self.escape == 1:
            if ch == "u":
                self.escape = 5
                return True
            self.escape = 0
            return ch in '"\\/bfnrt'
        if self.escape > 1:
            if ch not in _HEX:
                return False
            self.escape = 0 if self.escape == 2 else self.escape - 1
            return True
        if ch == "\\":
            self.escape = 1
            return True
        if ch == '"':
            if self.in_key:
                self.mode = "colon"
            else:
                self._end_value()
            return True
        return ord(ch) >= 0x20  # control characters must be escaped

def _closes(ch: str, kind: str) -> bool:
    return (ch, kind) in (("}", "{"), ("]", "["))


def _number_prefix(s: str) -> bool:
    """Whether ``s`` can start a JSON number (grammar of RFC 8259)."""
    i, n = 0, len(s)
    if i < n and s[i] == "-":
        i += 1
    if i == n:
        return True
    if s[i] == "0":
        i += 1
    elif s[i].isascii() and s[i].isdigit():
        while i < n and s[i].isascii() and s[i].isdigit():
            i += 1
    else:
        return False
    if i < n and s[i] == ".":
        i += 1
        if i == n:
            return True
        if not s[i].isdigit():
            return False
        while i < n and s[i].isascii() and s[i].isdigit():
            i += 1
    if i < n and s[i] in "eE":
        i += 1
        if i < n and s[i] in "+-":
            i += 1
        if i == n:
            return True
        while i < n and s[i].isascii() and s[i].isdigit():
            i += 1
    return i == n


def _number_complete(s: str) -> bool:
    return _number_prefix(s) and s[-1:].isdigit()


class ArgumentGuard:
    """Token-level state: inside arguments, only tokens that keep valid JSON are allowed."""

    def __init__(self, arg_begin: int, call_end: int, specials: Sequence[int],
                 token_text: Callable[[int], str]) -> None:
        self.arg_begin, self.call_end = arg_begin, call_end
        self.specials = frozenset(specials)
        self.token_text = token_text
        self.state: JsonPrefix | None = None  # None: not inside arguments
        self.rejections = 0

    @property
    def active(self) -> bool:
        return self.state is not None

    def allows(self, token: int) -> bool:
        if self.state is None:
            return True
        if token == self.call_end:
            return self.state.complete
        if token in self.specials:
            return False
        return self.state.copy().feed(self.token_text(token))

    def observe(self, token: int) -> None:
        """Advance with the token actually emitted (forced tokens included)."""
        if token == self.arg_begin:
            self.state = JsonPrefix()
        elif token == self.call_end or token in self.specials:
            self.state = None
        elif self.state is not None:
            self.state.feed(self.token_text(token))
