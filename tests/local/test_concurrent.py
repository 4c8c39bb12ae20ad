"""Concurrent requests to one LocalBackend decode together (continuous batching) and each
gets exactly the tokens it would get alone: greedy, stop rules, forced tokens, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.k2_chat import WEATHER
from thinkact.backends.base import GenerationOptions
from thinkact.backends.local import LocalBackend
from thinkact.chat_format.parser import K2OutputParser
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokens import IM_END
from thinkact.events import AssistantMessage, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolCall
from thinkact.model.engine import Session
from thinkact.model.sampling import SamplingParams
from thinkact.tools.base import ToolSpec

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


def alone(backend: LocalBackend, msgs: list[Message], max_new: int,
          tools: tuple[ToolSpec, ...] = (WEATHER,)) -> Message:
    """Sequential greedy decoding with the engine itself: a fresh cache, the whole prompt in
    one forward, then token by token, parsed like the backend parses."""
    prompt = backend.prompt_ids(msgs, tools)
    s = Session(backend.model, backend.max_seq_len)
    s.sync(prompt)
    stop = backend.tokenizer.special_id(backend.fmt.markers.im_end)
    toks = s.generate(max_new, SamplingParams(temperature=0.0), stop_tokens={stop}).tokens[0]
    parser = K2OutputParser(tools=tools, implicit_reasoning=backend.implicit_reasoning,
                            markers=backend.fmt.markers)
    decoder = backend.tokenizer.stream_decoder()
    parser.feed(decoder.feed(toks))
    parser.feed(decoder.flush())
    parser.flush()
    return parser.final().to_message()


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
        want = alone(backend, msgs, max_new)
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
    assert story.message == alone(backend, plain, 30, tools=())
    assert not backend.scheduler.running
