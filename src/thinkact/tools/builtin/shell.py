"""``shell``: run a bash command in the workspace. Off by default; asks before every command.

Each command runs as ``bash -c`` in the same kind of bubblewrap jail as the python kernel
(``thinkact.sandbox``: only the workspace writable, no network, no secrets), in its own
process group with the workspace as cwd; on timeout (or cancellation) the whole group is
killed, and the jail with it, so background children do not linger. Where no jail can
start the tool refuses to run, unless ``unsafe=True`` (``--unsafe-python``).
Approval goes through an ``ApprovalPolicy``: the tool asks its ``approver`` itself, so a
shell is never run unapproved just because nobody wired a policy into the Toolset. Pass
``require_approval=False`` only when the user explicitly opted out (or the Toolset's own
policy already asks for ``shell``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import Field

from thinkact.messages import ToolCall
from thinkact.sandbox import Jail
from thinkact.sandbox.jail import require_jail
from thinkact.tools.base import ToolContext, ToolError, ToolRejected
from thinkact.tools.builtin.timed import TimedTool
from thinkact.tools.subprocess_env import child_env, kill_group
from thinkact.tools.toolset import ApprovalPolicy
from thinkact.untrusted import mark_untrusted

_DESCRIPTION = """\
Run a bash command in the run's workspace (cwd) and get its exit code, stdout and stderr.
Use it for things Python is awkward at: running programs, git, compilers, package tools.
Each command needs the user's approval and may be refused with a reason; it is killed \
after its time limit. Commands are independent (no state is kept between calls except \
files). Avoid interactive programs; stdin is empty."""

_counter = itertools.count(1)


class ShellTool(TimedTool):
    """The ``shell`` tool. ``approver`` is asked for every command when ``require_approval``.

    Jailed commands see an allow-listed environment plus ``env``; unjailed ones (``unsafe``)
    see ``env`` or the inherited one. Secret-looking variables are withheld from either;
    ``pass_secrets`` passes ``env`` (or the inherited one) whole. ``network`` and
    ``max_processes`` as for the python tool.
    """

    def __init__(
        self, *, workspace: Path | str | None = None, require_approval: bool = True,
        approver: ApprovalPolicy | None = None, timeout_s: float = 60.0,
        max_timeout_s: float = 600.0, max_output_bytes: int = 200_000,
        env: dict[str, str] | None = None, pass_secrets: bool = False, name: str = "shell",
        unsafe: bool = False, network: bool = False, max_processes: int = 256,
    ) -> None:
        super().__init__(name, _DESCRIPTION, timeout_s, max_timeout_s, command=(
            str, Field(description="The bash command line.")))
        self.workspace = Path(workspace) if workspace is not None else None
        self.require_approval = require_approval
        self.approver = approver
        self.max_output_bytes = max_output_bytes
        self.env = env
        self.pass_secrets = pass_secrets
        self.unsafe, self.network, self.max_processes = unsafe, network, max_processes

    @property
    def timeout_s(self) -> float:
        """The Toolset's outer limit: a person may take a while to approve."""
        return self.max_timeout_s + 3600.0 if self.require_approval else self.max_timeout_s + 10

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("shell needs a non-empty 'command' string")
        limit, note = self._time_limit(arguments.get("timeout_s"))
        if not self.unsafe:
            require_jail("shell", self.network)
        if self.require_approval:
            await self._approve(arguments)
        cwd = (self.workspace or ctx.workspace).resolve()
        cwd.mkdir(parents=True, exist_ok=True)
        return await self._run(command, cwd, limit) + note

    def _argv_env(self, command: str, cwd: Path) -> tuple[list[str], dict[str, str]]:
        if self.unsafe:
            return ["bash", "-c", command], child_env(self.env, pass_secrets=self.pass_secrets)
        jail = Jail(cwd, network=self.network, max_processes=self.max_processes)
        jail.prepare(walk=False)
        given = child_env(self.env, pass_secrets=True) if self.pass_secrets else (
            child_env(self.env) if self.env else {})
        return jail.command(["bash", "-c", command]), jail.env(extra=given)

    async def _approve(self, arguments: dict[str, Any]) -> None:
        if self.approver is None:
            raise ToolError("shell commands need the user's approval, but no approver is "
                            "configured for this run; the command was not run")
        call = ToolCall(id=f"shell-{next(_counter)}", name=self.spec.name,
                        arguments=json.dumps(arguments, ensure_ascii=False))
        ok, reason = await self.approver(call)
        if not ok:
            raise ToolRejected(f"the user rejected this command: {reason}")

    async def _run(self, command: str, cwd: Path, limit: float) -> str:
        argv, env = self._argv_env(command, cwd)
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=str(cwd), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        reads = asyncio.gather(self._read(proc.stdout), self._read(proc.stderr))
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), limit)
        except TimeoutError:
            timed_out = True
        except asyncio.CancelledError:
            reads.cancel()
            raise
        finally:
            if proc.returncode is None:
                kill_group(proc.pid)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 5)
        try:
            (out, out_cut), (err, err_cut) = await asyncio.wait_for(reads, 5)
        except TimeoutError:  # a grandchild escaped the group and holds the pipes open
            reads.cancel()
            (out, out_cut), (err, err_cut) = (b"", False), (b"", False)
        return self._format(proc.returncode, out, err, out_cut or err_cut, timed_out, limit)

    async def _read(self, stream: asyncio.StreamReader) -> tuple[bytes, bool]:
        """Read everything, keeping at most ``max_output_bytes`` (the rest is drained)."""
        kept = bytearray()
        cut = False
        while chunk := await stream.read(65536):
            room = self.max_output_bytes - len(kept)
            if len(chunk) > room:
                cut = True
            kept += chunk[:max(room, 0)]
        return bytes(kept), cut

    def _format(self, rc: int | None, out: bytes, err: bytes, cut: bool, timed_out: bool,
                limit: float) -> str:
        parts = []
        if timed_out:
            parts.append(f"[killed: the command ran longer than {limit:g}s]")
        else:
            parts.append(f"exit code: {rc}")
        if out:
            parts.append("stdout:\n" + out.decode("utf-8", errors="replace").rstrip("\n"))
        if err:
            parts.append("stderr:\n" + err.decode("utf-8", errors="replace").rstrip("\n"))
        if not out and not err:
            parts.append("(no output)")
        if cut:
            parts.append("[output capped]")
        text = mark_untrusted("\n".join(parts), self.spec.name)
        if timed_out:
            raise ToolError(text)
        return text

    async def aclose(self) -> None:
        return None

