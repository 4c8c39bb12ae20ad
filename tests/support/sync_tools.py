"""Module-level sync tools for the sync-call tests (isolated ones are looked up by name in
their child process, so they cannot live inside a test function)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from thinkact.tools import ToolContext, ToolError, tool


@tool(isolate=True)
def pid_and_sum(numbers: list[int], ctx: ToolContext) -> str:
    """The child's pid and the sum; prints on stdout, which must not spoil the result."""
    print("chatter on stdout")
    return f"{os.getpid()} {sum(numbers)} {ctx.run_id}"


@tool(isolate=True)
def refuse(why: str) -> str:
    """Raises ToolError (shown to the model as is)."""
    raise ToolError(f"refused: {why}")


@tool(isolate=True)
def divide(a: int, b: int) -> str:
    """Raises ZeroDivisionError for b = 0."""
    return str(a // b)


@tool(isolate=True)
def hang(pid_file: str) -> str:
    """Starts a grandchild, records both pids, then hangs."""
    grandchild = subprocess.Popen(["sleep", "600"])
    Path(pid_file).write_text(f"{os.getpid()} {grandchild.pid}")
    time.sleep(600)
    return "never"


@tool(isolate=True)
def exit_hard() -> str:
    """Dies without a result."""
    os._exit(3)


@tool
def block(seconds: float) -> str:
    """A sync tool stuck in a blocking call (a thread: cannot be stopped)."""
    time.sleep(seconds)
    return "woke"


@tool(isolate=True)
def spawn_and_return(pid_file: str) -> str:
    """Starts a grandchild that would outlive the call, and returns at once."""
    grandchild = subprocess.Popen(["sleep", "600"])
    Path(pid_file).write_text(str(grandchild.pid))
    return "started"


@tool
def stop_iteration() -> str:
    """Raises StopIteration (a future refuses it as an exception)."""
    raise StopIteration("empty")


@tool
def system_exit() -> str:
    """Calls sys.exit (must not end the run)."""
    raise SystemExit(3)


@tool(isolate=True)
def fork_and_return(pid_file: str) -> str:
    """Forks a helper that keeps every inherited descriptor (the reply pipe included)."""
    pid = os.fork()
    if pid == 0:  # the helper: sleeps, holding the child's descriptors
        time.sleep(600)
        os._exit(0)
    Path(pid_file).write_text(str(pid))
    return "done"
