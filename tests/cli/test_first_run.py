"""What a new user meets first: the version, a mistyped --base-url, a small server's window."""

from __future__ import annotations

import socket
from pathlib import Path

from support.cli_run import run_cli, thinkact
from support.k2_server import K2Server, ToolLoop
from thinkact import __version__
from thinkact.events import RunError, RunFinished


def test_version(tmp_path: Path) -> None:
    done = thinkact(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"thinkact {__version__}"


def test_a_refused_base_url_fails_at_once_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc, events = run_cli(["hello", "--base-url", f"http://127.0.0.1:{port}/v1", "--model",
                            "m", "--tools", "none"], tmp_path)
    assert proc.returncode != 0
    errors = [e for e in events if isinstance(e, RunError)]
    assert errors and f"cannot reach http://127.0.0.1:{port}/v1" in errors[0].message
    assert "--base-url" in errors[0].message
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.status == "failed"
    retries = [e for e in events if e.type == "retry"]
    assert len(retries) == 2 and all(r.delay_s <= 1.0 for r in retries)  # type: ignore[union-attr]


def test_context_window_flag_sizes_every_request(tmp_path: Path) -> None:
    with K2Server(ToolLoop(2), context_window=3000) as server:  # says nothing of its window
        proc, events = run_cli(["go", "--base-url", server.base_url, "--model", "k2",
                                "--tools", "none", "--context-window", "3000"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert server.context_rejections == 0 and server.max_request_tokens <= 3000
    assert events[-1].status == "completed"  # type: ignore[union-attr]


def test_shell_without_a_terminal_warns_before_the_run(tmp_path: Path) -> None:
    from support.cli_run import files_turns, write_script

    script = write_script(tmp_path / "s.json", files_turns(0))
    proc, _ = run_cli(["hi", "--provider", "scripted", "--script", str(script),
                       "--tools", "none", "--shell"], tmp_path)  # stdin: /dev/null
    assert proc.returncode == 0, proc.stderr
    assert "warning: --shell: shell commands need approval, but no terminal" in proc.stderr
    assert "--yes-shell" in proc.stderr
