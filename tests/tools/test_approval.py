"""Approval policies: rule order, patterns, askers, and the Toolset hook they plug into."""

from __future__ import annotations

import io
import json

from rich.console import Console

from thinkact.messages import ToolCall
from thinkact.tools.approval import (
    AllowAll,
    ApprovalRules,
    CallbackApprover,
    ConsolePrompt,
    DenyAll,
    describe_call,
)
from thinkact.tools.base import ToolContext
from thinkact.tools.decorator import tool
from thinkact.tools.toolset import Toolset


def call(name: str, **args: object) -> ToolCall:
    return ToolCall(id=f"{name}-1", name=name, arguments=json.dumps(args))


class Recorder:
    """An asker that records what it was asked and answers from a script."""

    def __init__(self, answer: tuple[bool, str] = (True, "ok")) -> None:
        self.asked: list[str] = []
        self.answer = answer

    async def __call__(self, call: ToolCall) -> tuple[bool, str]:
        self.asked.append(call.name)
        return self.answer


async def test_rule_order() -> None:
    asker = Recorder()
    rules = ApprovalRules(ask=["shell"], deny=["browse"], auto_allow=["python"],
                          deny_patterns={"shell": [r"rm\s+-rf"], "*": [r"/etc/shadow"]},
                          ask_patterns={"files": [r"\.env$"]}, asker=asker)
    assert (await rules(call("browse", url="x")))[0] is False
    ok, reason = await rules(call("shell", command="rm  -rf /"))
    assert not ok and "rm\\s+-rf" in reason
    ok, reason = await rules(call("python", code="open('/etc/shadow')"))
    assert not ok and "forbidden pattern" in reason  # "*" patterns beat auto_allow
    assert await rules(call("python", code="1+1")) == (True, "allowed by policy")
    assert asker.asked == []
    assert (await rules(call("shell", command="ls")))[0] is True
    assert (await rules(call("files", action="read", path="app/.env")))[0] is True
    assert asker.asked == ["shell", "files"]
    assert (await rules(call("files", action="read", path="notes.txt")))[0] is True
    assert asker.asked == ["shell", "files"]  # default allow: not asked


async def test_patterns_search_nested_strings_and_raw_text() -> None:
    rules = ApprovalRules(deny_patterns={"x": [r"danger"]})
    assert (await rules(call("x", outer={"inner": ["fine", "danger zone"]})))[0] is False
    raw = ToolCall(id="1", name="x", arguments="not json danger")
    assert (await rules(raw))[0] is False


async def test_defaults_and_missing_asker() -> None:
    ok, reason = await ApprovalRules(ask=["shell"])(call("shell", command="ls"))
    assert not ok and "needs approval" in reason
    assert (await ApprovalRules(default="deny")(call("python", code="1")))[0] is False
    asker = Recorder((False, "because"))
    assert await ApprovalRules(default="ask", asker=asker)(call("python")) == (False, "because")


async def test_callback_forms() -> None:
    assert await CallbackApprover(lambda c: True)(call("a")) == (True, "approved")
    assert await CallbackApprover(lambda c: False)(call("a")) == (False, "rejected by the user")
    assert await CallbackApprover(lambda c: (False, "too risky"))(call("a")) == (
        False, "too risky")

    async def async_cb(c: ToolCall) -> tuple[bool, str]:
        return c.name == "safe", f"decided on {c.name}"

    assert await CallbackApprover(async_cb)(call("safe")) == (True, "decided on safe")
    assert (await AllowAll()(call("a")))[0] is True
    assert await DenyAll("offline")(call("a")) == (False, "offline")


async def test_console_prompt_accept_and_reject_with_reason() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    yes = ConsolePrompt(console, stream=io.StringIO("y\n"))
    assert (await yes(call("shell", command="ls -la")))[0] is True
    assert "$ ls -la" in out.getvalue()
    no = ConsolePrompt(console, stream=io.StringIO("n\nuse python instead\n"))
    assert await no(call("shell", command="ls")) == (False, "use python instead")
    silent = ConsolePrompt(console, stream=io.StringIO("n\n\n"))
    assert await silent(call("shell", command="ls")) == (False, "rejected by the user")


async def test_rejection_reaches_the_model_through_toolset() -> None:
    ran: list[str] = []

    @tool
    def echo(text: str) -> str:
        """Echo text."""
        ran.append(text)
        return text

    policy = ApprovalRules(ask=["echo"], asker=CallbackApprover(
        lambda c: (False, "say it differently") if "bad" in c.arguments else True))
    toolset = Toolset([echo], approval=policy)
    ctx = ToolContext()
    rejected = await toolset.call(call("echo", text="bad words"), ctx)
    assert rejected.error == "rejected" and "say it differently" in rejected.content
    accepted = await toolset.call(call("echo", text="fine"), ctx)
    assert accepted.error is None and accepted.content == "fine"
    assert ran == ["fine"]


def test_describe_call() -> None:
    assert describe_call(call("shell", command="ls")) == "$ ls"
    assert '"path": "a"' in describe_call(call("files", action="read", path="a"))
