"""A fake K2 Thinking chat-completions server on loopback, for tests against the real client.

It speaks ``/v1/chat/completions`` streaming (SSE over chunked HTTP) and non-streaming the
way Moonshot's API does for kimi-k2-thinking: ``reasoning_content`` deltas first, then
content or tool-call deltas, then a usage chunk. A *policy* decides each turn from the step
number (assistant messages already in the request). The server checks what a real K2
endpoint cares about and records everything for assertions:

- an assistant tool-call message in the history without ``reasoning_content`` -> HTTP 400
  with Moonshot's message; one whose reasoning differs from what was emitted -> recorded in
  ``reasoning_mismatches``;
- a request whose prompt tokens (one per CJK character, else chars / ``chars_per_token``)
  + ``max_tokens`` exceed ``context_window`` ->
  HTTP 400 "context length exceeded" (counted in ``context_rejections``); with
  ``empty_stream_errors``, a streamed one gets 200 and an empty stream instead; with
  ``vllm_wording``, the refusal states the window in vLLM's words.

Fault injection: ``Fault("429", times=N)``, ``Fault("500")``, ``Fault("cut", after_chunks=k)``
(close the connection mid-answer), ``Fault("malformed")`` (tool-call arguments that are not
valid JSON), ``Fault("length")`` (the last call's arguments cut, ``finish_reason:
length``), ``Fault("stall", after_chunks=k, seconds=s)`` (go silent mid-answer: the client's
read timeout must fire), optionally only at a given step. ``chars_per_token``
below the client's 3.5 simulates a tokenizer that counts more tokens than the client
estimates.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal


@dataclass
class Turn:
    reasoning: str
    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, raw arguments)


Policy = Callable[[int, dict[str, Any]], Turn]


def reasoning_for(step: int) -> str:
    """Distinctive reasoning per step, with whitespace and non-ASCII to test exactness."""
    return f"Step {step}: I should check the next item.  Résumé ✓ \n\t(thinking {step})  "


@dataclass
class ToolLoop:
    """Call ``tool`` for ``steps`` steps (``parallel`` calls each), then answer."""

    steps: int
    tool: str = "echo"
    arguments: Callable[[int], str] = lambda i: json.dumps({"text": f"item {i}"})
    parallel: int = 1
    answer: str = "All done."

    def __call__(self, step: int, request: dict[str, Any]) -> Turn:
        if not request.get("tools"):  # asked to wrap up without tools
            return Turn(reasoning_for(step), content=f"{self.answer} (wrap-up)")
        if step < self.steps:
            calls = [(self.tool, self.arguments(step * self.parallel + j))
                     for j in range(self.parallel)]
            return Turn(reasoning_for(step), tool_calls=calls)
        return Turn(reasoning_for(step), content=self.answer)


@dataclass
class Fault:
    kind: Literal["429", "500", "cut", "malformed", "stall", "length"]
    times: int = 1
    at_step: int | None = None
    after_chunks: int = 4
    seconds: float = 1.0  # how long a "stall" goes silent before the connection closes


# Han, kana, Hangul, CJK punctuation and full-width forms: a real tokenizer spends about a
# token on each, so the strict server counts exactly one.
_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def count_text(text: str, chars_per_token: float) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / chars_per_token)


def estimate_wire(messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                  chars_per_token: float = 3.5) -> int:
    """The server's prompt-token count per message + overhead: one token per CJK character,
    other characters / ``chars_per_token``."""
    total = 3
    for m in messages:
        text = (m.get("content") or "") + (m.get("reasoning_content") or "")
        for c in m.get("tool_calls") or []:
            text += c["id"] + c["function"]["name"] + c["function"]["arguments"]
        total += 4 + count_text(text, chars_per_token)
    if tools:
        total += count_text(json.dumps(tools, ensure_ascii=False), chars_per_token)
    return total


def _id_index(call_id: str) -> int:
    """``functions.name:7`` -> 7 (K2's conversation-global call counter); -1 otherwise."""
    tail = call_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class K2Server:
    def __init__(self, policy: Policy, *, context_window: int | None = None,
                 model: str = "kimi-k2-thinking", chunk_chars: int = 12,
                 usage_in_choice: bool = False, chars_per_token: float = 3.5,
                 advertise: Literal["vllm", "llama.cpp"] | None = None,
                 tokenize: Literal["vllm", "llama.cpp"] | None = None) -> None:
        self.policy = policy
        self.context_window = context_window
        self.model = model
        self.chunk_chars = chunk_chars
        self.usage_in_choice = usage_in_choice  # Moonshot style: usage inside the last choice
        self.chars_per_token = chars_per_token  # < 3.5: a tokenizer denser than the client's guess
        self.advertise = advertise  # answer GET /v1/models (vLLM) or /props (llama.cpp)
        self.tokenize = tokenize  # answer POST /tokenize (+ /apply-template) in that dialect
        self.tokenized = 0
        # llama-cpp-python's way: a streamed request it refuses gets 200 and an empty stream
        self.empty_stream_errors = False
        self.vllm_wording = False  # refusals state the window as vLLM does
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.emitted: dict[str, str] = {}  # tool_call_id -> reasoning sent with that call
        self.emitted_step: dict[str, int] = {}  # tool_call_id -> step it was emitted at
        self.reasoning_mismatches: list[str] = []
        self.reasoning_checked = 0
        self.context_rejections = 0
        self.max_request_tokens = 0  # prompt estimate + max_tokens, over accepted requests
        self.served_faults: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.k2 = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> K2Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- request handling (called from handler threads) -------------------------------------
    def take_fault(self, step: int) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times > 0 and (f.at_step is None or f.at_step == step):
                    f.times -= 1
                    self.served_faults.append(f.kind)
                    return f
        return None

    def check(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """Moonshot-style validation; returns (status, message) to reject."""
        messages = body.get("messages", [])
        for i, m in enumerate(messages):
            if m.get("role") != "assistant" or not m.get("tool_calls"):
                continue
            if "reasoning_content" not in m:
                return 400, ("thinking is enabled but reasoning_content is missing in assistant "
                             f"tool call message at index {i}")
            expected = self.emitted.get(m["tool_calls"][0]["id"])
            with self._lock:
                self.reasoning_checked += 1
                if expected is not None and m["reasoning_content"] != expected:
                    self.reasoning_mismatches.append(f"message {i}: {m['reasoning_content']!r}")
        prompt = estimate_wire(messages, body.get("tools") or [], self.chars_per_token)
        want = prompt + int(body.get("max_tokens") or 0)
        if self.context_window is not None and want > self.context_window:
            with self._lock:
                self.context_rejections += 1
            if self.vllm_wording:
                return 400, (f"This model's maximum context length is {self.context_window} "
                             f"tokens. However, you requested {want} tokens ({prompt} in the "
                             f"messages, {body.get('max_tokens')} in the completion).")
            return 400, (f"Invalid request: context length exceeded: {prompt} prompt tokens + "
                         f"{body.get('max_tokens')} max_tokens > {self.context_window}")
        with self._lock:
            self.max_request_tokens = max(self.max_request_tokens, want)
        return None

    def turn_for(self, body: dict[str, Any]) -> tuple[int, Turn, list[dict[str, Any]]]:
        """Decide the turn. The step is recovered from the call ids in the history (the
        client may have summarised earlier steps away), else from the assistant count."""
        messages = body.get("messages", [])
        ids = [c["id"] for m in messages for c in (m.get("tool_calls") or [])]
        with self._lock:
            known = [self.emitted_step[i] for i in ids if i in self.emitted_step]
        step = (max(known) + 1 if known
                else sum(m.get("role") == "assistant" for m in messages))
        turn = self.policy(step, body)
        first = 1 + max((_id_index(i) for i in ids), default=-1)
        calls = [{"id": f"functions.{name}:{first + j}", "type": "function",
                  "function": {"name": name, "arguments": args}}
                 for j, (name, args) in enumerate(turn.tool_calls)]
        with self._lock:
            for c in calls:
                self.emitted[c["id"]] = turn.reasoning
                self.emitted_step[c["id"]] = step
        return step, turn, calls

    def usage(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        prompt = estimate_wire(body.get("messages", []), body.get("tools") or [],
                               self.chars_per_token)
        reasoning = math.ceil(len(turn.reasoning) / 3.5)
        completion = reasoning + math.ceil(
            (len(turn.content or "") + sum(len(a) for _, a in turn.tool_calls)) / 3.5)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    def chunks(self, turn: Turn, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The delta sequence of one streamed turn: reasoning, then content or tool calls."""
        n = self.chunk_chars
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
        deltas += [{"reasoning_content": turn.reasoning[i:i + n]}
                   for i in range(0, len(turn.reasoning), n)]
        text = turn.content or ""
        deltas += [{"content": text[i:i + n]} for i in range(0, len(text), n)]
        for j, c in enumerate(calls):
            args = c["function"]["arguments"]
            deltas.append({"tool_calls": [{"index": j, "id": c["id"], "type": "function",
                                           "function": {"name": c["function"]["name"],
                                                        "arguments": ""}}]})
            deltas += [{"tool_calls": [{"index": j, "function": {"arguments": args[i:i + n]}}]}
                       for i in range(0, len(args), n)]
        return [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        # Many small SSE writes: without this, Nagle + delayed ACK stall each request ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def k2(self) -> K2Server:
        return self.server.k2  # type: ignore[attr-defined, no-any-return]

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
              ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error"}},
                   headers)

    def do_GET(self) -> None:
        """What a server says of its window, in the dialect ``advertise`` names."""
        k2, path = self.k2, self.path.rstrip("/")
        if k2.advertise == "vllm" and path.endswith("/v1/models"):
            self._json(200, {"object": "list", "data": [
                {"id": k2.model, "object": "model", "max_model_len": k2.context_window}]})
        elif k2.advertise == "llama.cpp" and path == "/props":
            self._json(200, {"default_generation_settings": {"n_ctx": k2.context_window}})
        else:
            self._error(404, f"no route {self.path}")

    def _tokenize(self, path: str, body: dict[str, Any]) -> bool:
        """``/tokenize`` counts as ``check`` does: vLLM's takes the chat, llama.cpp's the
        prompt ``/apply-template`` rendered (here: the messages as JSON lines)."""
        k2 = self.k2
        if k2.tokenize == "vllm" and path == "/tokenize" and "messages" in body:
            count = estimate_wire(body["messages"], body.get("tools") or [], k2.chars_per_token)
        elif k2.tokenize == "llama.cpp" and path == "/apply-template":
            lines = [*map(json.dumps, body["messages"]), json.dumps(body.get("tools", []))]
            self._json(200, {"prompt": "\n".join(lines)})
            return True
        elif k2.tokenize == "llama.cpp" and path == "/tokenize" and "content" in body:
            *messages, tools = [json.loads(line) for line in body["content"].split("\n")]
            count = estimate_wire(messages, tools, k2.chars_per_token)
        else:
            return False
        with k2._lock:
            k2.tokenized += 1
        self._json(200, {"count": count} if k2.tokenize == "vllm" else {"tokens": [0] * count})
        return True

    def do_POST(self) -> None:
        path = self.path.rstrip("/")
        if path in ("/tokenize", "/apply-template"):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if not self._tokenize(path, body):
                self._error(404, f"no route {self.path}")
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        k2 = self.k2
        with k2._lock:
            k2.requests.append(body)
        rejection = k2.check(body)
        if rejection is not None and body.get("stream") and k2.empty_stream_errors:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._send_chunk(b"")
            return
        if rejection is not None:
            self._error(*rejection)
            return
        step, turn, calls = k2.turn_for(body)
        fault = k2.take_fault(step)
        if fault is not None and fault.kind == "429":
            self._error(429, "rate limit reached, please retry", {"Retry-After": "0"})
            return
        if fault is not None and fault.kind == "500":
            self._error(500, "internal server error")
            return
        if fault is not None and fault.kind == "malformed":
            for c in calls:
                c["function"]["arguments"] = c["function"]["arguments"][:-1]  # drop the "}"
        if fault is not None and fault.kind == "length":  # max_tokens hit inside the last call
            calls[-1]["function"]["arguments"] = calls[-1]["function"]["arguments"][:5]
        finish = "length" if fault is not None and fault.kind == "length" else (
            "tool_calls" if calls else "stop")
        if body.get("stream"):
            self._stream(body, turn, calls, fault, finish)
        else:
            self._complete(body, turn, calls, finish)

    def _complete(self, body: dict[str, Any], turn: Turn, calls: list[dict[str, Any]],
                  finish: str) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": turn.content,
                                   "reasoning_content": turn.reasoning}
        if calls:
            message["tool_calls"] = calls
        self._json(200, {
            "id": "chatcmpl-k2", "object": "chat.completion", "created": 0,
            "model": self.k2.model, "usage": self.k2.usage(body, turn),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        })

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], turn: Turn, calls: list[dict[str, Any]],
                fault: Fault | None, finish: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        choices = self.k2.chunks(turn, calls)
        last: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
        if self.k2.usage_in_choice:
            last["usage"] = self.k2.usage(body, turn)
        choices.append(last)
        base = {"id": "chatcmpl-k2", "object": "chat.completion.chunk", "created": 0,
                "model": self.k2.model}
        events = [{**base, "choices": [c]} for c in choices]
        if (body.get("stream_options") or {}).get("include_usage") and not self.k2.usage_in_choice:
            events.append({**base, "choices": [], "usage": self.k2.usage(body, turn)})
        for i, event in enumerate(events):
            if fault is not None and fault.kind == "stall" and i == fault.after_chunks:
                time.sleep(fault.seconds)
            if fault is not None and fault.kind in ("cut", "stall") and i == fault.after_chunks:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # dies mid-answer, no final chunk
                return
            self._send_chunk(f"data: {json.dumps(event)}\n\n".encode())
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")
