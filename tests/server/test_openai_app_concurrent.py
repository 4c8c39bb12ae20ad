"""serve-model under concurrent streaming clients (the real ``openai`` client on loopback):
the local backend batches them, and each client gets its own stream, token for token what
it would get alone."""

from __future__ import annotations

import asyncio

import pytest
from openai import AsyncOpenAI

from support.greedy_alone import greedy_alone
from support.loopback_server import LoopbackServer
from thinkact.backends.local import LocalBackend
from thinkact.messages import Message

pytestmark = pytest.mark.torch


async def test_serve_model_streams_eight_concurrent_clients_their_own_tokens(
        served: tuple[LoopbackServer, LocalBackend]) -> None:
    server, backend = served
    prompts = [(f"Client {k} asks about city {k}." + " Really." * k, 12 + 4 * k)
               for k in range(8)]

    async def ask(c: AsyncOpenAI, text: str, n: int) -> str:
        stream = await c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": text}], max_tokens=n,
            temperature=0.0, stream=True)
        parts = []
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                parts.append((delta.model_extra or {}).get("reasoning_content") or "")
                parts.append(delta.content or "")
        return "".join(parts)

    async with AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0) as c:
        together = await asyncio.gather(*(ask(c, t, n) for t, n in prompts))
        rows = backend.scheduler.max_rows
        one_by_one = [await ask(c, t, n) for t, n in prompts]
    assert rows >= 2  # the clients shared decode steps
    assert together == one_by_one
    for (text, n), got in zip(prompts, together, strict=True):
        want = greedy_alone(backend, [Message.user(text)], n)
        assert got == (want.reasoning or "") + (want.content or "")
