"""The bubblewrap jail itself, with real bwrap: what it shows, what it bounds, what it refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from thinkact.sandbox import INSTALL_HINT, Jail, SandboxUnavailable, check_available
from thinkact.sandbox.jail import _python_paths
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.python_tool import PythonTool
from thinkact.tools.builtin.shell import ShellTool


def jailed(jail: Jail, code: str) -> subprocess.CompletedProcess[str]:
    jail.prepare()
    return subprocess.run(jail.command([sys.executable, "-c", code]), env=jail.env(),
                          capture_output=True, text=True, timeout=60)


def test_only_the_workspace_is_writable_and_the_host_is_hidden(tmp_path: Path) -> None:
    secret = tmp_path / "other-run" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text("another run's data")
    ws = tmp_path / "ws"
    home = Path.home().resolve()
    code = (f"import os\nh = {str(home)!r}\nprint(os.listdir(h) if os.path.isdir(h) else [])\n"
            f"print(os.path.exists({str(secret)!r}))\n"
            "open('here.txt', 'w').write('ok')\n"
            "for p in ('/etc/x', '/usr/x', '/x'):\n"
            "    try:\n        open(p, 'w')\n        print('wrote', p)\n"
            "    except OSError as e:\n        print('refused', p, e.errno)\n"
            "print(os.getuid() != 0, len([d for d in os.listdir('/proc') if d.isdigit()]) < 5)")
    done = jailed(Jail(ws), code)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # Of the home directory only the way to the interpreter's own folders shows (pyenv...).
    shown = set(eval(lines[0]))
    leads = {p.relative_to(home).parts[0] for p in _python_paths() if p.is_relative_to(home)}
    assert shown <= leads, shown - leads
    assert lines[1] == "False"  # a sibling of the workspace is not there
    assert all(line.startswith("refused") for line in lines[2:5]), lines
    assert lines[5] == "True True"  # not root; a private /proc with only the jail's processes
    assert (ws / "here.txt").read_text() == "ok"


def test_limits_cannot_be_raised_from_inside(tmp_path: Path) -> None:
    code = ("import resource\nfor kind in (resource.RLIMIT_AS, resource.RLIMIT_NPROC):\n"
            "    try:\n        resource.setrlimit(kind, (resource.RLIM_INFINITY,) * 2)\n"
            "        print('raised')\n    except ValueError:\n        print('refused')")
    done = jailed(Jail(tmp_path / "ws", memory_limit_bytes=1 << 30), code)
    assert done.stdout.split() == ["refused", "refused"], done.stderr


def test_fork_bomb_stops_at_the_process_limit(tmp_path: Path) -> None:
    code = ("import os, time\nn = 0\ntry:\n    while n < 2000:\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print('stopped', n, e.errno)\n")
    done = jailed(Jail(tmp_path / "ws", max_processes=64), code)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "stopped" and int(words[1]) < 64 and words[2] == "11"  # EAGAIN


def test_missing_bwrap_is_refused_with_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    check_available.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
            check_available()
        assert "--unsafe-python" in INSTALL_HINT
    finally:
        check_available.cache_clear()


async def test_tools_refuse_to_run_unjailed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    check_available.cache_clear()
    ctx = ToolContext(run_id="r", workspace=tmp_path / "ws")
    try:
        with pytest.raises(ToolError, match=r"cannot run: bwrap .*not installed"):
            await PythonTool().call({"code": "1"}, ctx)
        with pytest.raises(ToolError, match=r"cannot run: bwrap .*not installed"):
            await ShellTool(require_approval=False).call({"command": "id"}, ctx)
    finally:
        check_available.cache_clear()
    monkeypatch.setenv("PATH", os.defpath)
    out = await ShellTool(require_approval=False, unsafe=True).call(
        {"command": "echo unconfined"}, ctx)  # only when asked for explicitly
    assert "unconfined" in out


async def test_a_file_the_files_tool_writes_stays_writable_from_the_jail(tmp_path: Path) -> None:
    from thinkact.tools.builtin.files import FilesTool

    jail = Jail(tmp_path / "ws")
    jail.prepare()
    await FilesTool(workspace=jail.workspace).call(
        {"action": "write", "path": "sub/notes.txt", "content": "from files\n"},
        ToolContext(run_id="r", workspace=jail.workspace))
    done = jailed(jail, "open('sub/notes.txt', 'a').write('from the jail\\n')")
    assert done.returncode == 0, done.stderr
    assert (jail.workspace / "sub" / "notes.txt").read_text() == "from files\nfrom the jail\n"


def test_multiprocessing_works_inside(tmp_path: Path) -> None:
    code = ("import multiprocessing as mp\nwith mp.Pool(2) as pool:\n"
            "    print(pool.map(abs, [-1, -2]))")
    done = jailed(Jail(tmp_path / "ws"), code)
    assert done.returncode == 0 and done.stdout.strip() == "[1, 2]", done.stderr


def test_network_only_when_allowed(tmp_path: Path) -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', "
                f"{server.getsockname()[1]}), timeout=5)\n    print('connected')\n"
                "except OSError as e:\n    print('refused', e.errno)")
        closed = jailed(Jail(tmp_path / "a"), code)
        opened = jailed(Jail(tmp_path / "b", network=True), code)
    assert closed.stdout.startswith("refused"), closed.stderr
    assert opened.stdout.strip() == "connected", opened.stderr


def test_a_workspace_holding_the_interpreter_or_home_is_refused(tmp_path: Path) -> None:
    from thinkact.sandbox.jail import _python_paths, check_workspace

    for folder in (_python_paths()[0].parent, Path.home(), Path("/"), Path("/usr"),
                   Path("/etc/cron.d"), Path("/usr/local/bin"), Path("/var/lib/x"),
                   Path("/opt/tool"), Path.home() / ".ssh", Path.home() / ".config" / "x"):
        with pytest.raises(SandboxUnavailable, match="cannot be a jailed workspace"):
            check_workspace(folder)
    check_workspace(tmp_path / "ws")  # a folder of its own is fine
    check_workspace(Path.home() / "project")
    check_workspace(Path("/tmp/ws"))
