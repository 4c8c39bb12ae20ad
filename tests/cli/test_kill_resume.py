"""SIGKILL ``thinkact run`` mid-step against a real loopback K2-style server, then
``--resume``: the final trace has every step exactly once, numbered contiguously, every tool
call with exactly one result, and nothing of the killed partial step in the conversation."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from support.cli_run import popen, thinkact
from support.k2_server import K2Server, ToolLoop, _Handler, reasoning_for
from thinkact.events import EVENT_ADAPTER, RunStarted, StepFinished, StepStarted
from thinkact.traces import SQLiteTraceStore

TOOL_STEPS = 5  # steps 1-5 write a file each, step 6 answers


class _SlowHandler(_Handler):
    """Streams each SSE chunk after a pause, so a kill lands inside a model call."""

    def _send_chunk(self, data: bytes) -> None:
        time.sleep(0.02)
        super()._send_chunk(data)


def slow_server() -> K2Server:
    def args(i: int) -> str:
        return json.dumps({"action": "write", "path": f"f{i}.txt", "content": f"item {i}"})

    server = K2Server(ToolLoop(steps=TOOL_STEPS, tool="files", arguments=args),
                      chunk_chars=3)
    server._httpd.RequestHandlerClass = _SlowHandler
    return server


def wait_for(pred: Any, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_sigkill_mid_step_then_resume_gives_a_complete_trace(tmp_path: Path) -> None:
    db, ws = tmp_path / "t.sqlite", tmp_path / "ws"
    with slow_server() as server:
        proc = popen(["run", "Write five files.", "--provider", "custom", "--base-url",
                      server.base_url, "--model", "kimi-k2-thinking", "--tools", "files",
                      "--workspace", str(ws), "--trace-db", str(db), "--json"], tmp_path)
        try:
            wait_for(db.exists)
            reader = SQLiteTraceStore(db)

            def mid_step_3() -> bool:  # step 3's reasoning is streaming (deltas recorded)
                if proc.poll() is not None:
                    raise AssertionError(f"run ended early: {proc.communicate()}")
                rows = reader.query("SELECT type FROM events WHERE step = 3")
                return ("reasoning_delta",) in rows and ("assistant_message",) not in rows

            wait_for(mid_step_3)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        run_id = reader.list_runs()[0].run_id
        killed = reader.records(run_id)
        assert max(e.event.step for e in killed if isinstance(e.event, StepFinished)) == 2
        assert any(isinstance(e.event, StepStarted) and e.event.step == 3 for e in killed)
        assert reader.run_info(run_id)["status"] == "running"  # its writer is gone
        n_killed = len(killed)

        resumed = thinkact(["run", "--resume", run_id, "--trace-db", str(db), "--json"],
                           tmp_path, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        first = EVENT_ADAPTER.validate_json(resumed.stdout.splitlines()[0])
        assert isinstance(first, RunStarted) and first.resumed_from_step == 2
        assert not server.reasoning_mismatches

    state = reader.load_state(run_id)
    records = reader.records(run_id)
    reader.close()
    assert state.finished and state.steps_done == TOOL_STEPS + 1
    # the killed partial step stays in the record, marked superseded, and only it
    lost = [r for r in records if r.superseded]
    assert lost and {r.step for r in lost} == {3} and all(r.seq <= n_killed for r in lost)
    final = [r.event for r in records if not r.superseded]
    started = [e.step for e in final if isinstance(e, StepStarted)]
    done = [e.step for e in final if isinstance(e, StepFinished)]
    assert started == done == list(range(1, TOOL_STEPS + 2))
    # the conversation: each step's assistant message once, in order
    assistant = [m for m in state.messages if m.role == "assistant"]
    assert [m.reasoning for m in assistant] == [reasoning_for(s) for s in range(TOOL_STEPS + 1)]
    assert assistant[-1].content == "All done."
    # every tool call has exactly one result, and every result answers a call
    call_ids = [c.id for m in assistant for c in m.tool_calls]
    result_ids = [m.tool_call_id for m in state.messages if m.role == "tool"]
    assert len(call_ids) == TOOL_STEPS and Counter(call_ids) == Counter(result_ids)
    assert state.tool_calls == TOOL_STEPS
    assert sorted(p.name for p in ws.iterdir()) == [f"f{i}.txt" for i in range(TOOL_STEPS)]
