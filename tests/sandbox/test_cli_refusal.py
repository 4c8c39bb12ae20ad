"""``thinkact run`` where bwrap cannot start: refused with how to install it, unless the user
passes --unsafe-python, which the trace records and the live view shows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support.cli_run import CLI, clean_env, write_script
from thinkact.traces import SQLiteTraceStore


def test_no_bwrap_refuses_then_unsafe_python_runs_recorded_and_shown(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [
        {"reasoning": "Compute.", "tool_calls": [{"name": "python",
                                                   "arguments": {"code": "print(6 * 7)"}}]},
        {"reasoning": "Done.", "content": "42"}])
    (tmp_path / "bin").mkdir()
    env = clean_env(tmp_path) | {"PATH": str(tmp_path / "bin")}  # no bwrap on it
    db = tmp_path / "t.sqlite"
    args = [*CLI, "run", "Compute.", "--provider", "scripted", "--script", str(script),
            "--tools", "python", "--workspace", str(tmp_path / "ws"), "--trace-db", str(db)]
    refused = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode == 2
    assert "apt-get install bubblewrap" in refused.stderr and "--unsafe-python" in refused.stderr
    ran = subprocess.run([*args, "--unsafe-python"], capture_output=True, text=True, env=env,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    assert "UNCONFINED" in ran.stdout
    store = SQLiteTraceStore(db)
    try:
        run = store.list_runs()[0].run_id
        assert store.load_state(run).config["tools"]["unsafe_python"] is True
    finally:
        store.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives its workspace to the jail")
def test_a_workspace_holding_home_is_refused_as_root(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    script = write_script(tmp_path / "s.json", [{"reasoning": "Done.", "content": "ok"}])
    env = clean_env(tmp_path) | {"HOME": str(home)}  # a harmless stand-in for a real home
    done = subprocess.run([*CLI, "run", "x", "--provider", "scripted", "--script", str(script),
                           "--tools", "python", "--workspace", str(tmp_path), "--trace-db",
                           str(tmp_path / "t.sqlite")], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "cannot be a jailed workspace" in done.stderr, done.stderr
    assert tmp_path.stat().st_uid == 0  # nothing was given away
