"""OpenAIBackend against the fake K2 server through the real ``openai`` client."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from support.agent_kit import backend_for
from support.k2_server import Fault, K2Server, ToolLoop, Turn, reasoning_for
from thinkact.backends import BackendError, GenerationOptions, resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.backends.retry import is_context_overflow, window_in
from thinkact.backends.tokens import estimate_request
from thinkact.events import AssistantMessage, BackendEvent, ReasoningDelta, Retry
from thinkact.messages import Message, ToolCall
from thinkact.tools import ToolSpec

TOOLS = [ToolSpec(name="echo", description="echo", parameters={"type": "object"})]
StartServer = Callable[..., K2Server]


async def collect(backend: object, messages: Sequence[Message], tools: Sequence[ToolSpec] = TOOLS,
                  options: GenerationOptions | None = None) -> list[BackendEvent]:
    return [e async for e in backend.stream(messages, tools, options or GenerationOptions())]  # type: ignore[attr-defined]


@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_then_tool_call_assembled(k2: StartServer, stream: bool) -> None:
    server = k2(ToolLoop(1, arguments=lambda i: json.dumps({"text": "a long argument " * 5})))
    events = await collect(backend_for(server, stream=stream), [Message.user("go")])
    kinds = [type(e).__name__ for e in events]
    assert kinds[-1] == "AssistantMessage" and "ContentDelta" not in kinds
    final = events[-1]
    assert isinstance(final, AssistantMessage)
    assert final.message.reasoning == reasoning_for(0)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == reasoning_for(0)
    assert final.message.tool_calls == [ToolCall(
        id="functions.echo:0", name="echo", arguments=json.dumps({"text": "a long argument " * 5}))]
    assert final.finish_reason == "tool_calls"
    assert final.usage.reasoning_tokens > 0 and final.usage.prompt_tokens > 0


async def test_all_reasoning_deltas_come_before_content(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("r" * 50, content="the answer " * 10), chunk_chars=7)
    events = await collect(backend_for(server), [Message.user("q")])
    kinds = [type(e).__name__ for e in events if not isinstance(e, AssistantMessage)]
    first_content = kinds.index("ContentDelta")
    assert set(kinds[:first_content]) == {"ReasoningDelta"}
    assert set(kinds[first_content:]) == {"ContentDelta"}
    final = events[-1]
    assert isinstance(final, AssistantMessage)
    assert final.message.content == "the answer " * 10 and final.message.reasoning == "r" * 50
    assert server.requests[0]["stream_options"] == {"include_usage": True}


async def test_429_storm_500_and_cut_stream_are_retried_then_succeed(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("thinking", content="fine"))
    server.faults += [Fault("429", times=3), Fault("500"), Fault("cut", after_chunks=3)]
    events = await collect(backend_for(server), [Message.user("q")])
    retries = [e for e in events if isinstance(e, Retry)]
    assert [r.attempt for r in retries] == [1, 2, 3, 4, 5]
    assert "429" in retries[0].error and "500" in retries[3].error
    finals = [e for e in events if isinstance(e, AssistantMessage)]
    assert len(finals) == 1 and finals[0].message.content == "fine"
    assert finals[0].message.reasoning == "thinking"  # not doubled by the cut attempt
    # the cut attempt streamed deltas before its retry: the retry says how many to drop
    assert [r.discard_deltas for r in retries][:4] == [0, 0, 0, 0] and retries[4].discard_deltas
    kept: list[str] = []
    for e in events:
        if isinstance(e, ReasoningDelta):
            kept.append(e.text)
        elif isinstance(e, Retry) and e.discard_deltas:
            del kept[-e.discard_deltas:]
    assert "".join(kept) == "thinking"
    assert len(server.requests) == 6


async def test_retries_exhausted_and_client_errors_raise_backend_error(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("t", content="x"))
    server.faults.append(Fault("500", times=10))
    with pytest.raises(BackendError, match="gave up after 3 attempts"):
        await collect(backend_for(server, max_attempts=3), [Message.user("q")])
    # A 400 is the request's fault: no retry. Here the history lacks reasoning.
    history = [Message.user("q"), Message(role="assistant", tool_calls=[
        ToolCall(id="functions.echo:0", name="echo")]),
        Message(role="tool", tool_call_id="functions.echo:0", name="echo", content="e")]
    before = len(server.requests)
    with pytest.raises(BackendError, match="reasoning_content is missing in assistant tool call "
                                           "message at index 1") as info:
        await collect(backend_for(server), history)
    assert info.value.status == 400 and len(server.requests) == before + 1


async def test_max_tokens_sized_to_room_left(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("t", content="x"), context_window=5000)
    messages = [Message.user("word " * 2000)]
    await collect(backend_for(server), messages)
    expected = 5000 - estimate_request(messages, TOOLS)
    assert server.requests[-1]["max_tokens"] == expected
    await collect(backend_for(server, max_tokens=300), messages)
    assert server.requests[-1]["max_tokens"] == 300
    await collect(backend_for(server), messages, options=GenerationOptions(max_tokens=123))
    assert server.requests[-1]["max_tokens"] == 123
    assert "temperature" not in server.requests[-1]  # the custom preset sets none


async def test_sampling_options_and_extra_body_reach_the_server(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("t", content="x"))
    backend = backend_for(server, temperature=1.0)
    await collect(backend, [Message.user("q")],
                  options=GenerationOptions(top_p=0.95, extra={"thinking": {"budget": 10}}))
    body = server.requests[-1]
    assert body["temperature"] == 1.0 and body["top_p"] == 0.95
    assert body["thinking"] == {"budget": 10} and body["tool_choice"] == "auto"


async def test_usage_inside_the_last_choice_is_read(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("abc" * 35, content="x"), usage_in_choice=True)
    events = await collect(backend_for(server), [Message.user("q")])
    final = events[-1]
    assert isinstance(final, AssistantMessage)
    assert final.usage.reasoning_tokens == 30 and final.usage.prompt_tokens > 0


async def test_stalled_stream_times_out_and_is_retried(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("thinking", content="fine"))
    server.faults.append(Fault("stall", after_chunks=2, seconds=1.0))
    events = await collect(backend_for(server, timeout_s=0.2), [Message.user("q")])
    retries = [e for e in events if isinstance(e, Retry)]
    assert len(retries) == 1 and "Timeout" in retries[0].error
    final = events[-1]
    assert isinstance(final, AssistantMessage) and final.message.content == "fine"


async def test_self_hosted_k2_gets_normalised_call_ids(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("t", content="x"))
    history = [Message.user("q"),
               Message(role="assistant", reasoning="r", tool_calls=[
                   ToolCall(id="call_abc", name="echo", arguments="{}")]),
               Message(role="tool", tool_call_id="call_abc", name="echo", content="e")]
    await collect(backend_for(server, k2_call_ids=True), history)
    sent = server.requests[-1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "functions.echo:0"
    assert sent[2]["tool_call_id"] == "functions.echo:0"
    await collect(backend_for(server), history)  # off by default for a custom endpoint
    assert server.requests[-1]["messages"][1]["tool_calls"][0]["id"] == "call_abc"


async def test_a_refused_first_connection_fails_fast_naming_base_url() -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = resolve_backend_config("custom", model="m", base_url=f"http://127.0.0.1:{port}/v1",
                                    env={})
    backend = OpenAIBackend(config)
    retries: list[Retry] = []
    try:
        with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1 .*"
                                               r"Check --base-url") as info:
            async for event in backend.stream([Message.user("q")], [], GenerationOptions()):
                if isinstance(event, Retry):
                    retries.append(event)
    finally:
        await backend.aclose()
    assert info.value.attempts == 3 and len(retries) == 2
    assert all(r.delay_s <= 1.0 for r in retries)  # not the default backoff (1, 2, 4, ... s)


async def test_retries_are_bounded_in_total_time(k2: StartServer) -> None:
    server = k2(lambda step, req: Turn("t", content="x"))
    server.faults.append(Fault("500", times=1000))
    backend = backend_for(server, max_attempts=1000, retry_base_delay_s=0.05,
                          retry_max_delay_s=0.05, retry_total_s=0.3)
    retries: list[Retry] = []
    with pytest.raises(BackendError, match=r"gave up after \d+ attempts in 0s: HTTP 500"):
        async for event in backend.stream([Message.user("q")], [], GenerationOptions()):
            if isinstance(event, Retry):
                retries.append(event)
    assert 1 < len(retries) < 20 and sum(r.delay_s for r in retries) <= 0.3


async def test_an_empty_stream_is_asked_again_plainly_and_shows_the_servers_error(
        k2: StartServer) -> None:
    """llama-cpp-python answers a streamed request it refuses with 200 and no chunks; the
    plain retry gets the refusal itself, so a context overflow is seen as one."""
    server = k2(lambda step, req: Turn("t", content="x"), context_window=2000)
    server.empty_stream_errors = True
    with pytest.raises(BackendError) as refused:
        await collect(backend_for(server, context_window=100_000),
                      [Message.user("word " * 4000)], options=GenerationOptions(max_tokens=10))
    assert is_context_overflow(refused.value)
    assert [r.get("stream") for r in server.requests] == [True, False]
    assert server.requests[1]["messages"] == server.requests[0]["messages"]
    # a request that fits still streams, and a later call streams again
    backend = backend_for(server)
    events = await collect(backend, [Message.user("q")])
    assert isinstance(events[-1], AssistantMessage) and events[-1].message.content == "x"
    assert server.requests[-1]["stream"] is True


@pytest.mark.parametrize(("text", "window"), [
    ("This model's maximum context length is 2048 tokens. However, you requested 6279 tokens",
     2048),
    ('{"code":400,"message":"the request exceeds the available context size","n_ctx":4096}',
     4096),
    ("Invalid request: context length exceeded: 7000 prompt tokens", None),
])
def test_the_window_a_refusal_states(text: str, window: int | None) -> None:
    assert window_in(text) == window
