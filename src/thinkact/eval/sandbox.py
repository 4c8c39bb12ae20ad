"""Run untrusted Python (a model's code plus hidden tests) in a separate process with limits.

The one place code under test runs: a fresh ``python -I`` in an empty temporary folder, its
own session (the whole process group is killed at the timeout), no secrets in its
environment, and resource limits on address space, CPU seconds, file size and processes.
It is confinement by limits, not isolation: the process can still read the filesystem.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from thinkact.tools.subprocess_env import child_env, kill_group


@dataclass
class Outcome:
    passed: bool  # exit status 0 within the time
    timed_out: bool
    output: str  # the last part of stdout and stderr


def _limits(memory_mb: int, cpu_s: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_python(code: str, timeout_s: float = 10.0, memory_mb: int = 1024) -> Outcome:
    """Run ``code``; passed when it exits 0 before ``timeout_s``. Output goes to a file, not
    a pipe, so a child it leaves behind cannot hold the result back."""
    cpu = max(1, int(timeout_s) + 1)
    with tempfile.TemporaryDirectory(prefix="thinkact-sandbox-") as tmp, \
            tempfile.TemporaryFile() as out:
        env = {k: v for k, v in child_env().items() if not k.startswith("PYTHON")}
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: _limits(memory_mb, cpu))  # limits are set in the child
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(proc.pid)  # it, and anything it left running in its group
            proc.wait()
        out.seek(0)
        text = _tail(out.read())
    return Outcome(proc.returncode == 0, timed_out, text)


def _tail(data: bytes | None, limit: int = 2000) -> str:
    text = (data or b"").decode("utf-8", errors="replace")
    return text[-limit:]


__all__ = ["Outcome", "run_python"]
