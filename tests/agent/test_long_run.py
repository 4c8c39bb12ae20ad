"""A run longer than any window: 1000 tool steps against the strict K2 test server with a
131k window. Hiding old tool outputs is not enough (the calls and the ongoing turn's
reasoning alone outgrow the window near step 600), so older steps are summarised."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from support.agent_kit import agent_for
from support.k2_server import K2Server, Turn, reasoning_for
from thinkact.agent import Budget
from thinkact.agent.context import SUMMARY_PREFIX
from thinkact.events import ContextCompacted

StartServer = Callable[..., K2Server]
STEPS = 1000


def thinking(step: int) -> str:
    return reasoning_for(step) + " Weigh the next item against the earlier ones." * 8


def policy(step: int, request: dict[str, Any]) -> Turn:
    if step < STEPS:
        return Turn(thinking(step), tool_calls=[("echo", json.dumps({"text": f"item {step}"}))])
    return Turn(thinking(step), content="All done.")


@pytest.mark.slow  # about 45 s of CPU: 1000 requests of up to 97k tokens
async def test_1000_steps_in_a_131k_window_carry_the_ongoing_reasoning_exactly(
        k2: StartServer) -> None:
    server = k2(policy, context_window=131072)
    agent = agent_for(server, budget=Budget(max_steps=STEPS + 10))
    events = [e async for e in agent.events("call echo 1000 times")]
    finished = events[-1]
    assert finished.status == "completed", finished  # type: ignore[union-attr]
    assert finished.tool_calls == STEPS  # type: ignore[union-attr]
    assert server.context_rejections == 0 and server.max_request_tokens <= 131072
    strategies = {e.strategy for e in events if isinstance(e, ContextCompacted)}
    assert "summarize" in strategies
    # every request's assistant messages carried the reasoning emitted with their calls
    assert server.reasoning_mismatches == [] and server.reasoning_checked > 100_000
    last = server.requests[-1]["messages"]
    assert any((m.get("content") or "").startswith(SUMMARY_PREFIX) for m in last
               if m["role"] == "user")
    kept = [m for m in last if m["role"] == "assistant"]
    first = int(kept[0]["tool_calls"][0]["id"].rsplit(":", 1)[1])  # the oldest step kept
    assert [m["reasoning_content"] for m in kept] == [thinking(s) for s in
                                                      range(first, STEPS)]
