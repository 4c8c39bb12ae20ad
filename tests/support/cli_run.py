"""Run the real ``thinkact`` CLI as a subprocess, isolated from the user's config and data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support.k2_server import K2Server, _Handler
from thinkact.events import EVENT_ADAPTER, Event
from thinkact.traces import SQLiteTraceStore

CLI = [sys.executable, "-m", "thinkact.cli.main"]


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("THINKACT_") and not k.endswith("_API_KEY")}
    env.update(THINKACT_HOME=str(home / "data"), THINKACT_CONFIG=str(home / "none.toml"),
               PYTHONUNBUFFERED="1", COLUMNS="120")
    return env


def thinkact(args: list[str], home: Path, timeout: float = 60,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(home))


def run_cli(args: list[str], home: Path, config: Path | None = None, timeout: float = 120,
            **extra_env: str) -> tuple[subprocess.CompletedProcess[str], list[Event]]:
    """``thinkact run ARGS --json`` with stdin from /dev/null (no terminal can approve
    anything, even when pytest has one), its trace in ``home``; (process, parsed events)."""
    env = clean_env(home) | extra_env
    if config is not None:
        env["THINKACT_CONFIG"] = str(config)
    proc = subprocess.run([*CLI, "run", *args, "--json", "--trace-db", str(home / "t.sqlite")],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    events = [EVENT_ADAPTER.validate_json(line) for line in proc.stdout.splitlines()]
    return proc, events


def popen(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env(home))


def write_script(path: Path, turns: list[dict[str, Any]], delay_s: float = 0.0) -> Path:
    path.write_text(json.dumps({"turns": turns, "delay_s": delay_s}))
    return path


def files_turns(n_tool_steps: int, answer: str = "Wrote the files.") -> list[dict[str, Any]]:
    """``n_tool_steps`` turns that each write a file, then the answer."""
    turns: list[dict[str, Any]] = [
        {"reasoning": f"Step {i + 1}: write file {i}.\nIt must exist.",
         "content": f"writing f{i}",
         "tool_calls": [{"name": "files", "arguments": {"action": "write", "path": f"f{i}.txt",
                                                        "content": f"item {i}"}}]}
        for i in range(n_tool_steps)]
    turns.append({"reasoning": "All written.", "content": answer})
    return turns


@contextmanager
def serve_model(args: list[str], env: dict[str, str], command: str = "serve-model"
                ) -> Iterator[str]:
    """``thinkact serve-model ARGS`` (or ``command``, e.g. ``serve``) on a free loopback
    port; yields its base URL once ``/v1/models`` answers, and stops the server on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([*CLI, command, *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**env, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{command} did not come up"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class _SlowHandler(_Handler):
    """Streams each SSE chunk after a pause, so a kill lands inside a model call."""

    def _send_chunk(self, data: bytes) -> None:
        time.sleep(0.02)
        super()._send_chunk(data)


def slowed(server: K2Server) -> K2Server:
    """``server``, streaming slowly (see _SlowHandler)."""
    server._httpd.RequestHandlerClass = _SlowHandler
    return server


def wait_for(pred: Any, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def kill_when(proc: subprocess.Popen[str], reader: SQLiteTraceStore, step: int) -> None:
    """SIGKILL the run once some run's ``step`` is streaming reasoning (deltas recorded, its
    assistant message not yet)."""

    def streaming() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        rows = reader.query("SELECT run_id, type FROM events WHERE step = ? AND "
                            "superseded = 0", (step,))
        by_run: dict[object, set[object]] = {}
        for run_id, kind in rows:
            by_run.setdefault(run_id, set()).add(kind)
        return any("reasoning_delta" in kinds and "assistant_message" not in kinds
                   for kinds in by_run.values())

    sigkill_when(proc, streaming)


def sigkill_when(proc: subprocess.Popen[str], condition: Any) -> None:
    """SIGKILL ``proc`` once ``condition()`` holds (polled), and reap it."""
    try:
        wait_for(condition)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
