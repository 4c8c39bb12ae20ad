"""Escape attempts through the agent loop: a scripted model sends each attack as a tool call,
the jail refuses or contains it, and the run goes on to its answer with results it can read.

One run per tool (python, shell), one attack per step, so the kernel start is paid once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.jailed import wait_jail_empty
from thinkact.agent import Agent
from thinkact.backends import ScriptedBackend
from thinkact.messages import Message, ToolCall
from thinkact.tools.approval import CallbackApprover
from thinkact.tools.builtin.python_tool import PythonTool
from thinkact.tools.builtin.shell import ShellTool
from thinkact.untrusted import is_marked

KEY_VAR, KEY = "ESCAPE_TEST_LLM", "sk-escape-test-0123456789"  # not secret-looking by name
LIMIT = 64
REFUSED = ("PermissionError", "Read-only file system", "FileNotFoundError")


@dataclass
class Host:
    """What an attacker wants from the host, set up by the test."""

    ws: Path
    secret: Path
    ssh_key: Path
    outside: Path  # a host folder the jail must not write to
    port: int
    accepted: list[int]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE KEY-----\n")
    secret = tmp_path / "other-run" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("another run's secret")
    monkeypatch.setenv(KEY_VAR, KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    accepted: list[int] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                accepted.append(1)
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield Host(tmp_path / "ws", secret, home / ".ssh" / "id_rsa", secret.parent,
                   server.getsockname()[1], accepted)
        stop.set()
        thread.join(5)


def script(calls: Sequence[tuple[str, dict[str, str]]]) -> ScriptedBackend:
    """One tool call per turn, then an answer that quotes how many results came back."""

    def policy(messages: Sequence[Message]) -> Message:
        done = sum(1 for m in messages if m.role == "tool")
        if done < len(calls):
            name, args = calls[done]
            return Message(role="assistant", reasoning=f"attack {done}", tool_calls=[
                ToolCall(id=f"functions.{name}:{done}", name=name, arguments=json.dumps(args))])
        return Message(role="assistant", content=f"{done} results read")

    return ScriptedBackend(policy)


async def run_attacks(tools: list[object], calls: Sequence[tuple[str, dict[str, str]]],
                      ws: Path) -> list[str]:
    async with Agent(script(calls), tools=tools, workspace=ws) as agent:
        result = await agent.arun("Try to get out.")
    assert result.status == "completed", result.reason
    assert result.answer == f"{len(calls)} results read"  # the run went on to the end
    outs = [m.content or "" for m in result.messages if m.role == "tool"]
    assert len(outs) == len(calls)
    assert all(is_marked(o) for o in outs if "<untrusted" in o)  # enveloped as data
    return outs


def refuse_id(call: ToolCall) -> tuple[bool, str]:
    return ("id" not in call.arguments, "no id for you")


def py(code: str) -> tuple[str, dict[str, str]]:
    return "python", {"code": code}


def sh(command: str) -> tuple[str, dict[str, str]]:
    return "shell", {"command": command}


def assert_host_untouched(h: Host) -> None:
    assert sorted(p.name for p in h.outside.iterdir()) == ["secret.txt"]
    assert not Path("/pwned").exists() and not Path("/tmp/pwned-escape-test").exists()
    assert h.accepted == []  # no connection ever reached the host's port
    assert wait_jail_empty(h.ws) == []  # nothing jailed outlived the run


async def test_python_escapes_are_refused_or_contained(host: Host) -> None:
    h = host
    calls = [
        py(f"print(open({str(h.secret)!r}).read())"),
        py(f"print(open({str(h.ssh_key)!r}).read())"),
        py("print(open('/etc/passwd').read())"),
        py(f"open({str(h.outside / 'pwned')!r}, 'w').write('x')"),
        py("import os\nos.chdir('/')\nopen('pwned', 'w').write('x')"),
        py("open('/tmp/pwned-escape-test', 'w').write('x')\nprint('private tmp')"),
        py(f"import socket\nsocket.create_connection(('127.0.0.1', {h.port}), timeout=3)"),
        py("import os, time\nn = 0\ntry:\n    while n < 1000:\n        if os.fork() == 0:\n"
           "            time.sleep(1)\n            os._exit(0)\n        n += 1\n"
           "except OSError as e:\n    print('fork refused after', n, 'errno', e.errno)\n"
           "for _ in range(n):\n    os.wait()"),
        sh("id"),
        py("import subprocess\nprint(subprocess.run(['sh', '-c', 'id -u; uname -n; touch "
           f"{h.outside}/pwned-by-sh'], capture_output=True, text=True))"),
        py("import os\nprint(sorted(os.environ))\nprint(os.environ.get("
           f"{KEY_VAR!r}), os.environ.get('OPENAI_API_KEY'))"),
        py(f"import os\nfor pid in (os.getppid(), 1, {os.getpid()}):\n    try:\n"
           "        os.kill(pid, 9)\n        print('sent', pid)\n"
           "    except OSError as e:\n        print('refused', pid, e.errno)"),
        py("import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\n"
           "print('orphan started')"),
        py("print('still here')"),
    ]
    tools = [PythonTool(max_processes=LIMIT),
             ShellTool(approver=CallbackApprover(refuse_id))]
    outs = await run_attacks(tools, calls, h.ws)
    for i in (0, 1, 2):
        assert "FileNotFoundError" in outs[i], outs[i]
    assert "FAKE KEY" not in "".join(outs) and "another run" not in "".join(outs)
    for i in (3, 4):
        assert any(why in outs[i] for why in REFUSED), outs[i]
    assert "private tmp" in outs[5]
    assert "ConnectionRefusedError" in outs[6] or "unreachable" in outs[6], outs[6]
    fork = re.search(r"fork refused after (\d+) errno (\d+)", outs[7])
    assert fork and int(fork[1]) < LIMIT and fork[2] == "11", outs[7]  # EAGAIN
    assert "no id for you" in outs[8]
    # python's own `sh -c` runs, but in the same jail: not root, no host name, no host files
    assert "\\nsandbox\\n" in outs[9] and "returncode=1" in outs[9], outs[9]
    if os.geteuid() == 0:
        assert "stdout='0\\n" not in outs[9]
    assert KEY not in "".join(outs) and KEY_VAR not in outs[10]
    assert "None None" in outs[10]
    assert f"refused {os.getpid()} 3" in outs[11]  # ESRCH: the host's pids do not exist there
    assert "still here" in outs[13]
    assert_host_untouched(h)


async def test_shell_escapes_are_refused_or_contained(host: Host) -> None:
    h = host
    bomb = ("import os, time\nn = 0\ntry:\n    while n < 1000:\n        if os.fork() == 0:\n"
            "            time.sleep(1)\n            os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print('fork refused after', n, 'errno', e.errno)\n")
    (h.ws).mkdir(parents=True)
    (h.ws / "bomb.py").write_text(bomb)
    calls = [
        sh(f"cat {h.secret} {h.ssh_key} /etc/passwd"),
        sh(f"echo x > {h.outside}/pwned; cd / && echo x > pwned; echo x > /tmp/pwned-escape-test"
           " && echo private tmp"),
        sh(f"exec 3<>/dev/tcp/127.0.0.1/{h.port} && echo connected"),
        sh(f"{sys.executable} bomb.py"),
        sh("sh -c 'id -u; uname -n'"),
        sh(f"env; echo key=${KEY_VAR}"),
        sh(f"kill -9 $PPID 1 {os.getpid()}; echo after kill"),
        sh("setsid sleep 300 > /dev/null 2>&1 & echo orphan started"),
        sh("echo still here"),
    ]
    tools = [ShellTool(approver=CallbackApprover(lambda c: True), max_processes=LIMIT)]
    outs = await run_attacks(tools, calls, h.ws)
    assert outs[0].count("No such file or directory") == 3, outs[0]
    assert "FAKE KEY" not in "".join(outs) and "another run" not in "".join(outs)
    assert sum(outs[1].count(why) for why in ("ermission denied", "Read-only",
                                               "No such file")) == 2, outs[1]
    assert "private tmp" in outs[1]
    assert "connected" not in outs[2] and "exit code: 1" in outs[2], outs[2]
    fork = re.search(r"fork refused after (\d+) errno (\d+)", outs[3])
    assert fork and int(fork[1]) < LIMIT and fork[2] == "11", outs[3]
    assert "sandbox" in outs[4]
    if os.geteuid() == 0:
        assert "stdout:\n0\n" not in outs[4]
    assert KEY not in "".join(outs) and KEY_VAR not in outs[5]
    assert "after kill" in outs[6]
    assert "still here" in outs[8]
    assert_host_untouched(h)
