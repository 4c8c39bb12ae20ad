"""SIGKILL ``thinkact run`` mid-step against a real loopback K2-style server, then
``--resume``: the final trace has every step exactly once, numbered contiguously, every tool
call with exactly one result, and nothing of the killed partial step in the conversation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from support.cli_run import (
    kill_when,
    popen,
    sigkill_when,
    slowed,
    thinkact,
    wait_for,
    write_script,
)
from support.k2_server import K2Server, ToolLoop, reasoning_for
from thinkact.events import (
    EVENT_ADAPTER,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.tools.builtin.python_tool import RESUMED
from thinkact.traces import EventRecord, ResumeState, SQLiteTraceStore
from thinkact.untrusted import unmarked

TOOL_STEPS = 5  # steps 1-5 write a file each, step 6 answers


def slow_server() -> K2Server:
    def args(i: int) -> str:
        return json.dumps({"action": "write", "path": f"f{i}.txt", "content": f"item {i}"})

    return slowed(K2Server(ToolLoop(steps=TOOL_STEPS, tool="files", arguments=args),
                           chunk_chars=3))


def test_sigkill_mid_step_twice_then_resume_gives_a_complete_trace(tmp_path: Path) -> None:
    db, ws = tmp_path / "t.sqlite", tmp_path / "ws"
    with slow_server() as server:
        proc = popen(["run", "Write five files.", "--provider", "custom", "--base-url",
                      server.base_url, "--model", "kimi-k2-thinking", "--tools", "files",
                      "--workspace", str(ws), "--trace-db", str(db), "--json"], tmp_path)
        wait_for(db.exists)
        reader = SQLiteTraceStore(db)
        kill_when(proc, reader, 3)
        run_id = reader.list_runs()[0].run_id
        killed = reader.records(run_id)
        assert max(e.event.step for e in killed if isinstance(e.event, StepFinished)) == 2
        assert any(isinstance(e.event, StepStarted) and e.event.step == 3 for e in killed)
        assert reader.run_info(run_id)["status"] == "running"  # its writer is gone

        again = popen(["run", "--resume", run_id, "--trace-db", str(db), "--json"], tmp_path)
        kill_when(again, reader, 5)  # the resumed process dies mid-step too
        assert reader.load_state(run_id).steps_done == 4

        resumed = thinkact(["run", "--resume", run_id, "--trace-db", str(db), "--json"],
                           tmp_path, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        first = EVENT_ADAPTER.validate_json(resumed.stdout.splitlines()[0])
        assert isinstance(first, RunStarted) and first.resumed_from_step == 4
        assert not server.reasoning_mismatches

    state = reader.load_state(run_id)
    records = reader.records(run_id)
    info = reader.run_info(run_id)
    reader.close()
    assert state.finished and state.steps_done == TOOL_STEPS + 1
    assert (info["status"], info["segments"], info["steps"]) == ("completed", 3, 6)
    # the killed partial steps stay in the record, marked superseded, and only they
    lost = {(r.segment, r.step) for r in records if r.superseded}
    assert lost == {(1, 3), (2, 5)}
    assert_complete(state, records, TOOL_STEPS + 1)
    assert [m.reasoning for m in state.messages if m.role == "assistant"] == [
        reasoning_for(s) for s in range(TOOL_STEPS + 1)]
    assert sorted(p.name for p in ws.iterdir()) == [f"f{i}.txt" for i in range(TOOL_STEPS)]


def assert_complete(state: ResumeState, records: list[EventRecord], steps: int) -> None:
    """Every step once, numbered 1..steps, every tool call answered exactly once."""
    final = [r.event for r in records if not r.superseded]
    started = [e.step for e in final if isinstance(e, StepStarted)]
    done = [e.step for e in final if isinstance(e, StepFinished)]
    assert started == done == list(range(1, steps + 1))
    assistant = [m for m in state.messages if m.role == "assistant"]
    assert len(assistant) == steps
    call_ids = [c.id for m in assistant for c in m.tool_calls]
    result_ids = [m.tool_call_id for m in state.messages if m.role == "tool"]
    assert len(set(call_ids)) == len(call_ids) == state.tool_calls
    assert Counter(call_ids) == Counter(result_ids)
    final_calls = [e.call.id for e in final if isinstance(e, ToolCallStarted)]
    final_results = [e.result.call_id for e in final if isinstance(e, ToolResultEvent)]
    assert Counter(final_calls) == Counter(final_results) == Counter(call_ids)


SLEEPY = ("import pathlib, time\n"
          "first = not pathlib.Path('marker').exists()\n"
          "pathlib.Path('marker').write_text('x')\n"
          "time.sleep(20 if first else 0)\n"
          "print('slept' if first else 'quick')")


def test_sigkill_during_a_tool_call_then_resume(tmp_path: Path) -> None:
    """Killed while the python tool runs (call recorded, no result): the step is redone."""
    script = write_script(tmp_path / "s.json", [
        {"reasoning": "Warm up.", "tool_calls": [{"name": "python",
                                                   "arguments": {"code": "print(6 * 7)"}}]},
        {"reasoning": "Now the slow part.", "tool_calls": [{"name": "python",
                                                             "arguments": {"code": SLEEPY}}]},
        {"reasoning": "Done.", "content": "It printed quick."}])
    db, ws = tmp_path / "t.sqlite", tmp_path / "ws"
    proc = popen(["run", "Run the code.", "--provider", "scripted", "--script", str(script),
                  "--tools", "python", "--workspace", str(ws), "--trace-db", str(db),
                  "--json"], tmp_path)
    wait_for(db.exists)
    reader = SQLiteTraceStore(db)
    sigkill_when(proc, lambda: reader.query("SELECT 1 FROM events WHERE type = 'tool_call' "
                                            "AND step = 2") and (ws / "marker").exists())
    run_id = reader.list_runs()[0].run_id
    assert reader.query("SELECT COUNT(*) FROM tool_calls WHERE step = 2 AND "
                        "finished_at IS NULL") == [(1,)]  # started, never answered
    resumed = thinkact(["run", "--resume", run_id, "--trace-db", str(db), "--json"],
                       tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    state = reader.load_state(run_id)
    records = reader.records(run_id)
    reader.close()
    assert state.finished and state.steps_done == 3
    assert_complete(state, records, 3)
    tool_out = [m.content for m in state.messages if m.role == "tool"]
    # redone, not resumed, in a new kernel: the model is told the old one is gone
    assert (tool_out[1] or "").startswith(RESUMED)
    assert [unmarked((t or "").removeprefix(RESUMED)).strip() for t in tool_out] == [
        "42", "quick"]
    assert {(r.segment, r.step, r.event.type) for r in records if r.superseded} >= {
        (1, 2, "tool_call"), (1, 2, "assistant_message")}
