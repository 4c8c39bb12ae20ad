"""LocalBackend on a tiny random checkpoint: events, usage, prefix reuse, forcing, JSON guard."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.k2_chat import WEATHER, tiny_tokenizer
from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.local import LocalBackend
from thinkact.backends.local_json import JsonPrefix
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokens import ARG_BEGIN, CALL_BEGIN, IM_END, SECTION_BEGIN
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolCall

pytestmark = pytest.mark.torch

GREEDY = GenerationOptions(max_tokens=12, temperature=0.0)


async def collect(backend: LocalBackend, msgs: list[Message], options: GenerationOptions,
                  tools: tuple = (WEATHER,)) -> tuple[list[BackendEvent], AssistantMessage]:
    events = [e async for e in backend.stream(msgs, list(tools), options)]
    last = events[-1]
    assert isinstance(last, AssistantMessage)
    assert all(not isinstance(e, AssistantMessage) for e in events[:-1])
    return events, last


async def test_protocol_events_usage_and_exact_count(backend: LocalBackend) -> None:
    assert isinstance(backend, ModelBackend)
    assert backend.context_window == 1024
    msgs = [Message.user("What is the weather in Beijing?")]
    events, done = await collect(backend, msgs, GenerationOptions(max_tokens=10, seed=3))
    assert done.usage.prompt_tokens == backend.count_tokens(msgs, [WEATHER])
    assert done.usage.completion_tokens == 10 and done.finish_reason == "length"
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert reasoning == (done.message.reasoning or "") and content == (done.message.content or "")
    _, same = await collect(backend, msgs, GenerationOptions(max_tokens=10, seed=3))
    assert same.message == done.message  # seeded sampling is reproducible


async def test_prefix_reuse_feeds_only_the_suffix_and_changes_nothing(
        checkpoint: Path) -> None:
    on = LocalBackend.from_checkpoint(checkpoint)
    off = LocalBackend.from_checkpoint(checkpoint, reuse_prefix=False)
    msgs = [Message.user("Weather in Tokyo?")]
    prev_prompt = 0
    for step in range(3):
        _, a = await collect(on, msgs, GREEDY)
        _, b = await collect(off, msgs, GREEDY)
        assert a.message == b.message  # cache reuse gives the same greedy tokens
        assert b.usage.cached_tokens == 0
        if step == 0:
            assert a.usage.cached_tokens == 0
        else:  # everything up to the previous prompt's end was already in the cache
            assert a.usage.cached_tokens >= prev_prompt
        prev_prompt = a.usage.prompt_tokens
        msgs = [*msgs, a.message, Message.user(f"and step {step}?")]


async def test_forced_tool_call_round_trips_through_the_engine(backend: LocalBackend) -> None:
    """render → tokenize → feed as forced tokens through the engine → parse = original."""
    original = Message(role="assistant", reasoning="I need the weather tool. 北京",
                       content="Checking. ", tool_calls=[
                           ToolCall(id="functions.get_weather:0", name="get_weather",
                                    arguments='{"city": "Beijing"}'),
                           ToolCall(id="functions.get_weather:1", name="get_weather",
                                    arguments='{"city": "Tokyo"}')])
    backend.force_next(render_assistant_body(original) + IM_END)
    events, done = await collect(backend, [Message.user("Weather?")], GenerationOptions(
        max_tokens=200, seed=1))
    assert done.message == original
    assert done.finish_reason == "tool_calls"
    assert done.usage.completion_tokens == len(tiny_tokenizer().encode(
        render_assistant_body(original) + IM_END))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == original.reasoning


async def test_context_overflow_is_a_clear_error(backend: LocalBackend) -> None:
    with pytest.raises(ValueError, match="context window"):
        await collect(backend, [Message.user("word " * 2000)], GREEDY)


async def test_generation_does_not_block_the_event_loop(backend: LocalBackend) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    events = [e async for e in backend.stream([Message.user("hi")], [],
                                              GenerationOptions(max_tokens=60, seed=0))]
    during = ticks
    stop.set()
    await task
    assert isinstance(events[-1], AssistantMessage)
    assert during > before  # the loop kept running while the worker thread decoded


async def test_json_guard_keeps_arguments_a_valid_json_prefix(checkpoint: Path) -> None:
    prefix = ("<think>call it</think>" + SECTION_BEGIN + CALL_BEGIN
              + "functions.get_weather:0" + ARG_BEGIN)
    results = {}
    for guard in (False, True):
        backend = LocalBackend.from_checkpoint(checkpoint, json_guard=guard)
        backend.force_next(prefix)
        _, done = await collect(backend, [Message.user("Weather?")],
                                GenerationOptions(max_tokens=60, seed=5))
        calls = done.message.tool_calls
        assert len(calls) == 1 and calls[0].name == "get_weather"
        results[guard] = (calls[0].arguments, backend.last_stats)
    guarded, stats = results[True]
    assert guarded.startswith("{") and JsonPrefix().feed(guarded)
    assert stats["guard_rejections"] > 0 and stats["truncated_calls"]
    unguarded = results[False][0]
    assert not JsonPrefix().feed(unguarded)  # the random model alone breaks JSON at once


async def test_missing_think_is_reasoning_unless_configured_otherwise(checkpoint: Path) -> None:
    for implicit, expected in ((True, ("plain words", None)), (False, (None, "plain words"))):
        backend = LocalBackend.from_checkpoint(checkpoint, implicit_reasoning=implicit)
        backend.force_next("plain words" + IM_END)
        _, done = await collect(backend, [Message.user("hi")], GREEDY)
        assert (done.message.reasoning, done.message.content) == expected
        assert done.finish_reason == "stop"
        assert (done.usage.reasoning_tokens > 0) == implicit


async def test_a_session_pool_keeps_interleaved_conversations_cached(checkpoint: Path) -> None:
    """Two conversations taking turns (heavy mode's trajectories): with one cache each turn
    evicts the other conversation; with a pool of two each extends its own cache. The
    replies are the same either way."""
    single = LocalBackend.from_checkpoint(checkpoint)
    pooled = LocalBackend.from_checkpoint(checkpoint, sessions=2)
    talks = {"a": [Message.user("Weather in Oslo?")], "b": [Message.user("Weather in Lima?")]}
    cached: dict[str, list[int]] = {"single": [], "pooled": []}
    previous: dict[str, int] = {}
    for turn in range(3):
        for name, msgs in talks.items():
            _, one = await collect(single, msgs, GREEDY)
            _, two = await collect(pooled, msgs, GREEDY)
            assert one.message == two.message
            cached["single"].append(one.usage.cached_tokens)
            cached["pooled"].append(two.usage.cached_tokens)
            if turn:
                assert two.usage.cached_tokens >= previous[name]  # its own cache, extended
                assert one.usage.cached_tokens < previous[name]  # evicted by the other talk
            previous[name] = one.usage.prompt_tokens
            talks[name] = [*msgs, one.message, Message.user(f"and turn {turn}?")]
    assert len(pooled.sessions) == 2 and len(single.sessions) == 1
    assert cached["pooled"][1] == cached["single"][1] > 0  # b's new cache got the shared prefix
    assert sum(cached["pooled"]) > sum(cached["single"])
