"""A real model's text tool calls, replayed: SmolLM2-135M-Instruct behind llama-cpp-python's
server wrote its call as bare JSON (the server passed it through as content). The fixture
holds every request thinkact sent and every raw response the server gave
(benchmarks/llama_cpp_record.py made it); a loopback server answers with those responses and
checks that thinkact sends the same requests again, through the real ``openai`` client and
the real (jailed) python tool."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from thinkact.agent import Agent, Budget
from thinkact.backends import resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.events import AssistantMessage, FinalAnswer, RunFinished, ToolResultEvent
from thinkact.messages import Message
from thinkact.tools.builtin.python_tool import PythonTool

FIXTURE = Path(__file__).parent.parent / "fixtures" / "llama_cpp" / "smollm2_text_calls.json"
RECORD = json.loads(FIXTURE.read_text())
CHAT = "/v1/chat/completions"


class Replay:
    """Answers chat requests with the recorded responses, in order, and keeps each request
    that differs from the recorded one; other routes get their first recorded answer."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.chats = [e for e in exchanges if e["path"] == CHAT]
        self.other = {e["path"]: e for e in reversed(exchanges) if e["path"] != CHAT}
        self.served = 0
        self.mismatches: list[str] = []

    def answer(self, path: str, request: dict[str, Any]) -> dict[str, Any] | None:
        if path != CHAT:
            return self.other.get(path)
        if self.served >= len(self.chats):
            self.mismatches.append(f"request {self.served + 1} was never recorded")
            return None
        recorded = self.chats[self.served]
        self.served += 1
        for key in ("messages", "tools", "stream"):
            if request.get(key) != recorded["request"].get(key):
                self.mismatches.append(f"request {self.served}: {key} differs:\n"
                                       f"{request.get(key)}\nrecorded:\n"
                                       f"{recorded['request'].get(key)}")
        return recorded


@pytest.fixture
def replay() -> Iterator[tuple[Replay, str]]:
    state = Replay(RECORD["exchanges"])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            found = state.answer(self.path, body)
            status, kind, text = ((found["status"], found["content_type"], found["body"])
                                  if found else (404, "application/json", '{"detail": "no"}'))
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_bare_json_call_from_a_real_model_runs_and_the_run_answers(
        replay: tuple[Replay, str], tmp_path: Path) -> None:
    state, url = replay
    backend = OpenAIBackend(resolve_backend_config("custom", base_url=url, env={},
                                                   **RECORD["settings"]))
    agent = Agent(backend, tools=[PythonTool()], budget=Budget(max_steps=4),
                  workspace=tmp_path)
    messages = [Message.model_validate(m) for m in RECORD["messages"]]
    events = [e async for e in agent.events("", messages=messages)]
    await agent.aclose()
    assert state.mismatches == [] and state.served == len(state.chats) == 2
    first = next(e for e in events if isinstance(e, AssistantMessage))
    assert [(c.name, c.written_as) for c in first.message.tool_calls] == [("python", "json")]
    assert json.loads(first.message.tool_calls[0].arguments) == {"code": "print(17 * 23 + 4)"}
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert result.result.ok and "395" in result.result.content
    # the call went back to the server as the text the model wrote, not as structured calls
    # (the model's template cannot render those: llama-cpp-python answered HTTP 500)
    sent = state.chats[1]["request"]["messages"][-2]
    assert "tool_calls" not in sent and json.loads(sent["content"])["name"] == "python"
    answer = next(e for e in events if isinstance(e, FinalAnswer))
    assert answer.content == RECORD["answer"] and "395" in answer.content
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    assert finished.tool_calls == 1
