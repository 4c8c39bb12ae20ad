"""Sync tool functions: daemon threads that a hang cannot pin, and killable child processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from support.sync_tools import (
    block,
    divide,
    exit_hard,
    fork_and_return,
    hang,
    pid_and_sum,
    refuse,
    spawn_and_return,
    stop_iteration,
    system_exit,
)
from thinkact.messages import ToolCall
from thinkact.tools import ToolContext, Toolset, tool

CTX = ToolContext(run_id="run-7")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def call(name: str, arguments: str = "{}") -> ToolCall:
    return ToolCall(id="c1", name=name, arguments=arguments)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_hung_sync_tools_neither_starve_the_others_nor_stay_joined() -> None:
    """More hung calls than the default executor has workers: later tools and to_thread
    users still run, and no stuck worker belongs to the loop's executor."""
    ts = Toolset([block], timeout_s=0.2)
    stuck = await ts.call_many([call("block", '{"seconds": 30}')] * 12, CTX)
    assert {r.error for r in stuck} == {"timeout"}
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 10) == "free"
    quick = await ts.call(call("block", '{"seconds": 0}'), CTX)
    assert (quick.error, quick.content) == (None, "woke")
    tool_threads = [t for t in threading.enumerate() if t.name == "tool:block"]
    assert len(tool_threads) >= 12 and all(t.daemon for t in tool_threads)


def test_a_process_with_a_hung_sync_tool_still_exits(tmp_path: Path) -> None:
    """asyncio.run joins its executor's threads: a hung to_thread tool kept the CLI alive."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import asyncio, time
        from thinkact.messages import ToolCall
        from thinkact.tools import ToolContext, Toolset, tool

        @tool
        def stuck() -> str:
            '''Never returns.'''
            time.sleep(3600)
            return "never"

        async def main() -> None:
            r = await Toolset([stuck], timeout_s=0.5).call(
                ToolCall(id="1", name="stuck", arguments="{}"), ToolContext())
            print(r.error)

        asyncio.run(main())
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    assert (done.returncode, done.stdout.strip()) == (0, "timeout"), done.stderr


async def test_isolated_tool_runs_in_a_child_and_returns_its_result() -> None:
    ts = Toolset([pid_and_sum])
    r = await ts.call(call("pid_and_sum", '{"numbers": [1, 2, 39]}'), CTX)
    assert r.error is None, r.content
    pid, total, run_id = r.content.split()
    assert (total, run_id) == ("42", "run-7") and int(pid) != os.getpid()


async def test_isolated_errors_come_back_as_values() -> None:
    ts = Toolset([refuse, divide, exit_hard])
    refused = await ts.call(call("refuse", '{"why": "no"}'), CTX)
    assert (refused.error, refused.content) == ("exception", "error: refused: no")
    crashed = await ts.call(call("divide", '{"a": 1, "b": 0}'), CTX)
    assert crashed.error == "exception"
    assert "divide raised ZeroDivisionError" in crashed.content and "a // b" in crashed.content
    died = await ts.call(call("exit_hard"), CTX)
    assert died.error == "exception" and "exited with code 3 without a result" in died.content


async def test_isolated_tool_is_killed_with_its_children_on_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    ts = Toolset([hang], timeout_s=5)
    r = await ts.call(call("hang", json.dumps({"pid_file": str(pid_file)})), CTX)
    assert r.error == "timeout"
    child, grandchild = map(int, pid_file.read_text().split())
    for _ in range(100):  # the grandchild is reaped by init once killed
        if gone(child) and gone(grandchild):
            break
        await asyncio.sleep(0.05)
    assert gone(child) and gone(grandchild)


async def test_isolated_tool_is_killed_when_the_call_is_cancelled(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    task = asyncio.ensure_future(hang.call({"pid_file": str(pid_file)}, CTX))
    for _ in range(400):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child, _ = map(int, pid_file.read_text().split())
    assert gone(child)


SCRIPT = '''
import asyncio, enum, os
from thinkact.messages import ToolCall
from thinkact.tools import ToolContext, Toolset, tool

class Color(enum.Enum):
    RED = "red"

class Paint:
    def __init__(self, color: Color) -> None:
        self.color = color
    def __str__(self) -> str:
        return f"paint {self.color.value}"

@tool(isolate=True)
def where(color: Color) -> Paint:
    """Which process runs this, with the script's own classes both ways."""
    print(os.getpid(), __name__, flush=True)
    return Paint(color)

def main() -> None:
    r = asyncio.run(Toolset([where]).call(
        ToolCall(id="1", name="where", arguments='{"color": "red"}'), ToolContext()))
    print(os.getpid(), r.error, r.content)

GUARD
'''


def test_isolated_tool_defined_in_a_script(tmp_path: Path) -> None:
    """A function of the ``__main__`` script runs in a child that loads the script as
    ``__mp_main__`` (multiprocessing's convention): the script's classes travel both ways.
    Without the ``__main__`` guard the child runs the script's agent again; its isolated
    calls are refused there, with advice, instead of recursing."""
    script = tmp_path / "agent_script.py"
    script.write_text(SCRIPT.replace("GUARD", 'if __name__ == "__main__":\n    main()'))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    parent, error, *answer = done.stdout.split()
    assert (error, answer) == ("None", ["paint", "red"]), done.stderr
    child, name = done.stderr.split()[:2]  # the tool's print, forwarded to our stderr
    assert name == "__mp_main__" and child != parent
    script.write_text(SCRIPT.replace("GUARD", "main()"))
    unguarded = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    # the child re-ran main(): its own call was refused with the advice, on stderr
    assert "guard its top level" in unguarded.stderr


async def returns_then_reaps(tool: Any, answer: str, tmp_path: Path) -> None:
    """``tool`` starts a helper process (pid written to a file) and returns ``answer``: the
    result comes back well before the timeout, and the helper is gone afterwards."""
    pid_file = tmp_path / "pid"
    r = await Toolset([tool], timeout_s=30).call(
        call(tool.spec.name, json.dumps({"pid_file": str(pid_file)})), CTX)
    assert (r.error, r.content) == (None, answer) and r.duration_s < 20
    helper = int(pid_file.read_text())
    for _ in range(100):
        if gone(helper):
            break
        await asyncio.sleep(0.05)
    assert gone(helper)  # in the call's process group: killed with it


async def test_an_isolated_call_ends_with_everything_it_started(tmp_path: Path) -> None:
    """A grandchild that holds the pipes neither delays the result nor outlives the call."""
    await returns_then_reaps(spawn_and_return, "started", tmp_path)


async def test_stop_iteration_and_system_exit_are_tool_errors() -> None:
    ts = Toolset([stop_iteration, system_exit], timeout_s=10)
    stopped = await ts.call(call("stop_iteration"), CTX)
    exited = await ts.call(call("system_exit"), CTX)
    assert stopped.error == "exception" and "stop_iteration raised StopIteration" in (
        stopped.content)
    assert exited.error == "exception" and "system_exit raised SystemExit: 3" in exited.content


def test_isolate_refuses_what_it_cannot_run() -> None:
    async def coro() -> str:
        """Async."""
        return "x"

    with pytest.raises(ValueError, match="isolate=True runs sync functions"):
        tool(coro, isolate=True)

    def local() -> str:
        """Defined inside a function."""
        return "x"

    r = asyncio.run(Toolset([tool(local, isolate=True)]).call(call("local"), CTX))
    assert r.error == "exception" and "needs a module-level function" in r.content


async def test_a_forked_helper_does_not_hold_back_the_result(tmp_path: Path) -> None:
    """A forked helper keeps even the reply pipe open: the reply is length-prefixed."""
    await returns_then_reaps(fork_and_return, "done", tmp_path)


def test_isolated_tool_of_a_module_run_with_dash_m(tmp_path: Path) -> None:
    """``python -m pkg.script``: the child imports the module by name, so its relative
    imports work."""
    pkg = tmp_path / "mpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("WORD = 'hello'\n")
    (pkg / "agent_script.py").write_text(textwrap.dedent("""
        import asyncio
        from thinkact.messages import ToolCall
        from thinkact.tools import ToolContext, Toolset, tool
        from .helper import WORD

        @tool(isolate=True)
        def greet(name: str) -> str:
            '''Greets.'''
            return f"{WORD} {name}"

        if __name__ == "__main__":
            r = asyncio.run(Toolset([greet]).call(
                ToolCall(id="1", name="greet", arguments='{"name": "ada"}'), ToolContext()))
            print(r.error, r.content)
    """))
    done = subprocess.run([sys.executable, "-m", "mpkg.agent_script"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": SRC})
    assert done.stdout.split() == ["None", "hello", "ada"], done.stderr
