"""Token counts that hold for every script, and a server's "too long" as a signal to compact,
against the strict K2 test server (one token per CJK character)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.agent_kit import agent_for, echo
from support.k2_server import K2Server, ToolLoop
from thinkact.events import ContextCompacted, FinalAnswer, Notice, RunFinished, ToolResultEvent
from thinkact.tools import tool

StartServer = Callable[..., K2Server]
PAGE = "北京今天天气晴朗，气温二十五度。"  # 16 characters, all counted as tokens


async def test_cjk_tool_outputs_in_a_16k_window_never_overflow(k2: StartServer) -> None:
    @tool
    def fetch(text: str) -> str:
        """Returns a Chinese page."""
        return PAGE * 1250  # 20,000 characters: about 20,000 tokens

    server = k2(ToolLoop(8, tool="fetch"), context_window=16000)
    events = [e async for e in agent_for(server, tools=[fetch]).events("read eight pages")]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed", finished.reason
    assert server.context_rejections == 0 and server.max_request_tokens <= 16000
    results = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert len(results) == 8 and all(r.truncated for r in results)  # cut in tokens
    assert all(len(r.content) < 7000 for r in results)
    assert any(isinstance(e, ContextCompacted) for e in events)


async def test_a_context_length_refusal_compacts_and_retries(k2: StartServer) -> None:
    """The server counts 2.3x the tokens estimated for ASCII: the first request (sized by
    the estimate) is refused, the loop counts as the server said it does, the retry fits."""
    server = k2(ToolLoop(2), context_window=9000, chars_per_token=1.5)
    task = "Context: " + "lorem ipsum dolor sit amet " * 165  # ~4,500 characters
    events = [e async for e in agent_for(server, tools=[echo]).events(task)]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed", finished.reason
    assert [e.kind for e in events if isinstance(e, Notice)] == ["context"]
    assert server.context_rejections == 1 and server.max_request_tokens <= 9000


async def test_a_request_that_can_never_fit_stops_with_the_best_answer(
        k2: StartServer) -> None:
    def big_after_first(step: int, request: dict[str, Any]) -> Any:
        return ToolLoop(5, arguments=lambda i: '{"text": "%s"}' % ("x" * (30000 if i else 5))
                        )(step, request)

    server = k2(big_after_first, context_window=9000, chars_per_token=1.0)
    events = [e async for e in agent_for(server, tools=[echo]).events("go")]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.status == "stopped" and "context window exceeded" in finished.reason
    (answer,) = [e.content for e in events if isinstance(e, FinalAnswer)]
    assert answer.startswith("Last tool result (echo):\necho: xxx")  # not a bare failure


async def test_the_window_is_discovered_and_max_tokens_fits_it(k2: StartServer) -> None:
    """An 8k server behind the ``custom`` preset: the window comes from the server, so no
    request asks for more output than the window leaves (before: a 131k guess and ~130k
    max_tokens per request)."""
    from support.agent_kit import OPEN_BACKENDS
    from thinkact.agent import Agent
    from thinkact.backends import resolve_backend_config
    from thinkact.backends.openai_compat import OpenAIBackend

    for dialect in ("vllm", "llama.cpp"):
        server = k2(ToolLoop(3), context_window=8000, advertise=dialect)
        config = resolve_backend_config("custom", model="kimi-k2-thinking",
                                        base_url=server.base_url, env={})
        backend = OpenAIBackend(config)
        OPEN_BACKENDS.append(backend)
        result = await Agent(backend, tools=[echo]).arun("go")
        assert result.status == "completed" and backend.context_window == 8000
        # prompt + max_tokens of every request within the window
        assert server.context_rejections == 0 and server.max_request_tokens <= 8000


def test_a_given_window_is_not_rediscovered() -> None:
    from thinkact.backends import resolve_backend_config

    given = resolve_backend_config("custom", model="m", base_url="http://x/v1", env={},
                                   context_window=4096)
    assert (given.context_window, given.discover_context_window) == (4096, False)
    guessed = resolve_backend_config("custom", model="m", base_url="http://x/v1", env={})
    assert (guessed.context_window, guessed.discover_context_window) == (8192, True)
    hosted = resolve_backend_config("moonshot", env={"MOONSHOT_API_KEY": "k"})
    assert hosted.discover_context_window is False
