"""Approval policies: who decides whether a tool call may run, and the reason given back.

Every policy is an async callable ``(call: ToolCall) -> (approved, reason)``, the hook that
``Toolset(approval=...)`` and ``ShellTool(approver=...)`` take. Rules decide what they can
(deny by name or argument pattern, allow by name) and hand the rest to an asker: a console
prompt for a person at a terminal, or a programmatic callback.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.prompt import Confirm, Prompt

from thinkact.messages import ToolCall
from thinkact.tools.toolset import ApprovalPolicy

Decision = tuple[bool, str]

NO_TTY_REASON = ("shell commands need approval, but no terminal is attached to approve them; "
                 "rerun with --yes-shell to run them without asking")


class AllowAll:
    """Approve everything (the user opted out of approvals)."""

    async def __call__(self, call: ToolCall) -> Decision:
        return True, "approved (approvals are off)"


class DenyAll:
    """Refuse everything with a fixed reason (e.g. non-interactive runs)."""

    def __init__(self, reason: str = "tool calls that need approval are disabled") -> None:
        self.reason = reason

    async def __call__(self, call: ToolCall) -> Decision:
        return False, self.reason


CallbackResult = bool | Decision


class CallbackApprover:
    """Ask a Python function (sync or async) returning ``bool`` or ``(bool, reason)``."""

    def __init__(self, fn: Callable[[ToolCall], CallbackResult | Awaitable[CallbackResult]]
                 ) -> None:
        self.fn = fn

    async def __call__(self, call: ToolCall) -> Decision:
        if inspect.iscoroutinefunction(self.fn):
            result = await self.fn(call)
        else:
            result = await asyncio.to_thread(self.fn, call)
            if inspect.isawaitable(result):
                result = await result
        if isinstance(result, tuple):
            ok, reason = result
            return bool(ok), str(reason) or ("approved" if ok else "rejected by the user")
        return bool(result), "approved" if result else "rejected by the user"


class ConsolePrompt:
    """Ask the person at the terminal; on refusal they may type a reason for the model.

    Prompts are serialised (concurrent calls wait their turn) and run in a thread so the
    event loop keeps going while the person thinks.
    """

    def __init__(self, console: Console | None = None, stream: TextIO | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.stream = stream  # where answers are read from; None = the terminal
        self._lock = asyncio.Lock()

    async def __call__(self, call: ToolCall) -> Decision:
        async with self._lock:
            return await asyncio.to_thread(self._ask, call)

    def _ask(self, call: ToolCall) -> Decision:
        self.console.print(f"[bold yellow]Approve tool call[/] [bold]{call.name}[/]")
        self.console.print(describe_call(call), markup=False, highlight=False)
        if Confirm.ask("Run it?", console=self.console, default=False, stream=self.stream):
            return True, "approved by the user"
        reason = Prompt.ask("Reason for the model (optional)", console=self.console,
                            default="", show_default=False, stream=self.stream)
        return False, reason.strip() or "rejected by the user"


def describe_call(call: ToolCall) -> str:
    """A readable view of a call: a shell command as is, other arguments as JSON."""
    try:
        args = call.parse_arguments()
    except ValueError:
        return call.arguments
    if set(args) <= {"command", "timeout_s"} and isinstance(args.get("command"), str):
        return "$ " + args["command"]
    return json.dumps(args, indent=2, ensure_ascii=False)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _compile(patterns: Mapping[str, Iterable[str]] | None) -> dict[str, list[re.Pattern[str]]]:
    return {name: [re.compile(p) for p in pats] for name, pats in (patterns or {}).items()}


class ApprovalRules:
    """Rules first, then the asker. Order: deny, deny_patterns, auto_allow, ask / ask_patterns,
    then ``default``. Patterns are regexes searched in every string argument of the call
    (the raw argument text when it is not JSON); the key ``"*"`` applies to every tool.

    ``ApprovalRules(ask=["shell"], deny_patterns={"shell": [r"rm\\s+-rf"]}, asker=...)``
    """

    def __init__(
        self, *, ask: Sequence[str] = (), deny: Sequence[str] = (),
        auto_allow: Sequence[str] = (), ask_patterns: Mapping[str, Iterable[str]] | None = None,
        deny_patterns: Mapping[str, Iterable[str]] | None = None,
        asker: ApprovalPolicy | None = None,
        default: Literal["allow", "ask", "deny"] = "allow",
    ) -> None:
        self.ask = set(ask)
        self.deny = set(deny)
        self.auto_allow = set(auto_allow)
        self.ask_patterns = _compile(ask_patterns)
        self.deny_patterns = _compile(deny_patterns)
        self.asker = asker
        self.default = default

    @staticmethod
    def _matches(call: ToolCall, rules: dict[str, list[re.Pattern[str]]]) -> str | None:
        pats = rules.get(call.name, []) + rules.get("*", [])
        if not pats:
            return None
        try:
            texts = list(_strings(call.parse_arguments()))
        except ValueError:
            texts = [call.arguments]
        for pat in pats:
            if any(pat.search(t) for t in texts):
                return pat.pattern
        return None

    async def __call__(self, call: ToolCall) -> Decision:
        if call.name in self.deny:
            return False, f"the tool {call.name!r} is not allowed in this run"
        hit = self._matches(call, self.deny_patterns)
        if hit is not None:
            return False, f"blocked by policy: arguments match the forbidden pattern /{hit}/"
        if call.name in self.auto_allow:
            return True, "allowed by policy"
        must_ask = (call.name in self.ask or self._matches(call, self.ask_patterns) is not None
                    or self.default == "ask")
        if must_ask:
            if self.asker is None:
                return False, (f"{call.name} needs approval, but nobody is available to "
                               "approve it in this run")
            return await self.asker(call)
        if self.default == "deny":
            return False, f"the tool {call.name!r} is not allowed by the approval policy"
        return True, "allowed by policy"


def shell_approver(allow_all: bool, console: ApprovalPolicy | None = None) -> ApprovalPolicy:
    """Who approves shell commands: everything when the user opted out (``allow_all``), a
    person at the console (``console``, default ``ConsolePrompt``) when one can answer, and
    otherwise a refusal that says why (never a prompt that hangs)."""
    import sys

    if allow_all:
        return AllowAll()
    if sys.stdin is not None and sys.stdin.isatty():
        return console or ConsolePrompt()
    return DenyAll(NO_TTY_REASON)
