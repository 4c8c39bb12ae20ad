"""``thinkact run`` as a real process (scripted provider): --json stream, exit codes, clear
errors, Ctrl-C recording a stopped run that --resume finishes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from support.cli_run import files_turns, popen, run_cli, thinkact, write_script
from support.trace_events import started
from thinkact.events import (
    EVENT_ADAPTER,
    Event,
    FinalAnswer,
    Notice,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolResultEvent,
)
from thinkact.traces import SQLiteTraceStore


def test_json_stream_parses_and_matches_the_trace(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(2))
    db, ws = tmp_path / "t.sqlite", tmp_path / "ws"
    proc = thinkact(["run", "write two files", "--provider", "scripted", "--script",
                     str(script), "--tools", "files", "--trace-db", str(db), "--workspace",
                     str(ws), "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [EVENT_ADAPTER.validate_json(line) for line in proc.stdout.splitlines()]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].status == "completed" and events[-1].tool_calls == 2
    assert [e.step for e in events if isinstance(e, StepFinished)] == [1, 2, 3]
    assert (ws / "f0.txt").read_text() == "item 0" and (ws / "f1.txt").exists()
    with SQLiteTraceStore(db) as store:
        recorded = [e for e in store.events(events[0].run_id) if "delta" not in e.type]
        assert recorded == [e for e in events if "delta" not in e.type]
        assert store.run_info(events[0].run_id)["status"] == "completed"


def test_live_view_output_and_budget_stop_exit_code(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [*files_turns(3)[:3],
                                                {"reasoning": "stop", "content": "partial"}])
    proc = thinkact(["run", "write files", "--provider", "scripted", "--script", str(script),
                     "--tools", "files", "--max-steps", "2"], tmp_path)
    assert proc.returncode == 1, proc.stderr  # stopped by the budget
    assert "→ files" in proc.stdout and "← files ok" in proc.stdout
    assert "stopped (budget exhausted: max_steps" in proc.stdout
    assert "continue with: thinkact run --resume 2" in proc.stdout
    assert "Answer" in proc.stdout


def test_usage_errors_exit_2_with_clear_messages(tmp_path: Path) -> None:
    none = thinkact(["run"], tmp_path)
    assert none.returncode == 2 and "give a TASK" in none.stderr
    key = thinkact(["run", "hi", "--provider", "moonshot"], tmp_path)
    assert key.returncode == 2 and "MOONSHOT_API_KEY" in key.stderr
    named = thinkact(["run", "hi", "--provider", "vllm", "--api-key-env", "MY_TEAM_KEY"],
                     tmp_path)
    assert named.returncode == 2 and "MY_TEAM_KEY" in named.stderr
    tool = thinkact(["run", "hi", "--provider", "scripted", "--script",
                     str(write_script(tmp_path / "s.json", files_turns(0))), "--tools",
                     "teleport"], tmp_path)
    assert tool.returncode == 2 and "teleport" in tool.stderr
    missing = thinkact(["run", "--resume", "nope", "--trace-db", str(tmp_path / "t.sqlite")],
                       tmp_path)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    with SQLiteTraceStore(tmp_path / "live.sqlite") as store:  # this process is its writer
        store.append("live-run", started("live-run"))
        busy = thinkact(["run", "--resume", "live-run", "--trace-db",
                         str(tmp_path / "live.sqlite")], tmp_path)
    assert busy.returncode == 2 and "still running" in busy.stderr


def wait_for(pred: object, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_records_stopped_and_resume_completes(tmp_path: Path, sig: int) -> None:
    script = write_script(tmp_path / "s.json", files_turns(4), delay_s=0.05)
    db = tmp_path / "t.sqlite"
    args = ["--trace-db", str(db), "--json"]
    proc = popen(["run", "write files", "--provider", "scripted", "--script", str(script),
                  "--tools", "files", *args], tmp_path)
    wait_for(lambda: db.exists())
    reader = SQLiteTraceStore(db)
    wait_for(lambda: (reader.query("SELECT MAX(steps) FROM runs")[0][0] or 0) >= 1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    last = EVENT_ADAPTER.validate_json(out.splitlines()[-1])
    assert isinstance(last, RunFinished) and last.status == "stopped"
    run_id = reader.list_runs()[0].run_id
    assert reader.run_info(run_id)["status"] == "stopped"
    done = reader.load_state(run_id).steps_done
    assert 1 <= done < 5
    resumed = popen(["run", "--resume", run_id, *args], tmp_path)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    first = EVENT_ADAPTER.validate_json(out.splitlines()[0])
    assert isinstance(first, RunStarted) and first.resumed_from_step == done
    state = reader.load_state(run_id)
    assert state.finished and state.steps_done == 5 and state.tool_calls == 4
    assert [m.content for m in state.messages if m.role == "assistant"] == [
        "writing f0", "writing f1", "writing f2", "writing f3", "Wrote the files."]
    reader.close()


def shell_call(command: str) -> dict[str, object]:
    return {"reasoning": f"run {command}", "content": None,
            "tool_calls": [{"name": "shell", "arguments": {"command": command}}]}


def shell_results(events: list[Event]) -> list[tuple[bool, str]]:
    return [(e.result.ok, e.result.content) for e in events if isinstance(e, ToolResultEvent)]


def test_resume_can_turn_shell_approval_back_on(tmp_path: Path) -> None:
    """``--yes-shell`` is recorded; ``--resume --ask-shell`` turns approval back on (stdin is
    not a terminal here, so asking means refusing), and a later plain resume keeps that."""
    script = write_script(tmp_path / "s.json", [
        shell_call("touch one"), {"content": "partial 1"},
        shell_call("touch two"), {"content": "partial 2"},
        shell_call("touch three"), {"content": "done"}])
    ws = tmp_path / "ws"
    proc, first = run_cli(["x", "--provider", "scripted", "--script", str(script), "--tools",
                           "none", "--shell", "--yes-shell", "--max-steps", "1",
                           "--workspace", str(ws)], tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    start = first[0]
    assert isinstance(start, RunStarted) and start.config["tools"]["shell_approval"] == "off"
    assert [ok for ok, _ in shell_results(first)] == [True] and (ws / "one").exists()

    proc, again = run_cli(["--resume", start.run_id, "--ask-shell", "--max-steps", "3"],
                          tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert isinstance(again[0], RunStarted)
    assert again[0].config["tools"]["shell_approval"] == "ask"
    [(ok, content)] = shell_results(again)
    assert not ok and "--yes-shell" in content  # refused, not run: nobody can approve
    assert not (ws / "two").exists()

    proc, last = run_cli(["--resume", start.run_id, "--max-steps", "6"], tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(last[0], RunStarted)
    assert last[0].config["tools"]["shell_approval"] == "ask"  # the latest choice stays
    [(ok, content)] = shell_results(last)
    assert not ok and not (ws / "three").exists()

    bad = thinkact(["run", "x", "--provider", "scripted", "--script", str(script),
                    "--ask-shell"], tmp_path)
    assert bad.returncode == 2 and "--ask-shell only applies with --shell" in bad.stderr


def test_timeout_cuts_a_slow_model_call(tmp_path: Path) -> None:
    """``--timeout`` is a deadline: a model call streaming far past it is cut off; with
    ``--final-answer-grace 0`` the run ends there, stopped, the cut step left unfinished."""
    script = write_script(tmp_path / "s.json", [{"reasoning": "slow " * 400, "content": "late"}],
                          delay_s=0.2)  # ~125 chunks: about 25 s if it were not cut
    proc, events = run_cli(["x", "--provider", "scripted", "--script", str(script), "--tools",
                            "none", "--timeout", "1", "--final-answer-grace", "0"], tmp_path,
                           timeout=60)
    assert proc.returncode == 1, proc.stderr
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "stopped"
    assert "max_wall_time_s=1" in finished.reason and finished.steps == 0
    assert not [e for e in events if e.type == "final_answer"]
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        start = events[0]
        assert isinstance(start, RunStarted)
        state = store.load_state(start.run_id)
        assert state.steps_done == 0 and [m.role for m in state.messages] == ["user"]
        assert state.config["budget"]["final_answer_grace_s"] == 0


def test_verify_checks_the_answer_and_records_the_rounds_for_resume(tmp_path: Path) -> None:
    turns = [{"reasoning": "quick guess", "content": "41"},
             {"reasoning": "6*7 is 42, not 41", "content": "42"}]
    script = write_script(tmp_path / "s.json", turns)
    proc, events = run_cli(["6 * 7?", "--provider", "scripted", "--script", str(script),
                            "--tools", "none", "--verify", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [e.kind for e in events if isinstance(e, Notice)] == ["verify"]
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["42"]
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        assert store.run_config(events[0].run_id)["verify"]["rounds"] == 1
    bad = thinkact(["run", "x", "--verify", "-1"], tmp_path)
    assert bad.returncode == 2 and "--verify must be 0 or more" in bad.stderr


def test_a_run_recorded_before_agent_config_still_resumes(tmp_path: Path) -> None:
    """A trace whose config has the old hand-built shape (model, backend description,
    tool names, the CLI's setup block) resumes with the same backend, tools and workspace."""
    from support.trace_events import tool_step
    from thinkact.messages import Message

    ws = tmp_path / "ws"
    ws.mkdir()
    script = write_script(tmp_path / "s.json", [
        {"content": "listing", "tool_calls": [{"name": "files", "arguments": {
            "action": "list", "path": "."}}]},
        {"content": "two steps done"}])
    old = {"model": "scripted", "context_window": 262144,
           "backend": {"provider": "scripted", "script": str(script), "delay_s": 0.0},
           "tools": ["files"], "budget": {"max_steps": 1, "final_answer_grace_s": 30.0},
           "context": "hide_tool_outputs",
           "options": {"max_tokens": None, "temperature": None, "top_p": None, "seed": None,
                       "extra": {}},
           "repeat": {"warn_at": 3, "stop_at": 5}, "verify": {"rounds": 0},
           "system_prompt": None, "workspace": str(ws),
           "setup": {"builtin_tools": ["files"], "shell": False, "shell_approval": None,
                     "facts_db": None, "mcp": []}}
    db = tmp_path / "t.sqlite"
    with SQLiteTraceStore(db) as store:
        store.append("old-run", RunStarted(run_id="old-run", task="list", model="scripted",
                                           config=old, messages=[Message.user("list")]))
        for event in tool_step(1):
            store.append("old-run", event)
        store.append("old-run", RunFinished(status="stopped", reason="interrupted", steps=1,
                                            tool_calls=1))
    proc = thinkact(["run", "--resume", "old-run", "--max-steps", "5", "--json",
                     "--trace-db", str(db)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [EVENT_ADAPTER.validate_json(line) for line in proc.stdout.splitlines()]
    start = events[0]
    assert isinstance(start, RunStarted) and start.resumed_from_step == 1
    assert start.config["backend"]["script"] == str(script)
    assert start.config["tools"]["names"] == ["files"]
    assert start.config["workspace"] == str(ws) and start.config["budget"]["max_steps"] == 5
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["two steps done"]
