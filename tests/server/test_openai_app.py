"""serve-model's OpenAI-compatible server on loopback, driven by the real ``openai`` client,
and the agent loop running the same tiny model in-process and through the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from support.k2_chat import WEATHER
from support.loopback_server import LoopbackServer
from thinkact.agent import Agent
from thinkact.agent.budget import Budget
from thinkact.backends import resolve_backend_config
from thinkact.backends.base import GenerationOptions
from thinkact.backends.local import LocalBackend
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokens import IM_END
from thinkact.messages import Message, ToolCall
from thinkact.tools import tool

pytestmark = pytest.mark.torch

Served = tuple[LoopbackServer, LocalBackend]
TOOLS = [WEATHER.to_openai()]
CALL_TURN = Message(role="assistant", reasoning="Use the tool.", content="Let me check. ",
                    tool_calls=[ToolCall(id="functions.get_weather:0", name="get_weather",
                                         arguments='{"city": "Paris"}')])


def client(server: LoopbackServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)


def forced(msg: Message) -> str:
    return render_assistant_body(msg) + IM_END


async def test_models_endpoint(served: Served) -> None:
    server, backend = served
    async with client(server) as c:
        models = await c.models.list()
    assert [m.id for m in models.data] == [backend.model_name]


async def test_non_streaming_tool_call(served: Served) -> None:
    server, backend = served
    backend.force_next(forced(CALL_TURN))
    async with client(server) as c:
        resp = await c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=TOOLS, max_tokens=100)  # type: ignore[arg-type]
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check. "
    assert (choice.message.model_extra or {})["reasoning_content"] == "Use the tool."
    call = (choice.message.tool_calls or [])[0]
    assert (call.id, call.function.name, call.function.arguments) == (  # type: ignore[union-attr]
        "functions.get_weather:0", "get_weather", '{"city": "Paris"}')
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert resp.usage.prompt_tokens == backend.count_tokens(
        [Message.user("Weather in Paris?")], [WEATHER])


async def test_streaming_reasoning_before_content_usage_and_finish(served: Served) -> None:
    server, backend = served
    answer = Message(role="assistant", reasoning="Think first. Then answer.",
                     content="It is sunny in Paris.")
    backend.force_next(forced(answer))
    kinds: list[str] = []
    text: dict[str, str] = {"reasoning": "", "content": ""}
    finish, usage = None, None
    async with client(server) as c:
        stream = await c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "Weather?"}], stream=True,
            stream_options={"include_usage": True}, max_tokens=100)
        async for chunk in stream:
            usage = chunk.usage or usage
            for ch in chunk.choices:
                r = (ch.delta.model_extra or {}).get("reasoning_content")
                if r:
                    kinds.append("reasoning")
                    text["reasoning"] += r
                if ch.delta.content:
                    kinds.append("content")
                    text["content"] += ch.delta.content
                finish = ch.finish_reason or finish
    assert text == {"reasoning": answer.reasoning, "content": answer.content}
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning") and len(kinds) > 2
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0
    assert usage.completion_tokens_details.reasoning_tokens > 0  # type: ignore[union-attr]


async def test_length_finish_and_context_error(served: Served) -> None:
    server, _ = served
    async with client(server) as c:
        resp = await c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], max_tokens=4, seed=1)
        assert resp.choices[0].finish_reason == "length"
        assert resp.usage is not None and resp.usage.completion_tokens == 4
        with pytest.raises(openai.BadRequestError, match="context window"):
            await c.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "word " * 2000}], stream=True)
        with pytest.raises(openai.BadRequestError, match="messages"):
            await c.chat.completions.create(model="x", messages=[])


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"Sunny in {city}"


def _comparable(events: list[Any]) -> list[dict[str, Any]]:
    """Events minus what legitimately differs between runs (timings, ids, backend config)."""
    out = []
    for e in events:
        if e.type == "run_started":
            continue
        d = e.model_dump()
        d.pop("duration_s", None)
        if "result" in d:
            d["result"].pop("duration_s", None)
        out.append(d)
    return out


async def _run_agent(backend: Any, local: LocalBackend) -> list[Any]:
    local.force_next(forced(CALL_TURN))  # step 1: a tool call; later steps: the random model
    agent = Agent(backend, tools=[get_weather], budget=Budget(max_steps=3),
                  options=GenerationOptions(max_tokens=64, temperature=1.0, seed=7))
    try:
        return [e async for e in agent.events("What is the weather in Paris?")]
    finally:
        await agent.aclose()


async def test_agent_in_process_and_through_server_give_the_same_events(
        checkpoint: Path, served: Served) -> None:
    server, served_backend = served
    local = LocalBackend.from_checkpoint(checkpoint)
    direct = await _run_agent(local, local)
    config = resolve_backend_config("custom", model="tiny", base_url=server.base_url, env={},
                                    context_window=local.context_window)
    remote = OpenAIBackend(config)
    try:
        via_http = await _run_agent(remote, served_backend)
    finally:
        await remote.aclose()
    assert _comparable(direct) == _comparable(via_http)
    types = [e.type for e in direct]
    assert "tool_call" in types and "tool_result" in types and types[-1] == "run_finished"
    result = next(e for e in direct if e.type == "tool_result").result
    assert result.content == "Sunny in Paris" and result.ok
    steps = [e for e in direct if e.type == "assistant_message"]
    assert len(steps) >= 2 and steps[1].usage.cached_tokens > 0  # prefix reused in-process
