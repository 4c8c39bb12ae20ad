"""The thinking budget on each backend. Local (the bundled model): the reasoning stops at the
budget and the model still answers or calls its tool; an early end of thinking becomes
"Wait" under a minimum. Remote (a loopback server, the real ``openai`` client): max_tokens is
the budget plus answer room, with the provider's reasoning setting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.k2_server import K2Server, Turn
from thinkact.backends import GenerationOptions, resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.backends.thinking import ANSWER_ROOM, BudgetForcing
from thinkact.events import AssistantMessage
from thinkact.messages import Message


def test_the_rule_closes_once_and_extends_at_most_twice() -> None:
    rule = BudgetForcing(budget=3, min_tokens=None, close=[9], cue=[])
    assert rule.at_budget(True, 2) == [] and rule.at_budget(False, 5) == []
    assert rule.at_budget(True, 3) == [9] and rule.at_budget(True, 4) == []
    wait = BudgetForcing(budget=None, min_tokens=10, close=[9], cue=[5, 6])
    assert wait.on_early_end(2) == [5, 6] and wait.on_early_end(4) == [5, 6]
    assert wait.on_early_end(6) == [] and BudgetForcing(None, 10, [9], [5]).on_early_end(10) == []


@pytest.mark.torch
async def test_local_reasoning_stops_at_the_budget_and_the_call_still_comes() -> None:
    from thinkact.backends.embedded import embedded_backend
    from thinkact.train.data import tool_specs
    from thinkact.train.episodes import TOOL_NAMES

    backend = embedded_backend()
    tools = tool_specs(TOOL_NAMES)
    msgs = [Message.user("What is 17 * 23 + 4? Use the python tool to check.")]

    async def turn(**opts: int) -> AssistantMessage:
        events = [e async for e in backend.stream(msgs, tools, GenerationOptions(
            max_tokens=200, temperature=0.0, **opts))]
        last = events[-1]
        assert isinstance(last, AssistantMessage)
        return last

    free = await turn()
    assert free.usage.reasoning_tokens > 4 and free.message.tool_calls
    capped = await turn(thinking_tokens=4)
    assert capped.usage.reasoning_tokens == 4
    assert capped.finish_reason != "length" and (capped.message.tool_calls or
                                                capped.message.content)
    assert len(capped.message.reasoning or "") < len(free.message.reasoning or "")
    longer = await turn(min_thinking_tokens=free.usage.reasoning_tokens + 40)
    assert "Wait" in (longer.message.reasoning or "")
    assert longer.usage.reasoning_tokens > free.usage.reasoning_tokens


@pytest.mark.parametrize(("provider", "field", "value"), [
    ("openai", "reasoning_effort", "low"),
    ("openrouter", "reasoning", {"max_tokens": 1000}),
    ("moonshot", None, None),
])
async def test_remote_budget_is_max_tokens_plus_the_providers_setting(
        k2: Callable[..., K2Server], provider: str, field: str | None, value: object) -> None:
    server = k2(lambda step, req: Turn("t", content="x"))
    config = resolve_backend_config(provider, base_url=server.base_url, api_key="k", env={})
    backend = OpenAIBackend(config)
    try:
        options = GenerationOptions(max_tokens=100_000, thinking_tokens=1000)
        _ = [e async for e in backend.stream([Message.user("q")], [], options)]
    finally:
        await backend.aclose()
    body = server.requests[-1]
    assert body[config.max_tokens_param] == 1000 + ANSWER_ROOM
    if field is not None:
        assert body[field] == value
    else:
        assert "reasoning_effort" not in body and "reasoning" not in body
