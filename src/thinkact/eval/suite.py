"""The suite interface: what a benchmark gives the harness.

A suite is a name, a list of :class:`Item` and a ``score`` method. A new suite is one module
under ``thinkact.eval.suites`` with a ``load(options) -> Suite`` function, registered by name
in ``thinkact.eval.suites.SUITES``. The one rule: ``score`` sees only the item and the
:class:`Attempt` (the final answer and the run's conversation), never the network. Optional
methods: ``extra_tools(item)`` (tools of its own for a run), ``serve()`` (a context
manager held while the items run) and ``check()`` (raise before any run when the suite could
not score here). A suite that runs code of its own has an ``unsafe_python`` attribute, which
``load_suite`` sets from the eval's ``--unsafe-python``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from thinkact.messages import Message, ToolCall, ToolResult
from thinkact.tools.base import Tool


@dataclass(frozen=True)
class Item:
    """One task. ``tools``: built-in tool names for its run (None: the eval's ``--tools``)."""

    id: str
    input: str
    target: Any  # JSON-safe: what the scorer compares against
    category: str = "all"
    tools: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Attempt:
    """What a run produced for an item: its final answer and its whole conversation."""

    answer: str | None
    messages: list[Message] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)  # behind its tool messages

    def ran(self) -> list[ToolCall]:
        return ran_calls(self.messages, self.results)


def ran_calls(messages: Sequence[Message], results: Sequence[ToolResult]) -> list[ToolCall]:
    """The tool calls that ran, in order. ``results`` line up with the tool messages; a call
    ran when its result has no error (the loop's refusals, such as a budget, a repeat, an
    unknown tool or invalid arguments, carry one); a call with no result never ran."""
    out: list[ToolCall] = []
    pending: list[ToolCall] = []
    step: list[ToolResult] = []
    answers = iter(results)

    def settle() -> None:
        for call in pending:
            r = next((r for r in step if r.call_id == call.id), None)
            if r is not None:
                step.remove(r)  # a repeated id takes the next result
                if r.error is None:
                    out.append(call)

    for m in messages:
        if m.role == "assistant":
            settle()
            pending, step = list(m.tool_calls), []
        elif m.role == "tool" and (r := next(answers, None)) is not None:
            step.append(r)
    settle()
    return out


@dataclass
class Score:
    """``value`` in [0, 1]; an item counts as solved when ``value >= 0.5``. ``marks``: further
    measures of the same run, each in [0, 1], averaged per category in the report."""

    value: float
    detail: str = ""
    marks: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.value >= 0.5


@runtime_checkable
class Suite(Protocol):
    """``items()`` in a stable order (ids unique); ``score`` is deterministic."""

    name: str
    source: str  # where the data comes from (package and version)

    def items(self) -> Sequence[Item]: ...

    def score(self, item: Item, attempt: Attempt) -> Score: ...


@dataclass
class Turn:
    """One user turn of a conversation item and the tools the model has during it."""

    message: str
    tools: list[Tool]


@runtime_checkable
class Conversation(Protocol):
    """An item played as several user turns, each one run after the last one ended, over
    tools that keep their state between turns (BFCL's simulators)."""

    turns: list[Turn]

    async def replay(self, calls: Sequence[ToolCall]) -> None:
        """Redo the calls that ran in a recorded conversation (``ran_calls``), so the
        tools' state is where the recording left it (before a resume)."""
        ...


def item_conversation(suite: Suite, item: Item) -> Conversation | None:
    """The item's conversation when its suite plays it turn by turn (an optional
    ``conversation(item)`` method that may answer None), else None."""
    make = getattr(suite, "conversation", None)
    return make(item) if callable(make) else None


def item_tools(suite: Suite, item: Item) -> list[Tool]:
    """Tools a suite builds itself for an item (BFCL's functions), beside the built-ins;
    a suite offers them with an optional ``extra_tools(item)`` method."""
    extra = getattr(suite, "extra_tools", None)
    return list(extra(item)) if callable(extra) else []


def check_ready(suite: Suite) -> None:
    """The suite's optional ``check()``: raises (with what to do) when it cannot score here."""
    check = getattr(suite, "check", None)
    if callable(check):
        check()


def serving(suite: Suite) -> AbstractContextManager[object]:
    """What a suite serves while its items run, from its optional ``serve()`` method (the
    docs suites' corpus on loopback); nothing for a suite without one."""
    serve = getattr(suite, "serve", None)
    return serve() if callable(serve) else nullcontext()


@dataclass
class ListSuite:
    """A suite over a fixed list of items; subclasses add ``score``."""

    rows: list[Item]
    name: str = ""
    source: str = ""

    def items(self) -> Sequence[Item]:
        return self.rows
