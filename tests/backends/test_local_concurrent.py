"""Concurrent requests to one LocalBackend decode together (continuous batching) and each
gets exactly the tokens it would get alone: greedy, stop rules, forced tokens, per-request
rules, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.greedy_alone import greedy_alone
from support.k2_chat import WEATHER
from thinkact.backends.base import GenerationOptions
from thinkact.backends.local import LocalBackend
from thinkact.backends.local_request import Request, Rule
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokens import IM_END
from thinkact.events import AssistantMessage, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolCall

pytestmark = pytest.mark.torch

SYSTEM = Message(role="system", content="You are a careful assistant. " * 6)
CALL = Message(role="assistant", reasoning="Use the tool.", tool_calls=[
    ToolCall(id="functions.get_weather:0", name="get_weather", arguments='{"city": "Oslo"}')])


def requests() -> list[tuple[list[Message], int]]:
    """Eight conversations of different lengths (a common system prompt and tools: a shared
    prefix) and different completion lengths."""
    out = []
    for k in range(8):
        msgs = [SYSTEM, Message.user(f"Weather in city number {k}? " + "Please. " * (3 * k))]
        out.append((msgs, 24 + 9 * k))
    return out


async def test_eight_staggered_requests_get_their_sequential_greedy_tokens(
        checkpoint: Path) -> None:
    backend = LocalBackend.from_checkpoint(checkpoint, temperature=0.0, prefill_chunk=16)
    started = [asyncio.Event() for _ in range(8)]
    streamed: dict[int, str] = {}

    async def one(k: int, msgs: list[Message], max_new: int) -> AssistantMessage:
        if k:  # arrive while the earlier ones decode: after request k-1's first token
            await started[k - 1].wait()
        text, final = [], None
        async for ev in backend.stream(msgs, [WEATHER], GenerationOptions(max_tokens=max_new)):
            started[k].set()
            if isinstance(ev, ReasoningDelta | ContentDelta):
                text.append(ev.text)
            elif isinstance(ev, AssistantMessage):
                final = ev
        started[k].set()
        assert final is not None
        streamed[k] = "".join(text)
        return final

    reqs = requests()
    results = await asyncio.gather(*(one(k, m, n) for k, (m, n) in enumerate(reqs)))
    for k, ((msgs, max_new), got) in enumerate(zip(reqs, results, strict=True)):
        want = greedy_alone(backend, msgs, max_new, [WEATHER])
        assert got.message == want, k
        assert streamed[k] == (want.reasoning or "") + (want.content or "")
        assert got.usage.prompt_tokens == len(backend.prompt_ids(msgs, [WEATHER]))
    sched = backend.scheduler
    assert sched.max_rows >= 4  # they really shared steps
    assert sched.steps < sum(r.usage.completion_tokens for r in results)
    assert any(r.usage.cached_tokens > 0 for r in results[1:])  # the shared system prompt
    assert not sched.running and len(backend.sessions) == 1  # rows left; the pool shrank


async def test_forced_tokens_and_a_cancelled_stream_stay_in_their_row(
        checkpoint: Path) -> None:
    backend = LocalBackend.from_checkpoint(checkpoint, temperature=0.0)
    msgs = [Message.user("Weather in Oslo?")]
    plain = [Message.user("Tell me a story.")]

    async def forced() -> AssistantMessage:
        backend.force_next(render_assistant_body(CALL) + IM_END)  # popped by this call only
        events = [e async for e in backend.stream(msgs, [WEATHER], GenerationOptions(200))]
        assert isinstance(events[-1], AssistantMessage)
        return events[-1]

    async def cut() -> int:
        n = 0
        async for _ in backend.stream(plain, [], GenerationOptions(max_tokens=400)):
            n += 1
            if n == 3:
                break
        return n

    async def full() -> AssistantMessage:
        events = [e async for e in backend.stream(plain, [], GenerationOptions(max_tokens=30))]
        assert isinstance(events[-1], AssistantMessage)
        return events[-1]

    call, n, story = await asyncio.gather(forced(), cut(), full())
    assert call.message == CALL and call.finish_reason == "tool_calls"
    assert n == 3
    assert story.message == greedy_alone(backend, plain, 30)
    assert not backend.scheduler.running


async def test_a_rule_closes_the_thinking_block_in_its_own_row_only(checkpoint: Path) -> None:
    """The per-request hook a thinking budget uses: after ``budget`` reasoning tokens the
    rule forces the end-of-thinking marker; the request beside it thinks on."""

    class Budgeted(LocalBackend):
        def rules_for(self, options: GenerationOptions) -> list[Rule]:
            budget = options.extra.get("budget")
            if budget is None:
                return []
            end = self.tokenizer.encode(self.fmt.markers.think_end)

            def close(req: Request) -> list[int]:
                return end if req.in_reasoning and req.reasoning_tokens >= budget else []
            return [close]

    backend = Budgeted.from_checkpoint(checkpoint, temperature=0.0)
    msgs = [Message.user("Think about the weather.")]

    async def final(options: GenerationOptions) -> AssistantMessage:
        events = [e async for e in backend.stream(msgs, [], options)]
        assert isinstance(events[-1], AssistantMessage)
        return events[-1]

    capped, free = await asyncio.gather(
        final(GenerationOptions(max_tokens=40, extra={"budget": 5})),
        final(GenerationOptions(max_tokens=40)))
    assert capped.usage.reasoning_tokens == 5 and capped.message.reasoning
    assert capped.usage.completion_tokens > 6  # it went on after the thinking block
    assert free.usage.reasoning_tokens > 5
    assert free.message == greedy_alone(backend, msgs, 40)
