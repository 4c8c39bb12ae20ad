"""Requests sized by an exact count where the backend has one: a server's ``/tokenize``
(vLLM's and llama.cpp's dialects) or a local model's own tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from support.agent_kit import agent_for, backend_for, close_backends, echo
from support.k2_server import K2Server, ToolLoop, estimate_wire
from thinkact.agent import Agent, Budget
from thinkact.backends import GenerationOptions
from thinkact.backends.local import LocalBackend
from thinkact.backends.tokens import estimate_request
from thinkact.backends.wire import to_wire
from thinkact.events import Notice, RunFinished
from thinkact.messages import Message

StartServer = Callable[..., K2Server]
TASK = "Context: " + "lorem ipsum dolor sit amet " * 165  # ~4,500 characters


@pytest.mark.parametrize("dialect", ["vllm", "llama.cpp"])
async def test_a_server_that_tokenizes_is_never_sent_too_much(
        k2: StartServer, dialect: str) -> None:
    """The server counts 2.3x the estimate for ASCII. Without /tokenize the first request is
    refused (test_window_scripts); with it, the loop sizes every request by the server's count."""
    server = k2(ToolLoop(2), context_window=9000, chars_per_token=1.5, tokenize=dialect)
    events = [e async for e in agent_for(server, tools=[echo]).events(TASK)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed", finished.reason
    assert server.context_rejections == 0 and server.max_request_tokens <= 9000
    assert not [e for e in events if isinstance(e, Notice) and e.kind == "context"]
    assert server.tokenized >= 3  # once per step


async def test_count_exact_is_the_servers_count_and_none_without_the_endpoint(
        k2: StartServer) -> None:
    messages = [Message.system("be brief"), Message.user("北京 " + "text " * 40)]
    counting = k2(ToolLoop(1), chars_per_token=1.5, tokenize="vllm")
    expected = estimate_wire(to_wire(messages), [], 1.5)
    assert await backend_for(counting).count_exact(messages, []) == expected
    silent = k2(ToolLoop(1))
    backend = backend_for(silent)
    assert await backend.count_exact(messages, []) is None
    assert backend.tokenizer is not None and backend.tokenizer.unavailable  # not asked again
    await close_backends()


def test_a_hosted_provider_is_not_asked_to_tokenize_and_the_setting_turns_it_off() -> None:
    from thinkact.backends import resolve_backend_config
    from thinkact.backends.openai_compat import OpenAIBackend

    def tokenizer(name: str, **settings: Any) -> object:
        config = resolve_backend_config(name, base_url="http://127.0.0.1:9/v1", api_key="k",
                                        model="m", env={}, **settings)
        return OpenAIBackend(config).tokenizer

    assert tokenizer("moonshot") is None
    assert tokenizer("custom") is not None and tokenizer("vllm") is not None
    assert tokenizer("custom", tokenize=False) is None


async def test_a_local_model_sizes_requests_by_its_own_tokenizer(backend: LocalBackend) -> None:
    task = "数一数：" + "一二三四五六七八九十" * 20
    seen: list[GenerationOptions] = []
    real_stream = backend.stream

    def recording(messages: Any, tools: Any, options: GenerationOptions) -> Any:
        seen.append(options)
        return real_stream(messages, tools, options)

    backend.stream = recording  # type: ignore[method-assign]
    agent = Agent(backend, budget=Budget(max_steps=1))
    [e async for e in agent.events(task)]
    exact = backend.count_tokens(agent.initial_messages(task), [])
    guess = estimate_request(agent.initial_messages(task), [])
    assert abs(exact - guess) > 20  # the estimate alone would size the request otherwise
    window = backend.context_window
    room = window - max(window // 100, 8) - exact  # what is left once the prompt is in
    assert seen and abs((seen[0].max_tokens or 0) - room) <= 1
