"""The OpenAI-compatible server is generic: serve a scripted backend and check that requests
arrive as the same Messages and replies come back as the same Message (both directions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.k2_chat import WEATHER
from support.loopback_server import LoopbackServer
from thinkact.backends import resolve_backend_config
from thinkact.backends.base import GenerationOptions
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.backends.scripted import ScriptedBackend
from thinkact.events import AssistantMessage, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolCall
from thinkact.server.openai_app import create_app

REPLIES = [
    Message(role="assistant", reasoning="Plan: call the tool. Résumé ✓", content="",
            tool_calls=[ToolCall(id="functions.get_weather:1", name="get_weather",
                                 arguments='{"city": "Tokyo"}')]),
    Message(role="assistant", reasoning="", content="It rains in Tokyo."),
]
HISTORY = [
    Message.system("Be brief."),
    Message.user("Weather in Beijing and Tokyo?"),
    Message(role="assistant", reasoning="First Beijing.", tool_calls=[
        ToolCall(id="functions.get_weather:0", name="get_weather",
                 arguments='{"city": "Beijing"}')]),
    Message(role="tool", content="Sunny", tool_call_id="functions.get_weather:0",
            name="get_weather"),
]


@pytest.fixture
def scripted() -> Iterator[tuple[LoopbackServer, ScriptedBackend]]:
    backend = ScriptedBackend(list(REPLIES), model_name="scripted-k2")
    server = LoopbackServer(create_app(backend))
    try:
        yield server, backend
    finally:
        server.close()


@pytest.mark.parametrize("stream", [True, False])
async def test_scripted_backend_round_trip(
        scripted: tuple[LoopbackServer, ScriptedBackend], stream: bool) -> None:
    server, backend = scripted
    config = resolve_backend_config("custom", model="scripted-k2", base_url=server.base_url,
                                    env={}, stream=stream)
    client = OpenAIBackend(config)
    try:
        first = [e async for e in client.stream(HISTORY, [WEATHER],
                                                GenerationOptions(max_tokens=50))]
        done = first[-1]
        assert isinstance(done, AssistantMessage)
        sent, tools, options = backend.requests[0]
        assert sent == HISTORY and tools == ["get_weather"] and options.max_tokens == 50
        expected = REPLIES[0].model_copy(update={"content": None})  # empty content not sent
        assert done.message == expected and done.finish_reason == "tool_calls"
        reasoning = "".join(e.text for e in first if isinstance(e, ReasoningDelta))
        assert reasoning == REPLIES[0].reasoning
        history = [*HISTORY, done.message, Message(role="tool", content="Rain",
                                                   tool_call_id="functions.get_weather:1",
                                                   name="get_weather")]
        second = [e async for e in client.stream(history, [WEATHER], GenerationOptions())]
        final = second[-1]
        assert isinstance(final, AssistantMessage)
        assert backend.requests[1][0] == history
        assert final.message == REPLIES[1] and final.finish_reason == "stop"
        assert "".join(e.text for e in second if isinstance(e, ContentDelta)) == \
            "It rains in Tokyo."
    finally:
        await client.aclose()


async def test_client_shapes_other_servers_accept(
        scripted: tuple[LoopbackServer, ScriptedBackend]) -> None:
    """Content-part arrays, the ``developer`` role, decoded arguments, ``reasoning_content:
    null`` and a ``strict`` tool, as the openai SDK sends them."""
    from openai import AsyncOpenAI

    server, backend = scripted
    tool = {"type": "function", "function": {"name": "get_weather", "strict": True,
                                             "parameters": WEATHER.parameters}}
    async with AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        await client.chat.completions.create(model="scripted-k2", tools=[tool], messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in "},
                                         {"type": "text", "text": "Beijing?"}]},
            {"role": "assistant", "reasoning_content": None, "tool_calls": [  # type: ignore
                {"id": "functions.get_weather:0", "type": "function",
                 "function": {"name": "get_weather", "arguments": {"city": "Beijing"}}}]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "Sunny"}])
    sent, tools, _ = backend.requests[0]
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[1].content == "Weather in Beijing?"
    assert sent[2].reasoning is None
    assert sent[2].tool_calls[0].arguments == '{"city": "Beijing"}'
    assert tools == ["get_weather"]


async def test_image_parts_are_refused_with_a_clear_error(
        scripted: tuple[LoopbackServer, ScriptedBackend]) -> None:
    import openai

    server, backend = scripted
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0) as c:
        with pytest.raises(openai.BadRequestError,
                           match="content\\[0\\]: image_url parts are not supported"):
            await c.chat.completions.create(model="scripted-k2", messages=[
                {"role": "user", "content": [{"type": "image_url",
                                              "image_url": {"url": "https://x/y.png"}}]}])
    assert backend.requests == []
