"""``python``: a stateful Python interpreter (a Jupyter kernel) for the model to think with.

State (variables, imports, functions) lives across calls within a run, like a notebook. A call
that runs too long is interrupted (KeyboardInterrupt) while the kernel and its state survive;
a kernel that dies (crash, memory kill) is restarted and the model is told its state is gone.
The kernel runs in a bubblewrap jail (``thinkact.sandbox``); where no jail can start the tool
refuses to run, unless ``unsafe=True`` (the user's explicit ``--unsafe-python``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import Field

from thinkact.sandbox import Jail
from thinkact.sandbox.jail import require_jail
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.python_kernel import ExecOutcome, KernelSession
from thinkact.tools.builtin.timed import TimedTool
from thinkact.untrusted import mark_untrusted

_DESCRIPTION = """\
Run Python code in a persistent Jupyter (IPython) kernel and get back what it printed.
Use it to compute, check a hypothesis, parse or transform data, or plot. State persists \
between calls: variables, imports and functions defined earlier are still there.
The working directory is the run's workspace; files written there can be read later.
Returns stdout/stderr, the value of the last expression, and full tracebacks on errors. \
Figures (matplotlib) are saved as PNG files in the workspace and reported as \
"[image saved: plots/out-N.png]".
Limits: each call is interrupted after its time limit (the kernel keeps its state); memory is \
capped (a MemoryError is raised beyond it). Print only what you need: long output is cut."""


class PythonTool(TimedTool):
    """The ``python`` tool: one kernel per run, started on first use, closed by ``aclose``.

    ``timeout_s`` is the default per-call execution limit, ``max_timeout_s`` the most a call
    may ask for. ``memory_limit_bytes`` caps the kernel's address space (0 = no cap).
    The kernel sees an allow-listed environment (no secrets) unless ``pass_secrets``; it has
    no network unless ``network``, and at most ``max_processes`` processes and threads.
    Where bwrap cannot jail it, every call fails with how to install it, unless ``unsafe``.
    """

    def __init__(
        self, *, workspace: Path | str | None = None, timeout_s: float = 60.0,
        max_timeout_s: float = 600.0, memory_limit_bytes: int = 2 * 1024**3,
        max_output_chars: int = 1_000_000, startup_timeout_s: float = 60.0,
        interrupt_grace_s: float = 5.0, pass_secrets: bool = False, name: str = "python",
        unsafe: bool = False, network: bool = False, max_processes: int = 256,
    ) -> None:
        super().__init__(name, _DESCRIPTION, timeout_s, max_timeout_s, code=(
            str, Field(description="Python source to execute.")))
        self.workspace = Path(workspace) if workspace is not None else None
        self.memory_limit_bytes = memory_limit_bytes
        self.max_output_chars = max_output_chars
        self.startup_timeout_s = startup_timeout_s
        self.interrupt_grace_s = interrupt_grace_s
        self.pass_secrets = pass_secrets
        self.unsafe, self.network, self.max_processes = unsafe, network, max_processes
        self._session: KernelSession | None = None
        self._run_id: str | None = None
        self._lost = False  # this run used a kernel of an earlier process: say it is gone
        self._lock = asyncio.Lock()

    @property
    def timeout_s(self) -> float:
        """What the Toolset should wait at most: start-up + longest run + interrupt grace."""
        return self.startup_timeout_s + self.max_timeout_s + 2 * self.interrupt_grace_s + 10

    @property
    def session(self) -> KernelSession | None:
        return self._session

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        code = arguments.get("code")
        if not isinstance(code, str):
            raise ToolError("python needs a 'code' string")
        limit, note = self._time_limit(arguments.get("timeout_s"))
        async with self._lock:
            if not self.unsafe:
                require_jail("python", self.network)
            session = await self._session_for(ctx)
            try:
                await session.start()
            except Exception as exc:
                raise ToolError(f"could not start the Python kernel: {exc}") from exc
            outcome = await session.execute(code, limit)
            notice, self._lost = (RESUMED if self._lost else ""), False
        return _report(outcome, limit, self.spec.name, notice) + note

    async def _session_for(self, ctx: ToolContext) -> KernelSession:
        """One kernel per run: a call from another run gets a fresh kernel in its workspace."""
        if self._session is not None and self._run_id != ctx.run_id:
            await self._session.shutdown()
            self._session = None
        if self._session is None:
            cwd = (self.workspace or ctx.workspace).resolve()
            self._session = KernelSession(
                cwd, memory_limit_bytes=self.memory_limit_bytes,
                startup_timeout_s=self.startup_timeout_s,
                interrupt_grace_s=self.interrupt_grace_s,
                max_output_chars=self.max_output_chars, pass_secrets=self.pass_secrets,
                jail=None if self.unsafe else Jail(cwd, network=self.network,
                                                   max_processes=self.max_processes),
            )
            self._run_id = ctx.run_id
            self._lost = self.spec.name in ctx.extra.get("resumed_tools", ())
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.shutdown()


RESUMED = ("[this run was resumed in a new process: the Python kernel of the earlier calls is "
           "gone, so their variables, imports and definitions are lost, and so are files "
           "written outside the workspace; files in the workspace are kept; re-run what you "
           "need]\n")


def _report(outcome: ExecOutcome, limit: float, source: str, notice: str = "") -> str:
    """What the model reads: ``notice``, then the output inside the untrusted envelope (it
    may print a web page or a file), then what happened to the kernel."""
    text = notice + (mark_untrusted(outcome.text.rstrip("\n"), source)
                     if outcome.text.strip() else "")
    if outcome.status == "timeout":
        raise ToolError(
            f"{text}\n[interrupted: the code ran longer than {limit:g}s and was "
            "stopped with KeyboardInterrupt; the kernel is still running and variables "
            "defined before this call are kept]".lstrip()
        )
    if outcome.status == "died":
        why = f" ({outcome.detail})" if outcome.detail else ""
        raise ToolError(
            f"{text}\n[the Python kernel died{why} and was restarted: all variables, "
            "imports and definitions from earlier calls are lost; re-run what you need]".lstrip()
        )
    return text if outcome.text.strip() else notice + "(no output)"
