"""Run untrusted Python (a model's code plus hidden tests) in a separate process with limits.

The one place an eval runs code under test: a fresh ``python -I`` in an empty temporary
folder, in the bubblewrap jail of ``thinkact.sandbox`` (no network, the system read-only,
no secrets, its own uid as root). Where no jail can start it refuses, as the python tool
does, unless the eval was started with ``--unsafe-python``: then a plain child process with
no secrets in its environment. Either way: its own session (the whole process group is
killed at the timeout or when it exits) and limits on memory, CPU seconds, file size and
processes.
"""

from __future__ import annotations

import functools
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from thinkact.tools.subprocess_env import child_env, kill_group


@dataclass
class Outcome:
    passed: bool  # exit status 0 within the time
    timed_out: bool
    output: str  # the last part of stdout and stderr
    jailed: bool = False


@functools.cache
def jail_available() -> bool:
    """Whether bubblewrap can start a jail here (checked once per process)."""
    from thinkact.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable:
        return False
    return True


def jail_or_refuse(unsafe: bool, what: str = "the code under test") -> bool:
    """Whether code runs jailed: True when a jail starts, False (a plain child process) only
    with ``unsafe``; else ``SandboxUnavailable`` naming the problem and ``--unsafe-python``."""
    if jail_available():
        return True
    if unsafe:
        return False
    from thinkact.sandbox import SandboxUnavailable, check_available

    try:
        check_available()  # bwrap's own words and how to install it
    except SandboxUnavailable as exc:
        raise SandboxUnavailable(f"{what} cannot run: {exc}") from None
    return True  # it started this time after all


def _limits(memory_mb: int, cpu_s: int) -> None:
    if memory_mb:  # (in the jail, its launcher sets memory and processes)
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _command(code: str, folder: Path, memory_mb: int, jail: bool
             ) -> tuple[list[str], dict[str, str], int]:
    """(argv, environment, memory left to set here) for the code in ``folder``."""
    argv = [sys.executable, "-I", "-c", code]
    if jail:
        from thinkact.sandbox import Jail

        box = Jail(folder, memory_limit_bytes=memory_mb << 20, max_processes=64)
        box.prepare()
        return box.command(argv), box.env(), 0
    env = {k: v for k, v in child_env().items() if not k.startswith("PYTHON")}
    return argv, env, memory_mb


def run_python(code: str, timeout_s: float = 10.0, memory_mb: int = 1024,
               jail: bool | None = None, unsafe: bool = False) -> Outcome:
    """Run ``code``; passed when it exits 0 before ``timeout_s``. ``jail``: None uses the
    jail, and refuses where none starts unless ``unsafe`` (``jail_or_refuse``); True or
    False forces it. Output goes to a file, not a pipe, so a child left behind cannot hold
    the result back."""
    jailed = jail_or_refuse(unsafe) if jail is None else jail
    cpu = max(1, int(timeout_s) + 1)
    with tempfile.TemporaryDirectory(prefix="thinkact-sandbox-") as tmp, \
            tempfile.TemporaryFile() as out:
        argv, env, memory = _command(code, Path(tmp) / "work", memory_mb, jailed)
        (Path(tmp) / "work").mkdir(exist_ok=True)
        proc = subprocess.Popen(argv, cwd=Path(tmp) / "work", env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                preexec_fn=lambda: _limits(memory, cpu))  # set in the child
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(proc.pid)  # it, and anything it left running in its group
            proc.wait()
        out.seek(0)
        text = out.read()[-2000:].decode("utf-8", errors="replace")
    return Outcome(proc.returncode == 0, timed_out, text, jailed)
