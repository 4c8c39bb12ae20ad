"""VerifyPolicy: an answer is checked before it is final; the model confirms or replans,
against the real client and a loopback K2 server."""

from __future__ import annotations

import json
from typing import Any

from support.agent_kit import agent_for, close_backends
from support.k2_server import K2Server, Turn, reasoning_for
from support.memory_trace import MemoryTraceStore
from thinkact.agent import VerifyPolicy
from thinkact.agent.verify import MARK
from thinkact.events import Notice
from thinkact.messages import Message


def last_user(request: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


def replanner(step: int, request: dict[str, Any]) -> Turn:
    """Answers 41; asked to verify, recomputes with echo and answers 42."""
    if step == 0:
        return Turn(reasoning_for(step), content="41")
    if request["messages"][-1]["content"].startswith(MARK):  # just asked to verify
        return Turn(reasoning_for(step), tool_calls=[("echo", json.dumps({"text": "6*7"}))])
    return Turn(reasoning_for(step), content="42")


def confirmer(step: int, request: dict[str, Any]) -> Turn:
    return Turn(reasoning_for(step), content=f"42 (answer {step + 1})")


async def test_verification_finds_the_mistake_and_the_run_replans() -> None:
    trace = MemoryTraceStore()
    with K2Server(replanner) as server:
        agent = agent_for(server, trace=trace, verify=VerifyPolicy(rounds=1))
        result = await agent.arun("What is 6 * 7?")
        await close_backends()
    assert (result.answer, result.status, result.steps, result.tool_calls) == ("42", "completed",
                                                                              3, 1)
    roles = [m.role for m in result.messages]
    assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert result.messages[2].content.startswith(MARK)
    assert last_user(server.requests[1]).startswith(MARK)  # the check reached the model
    notices = [e for e in trace.events(result.run_id) if isinstance(e, Notice)]
    assert [n.kind for n in notices] == ["verify"]
    assert not server.reasoning_mismatches


async def test_rounds_bound_the_checks_and_off_means_first_answer_final() -> None:
    with K2Server(confirmer) as server:
        twice = await agent_for(server, verify=VerifyPolicy(rounds=2)).arun("6 * 7?")
        never = await agent_for(server).arun("6 * 7?")
        await close_backends()
    assert (twice.answer, twice.steps) == ("42 (answer 3)", 3)
    assert sum((m.content or "").startswith(MARK) for m in twice.messages) == 2
    assert (never.answer, never.steps) == ("42 (answer 1)", 1)


def test_rounds_used_are_counted_from_the_conversation() -> None:
    policy = VerifyPolicy(rounds=1, prompt="Check it.")
    fresh = [Message.user("task"), Message(role="assistant", content="41")]
    assert policy.check(fresh) == f"{MARK} Check it."
    resumed = [*fresh, Message.user(f"{MARK} Check it."),
               Message(role="assistant", content="42")]
    assert policy.check(resumed) is None  # a resumed run does not check twice
    assert VerifyPolicy().check(fresh) is None
