"""The tools of one agent, and the one place where a tool call can fail safely.

``Toolset.call`` never raises: unknown tool, arguments that are not JSON, schema
violations, approval refusals, exceptions and timeouts all come back as a ``ToolResult``
with an error kind and a message the model can act on. Long outputs are cut to a head and a
tail with a visible note, so one chatty tool cannot flood the context window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import jsonschema

from thinkact.messages import ErrorKind, ToolCall, ToolResult, ToolSpec
from thinkact.token_estimate import estimate_text, estimate_tokens
from thinkact.tools.base import Tool, ToolContext, ToolError, ToolRejected


class ApprovalPolicy(Protocol):
    """Decides whether a call may run; a refusal's reason is shown to the model."""

    async def __call__(self, call: ToolCall) -> tuple[bool, str]: ...


def truncate(text: str, limit: int, max_tokens: int | None = None) -> tuple[str, bool]:
    """Keep the head and tail of ``text`` within about ``limit`` characters and, when given,
    ``max_tokens`` estimated tokens (what counts against the window: 20,000 CJK characters
    are about 20,000 tokens, 20,000 of English about 5,700)."""
    if max_tokens is not None and max_tokens > 0 and not text.isascii():
        tokens = estimate_tokens(text)
        if tokens > max_tokens:  # the kept share of characters, a little under, for density
            cap = int(len(text) * max_tokens / tokens * 0.95)
            limit = min(limit, cap) if limit > 0 else cap
    if limit <= 0 or len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    note = f"\n[... {cut} characters truncated (output was {len(text)} characters) ...]\n"
    return text[:head] + note + text[len(text) - tail:], True


def _traceback_tail(exc: BaseException, frames: int = 3) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines[-(frames * 2 + 1):]).rstrip()


class Toolset:
    """Named tools plus the rules for calling them (timeouts, output limit, approval)."""

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        timeout_s: float = 300.0,
        timeouts: dict[str, float] | None = None,
        max_output_chars: int = 20000,
        max_output_tokens: int | None = None,  # None: what max_output_chars of English is
        approval: ApprovalPolicy | None = None,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._validators: dict[str, Any] = {}
        self.timeout_s = timeout_s
        self.timeouts = dict(timeouts or {})
        self.max_output_chars = max_output_chars
        self.max_output_tokens = max_output_tokens or estimate_text(max_output_chars)
        self.approval = approval
        for t in tools:
            self.add(t)

    def add(self, tool: Tool) -> None:
        name = tool.spec.name
        if name in self._tools:
            raise ValueError(f"duplicate tool name {name!r}")
        self._tools[name] = tool

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def __len__(self) -> int:
        return len(self._tools)

    def timeout_for(self, name: str) -> float:
        """Explicit per-name setting, else the tool's own ``timeout_s``, else the default."""
        if name in self.timeouts:
            return self.timeouts[name]
        own = getattr(self._tools.get(name), "timeout_s", None)
        return float(own) if isinstance(own, int | float) else self.timeout_s

    async def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        started = time.monotonic()
        kind: ErrorKind | None
        try:
            kind, text = await self._run(call, ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool (or approval policy) must never take the loop down
            kind, text = "exception", f"tool {call.name} raised {type(exc).__name__}: {exc}"
        text, cut = truncate(text, self.max_output_chars, self.max_output_tokens)
        return ToolResult(call_id=call.id, name=call.name, content=text, error=kind,
                          duration_s=time.monotonic() - started, truncated=cut)

    async def _run(self, call: ToolCall, ctx: ToolContext) -> tuple[ErrorKind | None, str]:
        tool = self._tools.get(call.name)
        if tool is None:
            available = ", ".join(self._tools) or "(none)"
            return "unknown_tool", f"unknown tool {call.name!r}; available tools: {available}"
        if call.truncated:
            return "invalid_json", (f"error: the call to {call.name} was cut off before it "
                                    "ended (output limit?), so its arguments are incomplete: "
                                    f"{call.arguments[:200]!r}. Send the complete call again.")
        try:
            arguments = call.parse_arguments()
        except ValueError as exc:
            return "invalid_json", (f"error: {call.name}: {exc}. "
                                    "Send the arguments as one JSON object.")
        problem = self._validate(tool, arguments)
        if problem:
            return "invalid_arguments", f"error: {problem}"
        if self.approval is not None:
            ok, reason = await self.approval(call)
            if not ok:
                return "rejected", f"call to {call.name} was rejected: {reason}"
        timeout = self.timeout_for(call.name)
        try:
            output = await asyncio.wait_for(tool.call(arguments, ctx), timeout)
        except TimeoutError:
            return "timeout", f"tool {call.name} timed out after {timeout:g}s"
        except ToolRejected as exc:
            return "rejected", f"call to {call.name} was rejected: {exc}"
        except ToolError as exc:
            return "exception", f"error: {exc}"
        except Exception as exc:
            return "exception", (f"tool {call.name} raised {type(exc).__name__}: {exc}\n"
                                 f"{_traceback_tail(exc)}")
        return None, output if isinstance(output, str) else str(output)

    def _validate(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        validate = getattr(tool, "validate", None)
        if callable(validate):
            try:
                validate(arguments)
            except ToolError as exc:
                return str(exc)
            return None
        validator = self._schema_validator(tool)
        if validator is None:
            return None
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(arguments)"
        return f"invalid arguments for {tool.spec.name}: {where}: {error.message}"

    def _schema_validator(self, tool: Tool) -> Any:
        """One validator per tool, built once: checking the schema itself is slow."""
        name = tool.spec.name
        if name not in self._validators:
            schema = tool.spec.parameters
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
                self._validators[name] = cls(schema)
            except jsonschema.SchemaError:
                self._validators[name] = None  # the tool author's bug, not the model's
        return self._validators[name]

    async def call_many(self, calls: Sequence[ToolCall], ctx: ToolContext) -> list[ToolResult]:
        """Run one step's calls concurrently; results come back in call order."""
        return list(await asyncio.gather(*(self.call(c, ctx) for c in calls)))

    async def aclose(self) -> None:
        for t in self._tools.values():
            with contextlib.suppress(Exception):  # one failing close must not skip the others
                await t.aclose()
