"""Recorded runs for the web UI tests: the real agent loop over scripted models, recording
into a real SQLite trace store; and ``thinkact ui`` as a real process on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.agent_kit import boom, echo
from support.cli_run import CLI, clean_env
from support.eval_kit import answering, evaluate
from support.trace_events import answer_step, finished, started, tool_step
from thinkact.agent import Agent, Budget, Heavy, Vote
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import load_suite
from thinkact.events import (
    ContentDelta,
    ContextCompacted,
    Event,
    ReasoningDelta,
    Retry,
    RunError,
)
from thinkact.messages import Message, ToolCall
from thinkact.server.openai_app import Access
from thinkact.traces import SQLiteTraceStore
from thinkact.ui import ui_root


def _turn(i: int, note: str = "", tool: str = "echo") -> Message:
    args = json.dumps({"reason": f"step {i}"} if tool == "boom" else {"text": f"item {i}{note}"})
    return Message(role="assistant", reasoning=f"Step {i}: I look at item {i}.{note}",
                   content=f"checking item {i}",
                   tool_calls=[ToolCall(id=f"call-{i}", name=tool, arguments=args)])


def long_script(steps: int, needle_at: int = 217, fail_at: int = 150) -> list[Message]:
    """``steps`` tool steps (one failing tool at ``fail_at``, a rare word at ``needle_at``),
    then the answer."""
    turns = [_turn(i, " zanzibar" if i == needle_at else "", "boom" if i == fail_at else "echo")
             for i in range(1, steps + 1)]
    return [*turns, Message(role="assistant", reasoning="Done.", content=f"Checked {steps}.")]


def record(store: SQLiteTraceStore, run_id: str, task: str, script: list[Message],
           model: str = "scripted") -> str:
    agent = Agent(ScriptedBackend(script, model_name=model, record=False), tools=[echo, boom],
                  trace=store, budget=Budget(max_steps=len(script) + 1))
    result = agent.run(task, run_id=run_id)
    assert result.status == "completed", result
    return run_id


def record_heavy(store: SQLiteTraceStore, group: str, answers: list[str]) -> str:
    """A heavy group, one trajectory per answer (two tool steps each), aggregated by vote."""

    def agent_for(k: int) -> Agent:
        turns = [_turn(i, f" (trajectory {k})") for i in range(1, 3)]
        turns.append(Message(role="assistant", reasoning="Sure.", content=answers[k - 1]))
        return Agent(ScriptedBackend(turns, record=False), tools=[echo], trace=store)

    result = Heavy(agent_for, n=len(answers), aggregator=Vote()).run("What is 6 x 7?", group)
    assert result.status == "completed"
    return group


def record_eval(home: Path, eval_id: str = "ev-ui") -> str:
    """An eval of three items (two answered right) through the real eval runner, into
    ``home/evals.sqlite``, its runs into ``home/t.sqlite``."""
    lines = [{"input": "What is 6*7?", "target": 42, "scorer": "number", "category": "math"},
             {"input": "What is 2+2?", "target": 4, "scorer": "number", "category": "math"},
             {"input": "Name the capital of France.", "target": "Paris", "category": "geo"}]
    path = home / "suite.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    suite = load_suite(str(path))
    replies = {"What is 6*7?": "42", "What is 2+2?": "5", "Name the capital of France.": "Paris"}
    evaluate(suite, answering(suite, lambda item, _: Message(
        role="assistant", content=replies[item.input])), home, eval_id=eval_id)
    return eval_id


def fill(path: Path) -> dict[str, str]:
    """The recorded runs the UI tests browse: a 300-step run, two runs that diverge at
    step 3, a heavy group of three, and a resumed run with retries and the like."""
    with SQLiteTraceStore(path) as store:
        ids = {"long": record(store, "run-long", "Check all 300 items.", long_script(300))}
        base = [_turn(i) for i in range(1, 6)]
        other = [*base[:2], _turn(3, " but differently"), *base[3:]]
        done = Message(role="assistant", reasoning="ok", content="Five checked.")
        ids["a"] = record(store, "run-a", "Check five items.", [*base, done])
        ids["b"] = record(store, "run-b", "Check five items.", [*other, done])
        ids["group"] = record_heavy(store, "group-h", ["42", "42", "41"])
        ids["mixed"] = record_mixed(store, "run-mixed")
    return ids


def record_mixed(store: SQLiteTraceStore, run_id: str) -> str:
    """A run with what a timeline must show besides steps: a retry, a compaction, a notice,
    an error, a step cut by a kill (superseded) and the resume that redid it."""
    events: list[Event] = [started(run_id), *tool_step(1)]
    step2 = tool_step(2)
    step2[1:1] = [Retry(attempt=1, error="HTTP 503 from the provider", delay_s=0.5)]
    step2.insert(-1, ContextCompacted(strategy="hide", tokens_before=9000, tokens_after=4000,
                                      detail="2 tool outputs hidden"))
    events += [*step2, *tool_step(3, finish=False, tag=" (cut)"), started(run_id, 2),
               *tool_step(3, notice=True), RunError(message="tool server hiccup"),
               *answer_step(4), finished(4, 4)]
    for event in events:
        store.append(run_id, event)
    return run_id


def record_huge(path: Path, run_id: str, steps: int, tagged: set[int]) -> str:
    """A run of ``steps`` hand-built tool steps (their streamed deltas left out, to record
    quickly), the word "walrus" in the steps ``tagged``, then the answer."""
    with SQLiteTraceStore(path, synchronous="OFF") as store:
        store.append(run_id, started(run_id))
        for i in range(1, steps + 1):
            for event in tool_step(i, tag=" walrus" if i in tagged else ""):
                if not isinstance(event, ReasoningDelta | ContentDelta):
                    store.append(run_id, event)
        for event in [*answer_step(steps + 1, f"Looked at {steps}."),
                      finished(steps + 1, steps)]:
            store.append(run_id, event)
    return run_id


def record_sweep(home: Path, eval_db: Path) -> str:
    """``thinkact eval --sweep max_steps=1,2,4,8`` of six items with a scripted model that
    lists files three times, then answers 42 (right for four items): no answer within one or
    two steps, so accuracy rises from 0 to 4/6. Returns the sweep id."""
    path = home / "sweep-suite.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "input": f"Question {i}?",
                                        "target": 7 if i % 3 == 0 else 42,
                                        "scorer": "number"}) + "\n" for i in range(6)))
    look = [{"reasoning": f"Look {i}.", "content": f"listing {i}", "tool_calls": [
        {"name": "files", "arguments": {"action": "list", "path": "."}}]} for i in range(3)]
    script = home / "sweep-script.json"
    script.write_text(json.dumps({"turns": [*look, {"content": "It is 42."}]}))
    out = subprocess.run([*CLI, "eval", str(path), "--provider", "scripted", "--script",
                          str(script), "--tools", "files", "--sweep", "max_steps=1,2,4,8",
                          "--eval-db", str(eval_db), "--json"], capture_output=True,
                         text=True, timeout=120, env=clean_env(home))
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["sweep"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ui_server(db: Path, home: Path, *extra: str, env: dict[str, str] | None = None
              ) -> Iterator[str]:
    """``thinkact ui --trace-db DB`` on a free loopback port; yields ``http://host:port``."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "ui", "--port", str(port), "--trace-db", str(db), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env or clean_env(home))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/ui/", timeout=1).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "thinkact ui did not come up"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def keyed_ui(db: Path, key: str) -> Iterator[str]:
    """The UI as ``thinkact ui --host <beyond loopback> --key-env`` builds it (any Host, the
    bearer key required), served on a free loopback port in this process."""
    import uvicorn

    with SQLiteTraceStore(db) as store:
        app = ui_root(store, Access(api_key=key, loopback_only=False))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "no server"
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(30)
