"""``thinkact run`` wired to the other parts, as a real process: the in-process local model,
a real MCP server (mcp-server-time) from the config file, the shell tool with and without
its approval opt-out, the facts tool, and --resume rebuilding all of it from the trace."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import thinkact
from support.cli_run import CLI, clean_env, run_cli, write_script
from thinkact.backends import BackendSpec
from thinkact.events import (
    EVENT_ADAPTER,
    Event,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolResultEvent,
)
from thinkact.messages import ToolResult
from thinkact.traces import SQLiteTraceStore


def results(events: list[Event]) -> list[ToolResult]:
    return [e.result for e in events if isinstance(e, ToolResultEvent)]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"reasoning": f"use {name}", "content": None,
            "tool_calls": [{"name": name, "arguments": arguments}]}


def time_config(path: Path) -> Path:
    path.write_text(f'[mcp.servers.time]\ncommand = "{Path(sys.executable).as_posix()}"\n'
                    'args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]\n'
                    'stderr = "discard"\n')
    return path


@pytest.mark.torch
def test_local_checkpoint_runs_and_resume_reloads_it(tmp_path: Path, checkpoint: Path) -> None:
    proc, events = run_cli(["hi", "--provider", "local", "--checkpoint", str(checkpoint),
                            "--max-steps", "1", "--max-step-tokens", "12", "--tools", "none"],
                           tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    first, last = events[0], events[-1]
    assert isinstance(first, RunStarted) and isinstance(last, RunFinished)
    assert last.status in ("completed", "stopped")
    backend = first.config["backend"]
    assert backend["provider"] == "local"
    assert backend["checkpoint"] == str(checkpoint.resolve())
    rebuilt = thinkact.backend(BackendSpec.model_validate(backend))
    assert rebuilt.context_window == 1024  # the checkpoint's, not a remote preset's
    if last.status == "completed":
        return  # the random model happened to answer; nothing left to resume
    # No provider or checkpoint given again: the recorded config names the checkpoint.
    again, resumed = run_cli(["--resume", first.run_id, "--max-steps", "3"], tmp_path)
    assert again.returncode in (0, 1), again.stderr
    start = resumed[0]
    assert isinstance(start, RunStarted) and start.resumed_from_step is not None
    assert start.config["backend"]["checkpoint"] == str(checkpoint.resolve())
    assert isinstance(resumed[-1], RunFinished) and resumed[-1].steps > last.steps


@pytest.mark.torch
def test_local_provider_from_a_config_profile(tmp_path: Path, checkpoint: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.tiny]\nprovider = "local"\ncheckpoint = "{checkpoint}"\n'
                      'model = "tiny-k2"\ntemperature = 0.5\n')
    proc, events = run_cli(["hi", "--provider", "tiny", "--max-steps", "1",
                            "--max-step-tokens", "8", "--tools", "none"], tmp_path, config)
    assert proc.returncode in (0, 1), proc.stderr
    first = events[0]
    assert isinstance(first, RunStarted) and first.model == "tiny-k2"
    assert first.config["backend"] == {
        "provider": "tiny", "model": None, "base_url": None, "api_key_env": None,
        "checkpoint": str(checkpoint.resolve()), "script": None,
        "options": {"temperature": 0.5, "name": "tiny-k2"}}
    assert isinstance(events[-1], RunFinished)
    if events[-1].status != "completed":  # resuming keeps the profile's name and options
        resumed = run_cli(["--resume", first.run_id, "--max-steps", "2"], tmp_path,
                          tmp_path / "gone.toml")[1]
        assert isinstance(resumed[0], RunStarted) and resumed[0].model == "tiny-k2"
        assert resumed[0].config["backend"] == first.config["backend"]
    by_env = run_cli(["hi", "--provider", "local", "--max-steps", "1", "--max-step-tokens",
                      "4", "--tools", "none"], tmp_path,
                     THINKACT_CHECKPOINT=str(checkpoint))[1]
    assert by_env[0].config["backend"]["checkpoint"] == str(checkpoint.resolve())  # type: ignore[union-attr]
    missing = run_cli(["hi", "--provider", "local"], tmp_path)[0]
    assert missing.returncode == 2 and "--checkpoint DIR" in missing.stderr
    wrong = run_cli(["hi", "--provider", "local", "--checkpoint", str(tmp_path)], tmp_path)[0]
    assert wrong.returncode == 2 and "no config.json" in wrong.stderr


def test_mcp_server_tools_run_and_resume_without_the_config(tmp_path: Path) -> None:
    config = time_config(tmp_path / "config.toml")
    script = write_script(tmp_path / "s.json", [
        call("time__convert_time", source_timezone="UTC", time="12:00",
             target_timezone="Asia/Tokyo"),
        {"reasoning": "budget", "content": "partial"},  # the wrap-up turn of the budget stop
        call("time__convert_time", source_timezone="UTC", time="08:30",
             target_timezone="Asia/Kolkata"),  # no DST: same offset all year
        {"reasoning": "done", "content": "12:00 UTC is 21:00 in Tokyo."},
    ])
    proc, events = run_cli(["convert", "--provider", "scripted", "--script", str(script),
                            "--tools", "none", "--max-steps", "1"], tmp_path, config)
    assert proc.returncode == 1, proc.stderr  # stopped by the budget after the tool step
    first = events[0]
    assert isinstance(first, RunStarted)
    assert first.config["tools"]["names"] == []
    assert [s["name"] for s in first.config["tools"]["mcp"]] == ["time"]
    [tokyo] = results(events)
    assert tokyo.ok and '"timezone": "Asia/Tokyo"' in tokyo.content
    assert "T21:00:00+09:00" in tokyo.content
    # The config file no longer lists the server: the resume rebuilds it from the trace.
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    again, resumed = run_cli(["--resume", first.run_id, "--max-steps", "5"], tmp_path, empty)
    assert again.returncode == 0, again.stderr
    assert resumed[0].config["tools"] == first.config["tools"]  # type: ignore[union-attr]
    [kolkata] = results(resumed)
    assert kolkata.ok and "T14:00:00+05:30" in kolkata.content
    off = run_cli(["again", "--provider", "scripted", "--script", str(script), "--tools",
                   "none", "--no-mcp", "--max-steps", "1"], tmp_path, config)[1]
    assert off[0].config["tools"]["names"] == []  # type: ignore[union-attr]
    assert off[0].config["tools"]["mcp"] == []  # type: ignore[union-attr]
    assert results(off)[0].error is not None  # the model asked for a tool it does not have


def test_mcp_selection_and_failures_are_clear(tmp_path: Path) -> None:
    config = time_config(tmp_path / "config.toml")
    script = write_script(tmp_path / "s.json", [{"content": "ok"}])
    base = ["x", "--provider", "scripted", "--script", str(script), "--tools", "none"]
    unknown = run_cli([*base, "--mcp", "weather"], tmp_path, config)[0]
    assert unknown.returncode == 2 and "'weather'" in unknown.stderr and "time" in unknown.stderr
    picked, events = run_cli([*base, "--mcp", "time"], tmp_path, config)
    assert picked.returncode == 0, picked.stderr
    assert events[0].config["tools"]["mcp"][0]["name"] == "time"  # type: ignore[union-attr]
    broken = tmp_path / "broken.toml"
    broken.write_text('[mcp.servers.gone]\ncommand = "/nonexistent/mcp-server"\n')
    failed = run_cli(base, tmp_path, broken)[0]
    assert failed.returncode == 2 and "'gone'" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_ctrl_c_with_an_mcp_server_records_stopped(tmp_path: Path) -> None:
    config = time_config(tmp_path / "config.toml")
    turns = [call("time__convert_time", source_timezone="UTC", time=f"{i // 60:02d}:{i % 60:02d}",
                  target_timezone="Asia/Tokyo") for i in range(300)]  # no repeats: runs on
    script = write_script(tmp_path / "s.json", turns, delay_s=0.02)
    env = clean_env(tmp_path)
    env["THINKACT_CONFIG"] = str(config)
    db = tmp_path / "t.sqlite"
    proc = subprocess.Popen([*CLI, "run", "loop", "--provider", "scripted", "--script",
                             str(script), "--tools", "none", "--json", "--trace-db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for a completed MCP call before interrupting
        if isinstance(EVENT_ADAPTER.validate_json(line), StepFinished):
            break
    servers = children(proc.pid)
    assert servers, "the MCP server should run as a child of the CLI"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    last = EVENT_ADAPTER.validate_json(out.splitlines()[-1])
    assert isinstance(last, RunFinished) and last.status == "stopped"
    assert last.reason == "interrupted"
    assert "Traceback" not in err
    assert not [pid for pid in servers if Path(f"/proc/{pid}").exists()]  # closed, not orphaned


def children(pid: int) -> list[int]:
    """Child process ids from /proc (the MCP stdio server runs in its own session)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def test_shell_with_and_without_the_approval_opt_out(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [call("shell", command="echo hi"),
                                                {"content": "done"}])
    base = ["say hi", "--provider", "scripted", "--script", str(script), "--tools", "none",
            "--shell"]
    proc, events = run_cli([*base, "--yes-shell"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    [echo] = results(events)
    assert echo.ok and "hi" in echo.content.split()
    started = time.monotonic()
    asked, events = run_cli(base, tmp_path, timeout=60)  # nobody can approve: refused
    assert asked.returncode == 0, asked.stderr
    [refused] = results(events)
    assert refused.error == "rejected" and "--yes-shell" in refused.content
    assert time.monotonic() - started < 60
    assert events[0].config["tools"]["shell_approval"] == "ask"  # type: ignore[union-attr]
    off = run_cli(["x", "--provider", "scripted", "--script", str(script), "--yes-shell"],
                  tmp_path)[0]
    assert off.returncode == 2 and "--yes-shell only applies with --shell" in off.stderr


def test_resume_rebuilds_shell_facts_and_builtin_tools(tmp_path: Path) -> None:
    db = tmp_path / "facts.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE city (name TEXT, population INTEGER)")
        conn.execute("INSERT INTO city VALUES ('Lyon', 522250)")
    script = write_script(tmp_path / "s.json", [
        call("facts", sql="SELECT population FROM city WHERE name = 'Lyon'"),
        {"reasoning": "budget", "content": "partial"},
        call("shell", command="echo resumed > out.txt && cat out.txt"),
        {"content": "done"},
    ])
    ws = tmp_path / "ws"
    proc, events = run_cli(["look up", "--provider", "scripted", "--script", str(script),
                            "--tools", "files", "--shell", "--yes-shell", "--facts-db", str(db),
                            "--workspace", str(ws), "--max-steps", "1"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    first = events[0]
    assert isinstance(first, RunStarted)
    assert first.config["tools"]["names"] == ["files", "facts", "shell"]
    assert "522250" in results(events)[0].content
    again, resumed = run_cli(["--resume", first.run_id, "--max-steps", "5"], tmp_path)
    assert again.returncode == 0, again.stderr
    start = resumed[0]
    assert isinstance(start, RunStarted)
    assert start.config["tools"] == first.config["tools"]
    [shell] = results(resumed)
    assert shell.ok and "resumed" in shell.content
    assert (ws / "out.txt").read_text().strip() == "resumed"
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        assert store.run_info(first.run_id)["status"] == "completed"


def test_shell_asks_at_the_terminal_for_every_command(tmp_path: Path) -> None:
    """stdin is a real pseudo-terminal: each command is shown and waits for y/n (+ reason)."""
    import os
    import pty

    script = write_script(tmp_path / "s.json", [call("shell", command="echo first"),
                                                call("shell", command="echo second"),
                                                {"content": "done"}])
    master, slave = pty.openpty()
    try:
        os.write(master, b"y\nn\nnot now\n")  # buffered by the terminal until asked
        proc = subprocess.run(
            [*CLI, "run", "x", "--provider", "scripted", "--script", str(script), "--tools",
             "none", "--shell", "--json", "--trace-db", str(tmp_path / "t.sqlite")],
            stdin=slave, capture_output=True, text=True, timeout=60, env=clean_env(tmp_path))
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    events = [EVENT_ADAPTER.validate_json(line) for line in proc.stdout.splitlines()]
    first, second = results(events)
    assert first.ok and "stdout:\nfirst\n" in first.content
    assert second.error == "rejected" and "not now" in second.content
    assert "stdout" not in second.content  # refused: never ran
    assert proc.stderr.count("Approve tool call") == 2
    assert "$ echo first" in proc.stderr and "$ echo second" in proc.stderr


async def test_prompt_pauses_the_live_view_once_for_overlapping_questions() -> None:
    import asyncio

    from thinkact.cli.setup import PausingPrompt
    from thinkact.messages import ToolCall

    log: list[str] = []

    class View:
        def __enter__(self) -> None:
            log.append("resume")

        def __exit__(self, *exc: object) -> None:
            log.append("pause")

    async def slow_yes(c: ToolCall) -> tuple[bool, str]:
        log.append(f"ask {c.id}")
        await asyncio.sleep(0.01)
        return True, "ok"

    prompt = PausingPrompt(slow_yes)
    prompt.view = View()
    calls = [ToolCall(id=str(i), name="shell", arguments="{}") for i in range(2)]
    answers = await asyncio.gather(*(prompt(c) for c in calls))
    assert answers == [(True, "ok"), (True, "ok")]
    assert log == ["pause", "ask 0", "ask 1", "resume"]


def test_a_failing_run_still_closes_its_mcp_server(tmp_path: Path) -> None:
    config = time_config(tmp_path / "config.toml")
    script = write_script(tmp_path / "s.json", [  # one turn: the second model call fails
        call("time__convert_time", source_timezone="UTC", time="01:00",
             target_timezone="Asia/Tokyo")], delay_s=0.3)  # slow first turn: time to look
    env = clean_env(tmp_path) | {"THINKACT_CONFIG": str(config)}
    proc = subprocess.Popen([*CLI, "run", "x", "--provider", "scripted", "--script", str(script),
                             "--tools", "none", "--json", "--trace-db",
                             str(tmp_path / "t.sqlite")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if isinstance(EVENT_ADAPTER.validate_json(line), RunStarted):
            break  # servers are connected before the run starts
    servers = children(proc.pid)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    last = EVENT_ADAPTER.validate_json((lines + out.splitlines())[-1])
    assert isinstance(last, RunFinished) and last.status == "failed"
    assert servers and not [pid for pid in servers if Path(f"/proc/{pid}").exists()]
