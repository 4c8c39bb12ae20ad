"""One IPython kernel for one run: jailed, memory limit, timeouts, crash detection.

The kernel is an ``ipykernel`` process started with this interpreter through a private kernel
spec, so neither the user's Jupyter/IPython configuration nor installed kernel specs change
what runs. With a ``Jail`` it runs inside bubblewrap (see ``thinkact.sandbox``), which also
sets the memory and process limits; without one (the user's explicit ``--unsafe-python``) a
small launcher sets ``RLIMIT_AS``. Runaway allocations raise ``MemoryError`` inside the kernel
(or kill it, which we detect) instead of exhausting the machine. Transport is IPC (unix
sockets in a private temp dir, bound into the jail), so no TCP port is opened.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from thinkact.sandbox import Jail
from thinkact.tools.subprocess_env import child_env

_KERNEL_NAME = "thinkact-python"

# Runs as ``python -c _LAUNCHER <limit_bytes> -f <connection file>``: the limit is popped
# from argv before ipykernel parses it. Applied to the kernel process only.
_LAUNCHER = (
    "import resource, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "if limit > 0:\n"
    "    soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
    "    if hard != resource.RLIM_INFINITY:\n"
    "        limit = min(limit, hard)\n"
    "    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))\n"
    "from ipykernel.kernelapp import launch_new_instance\n"
    "launch_new_instance()\n"
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class ExecOutcome:
    """What one execution produced. ``status``: ok | error | timeout | died."""

    status: str = "ok"
    parts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    chars: int = 0
    capped: bool = False
    detail: str = ""

    def add(self, text: str, limit: int) -> None:
        if not text or self.capped:
            return
        room = limit - self.chars
        if len(text) > room:
            text = text[:max(room, 0)]
            self.capped = True
        self.parts.append(text)
        self.chars += len(text)

    @property
    def text(self) -> str:
        out = "".join(self.parts)
        if self.capped:
            out += "\n[output capped: the code printed more than the tool keeps]"
        return out


class _KernelManager(AsyncKernelManager):
    """Hands the connection file (written 0600 by its owner) to the jail's uid."""

    owner_uid: int | None = None

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.owner_uid is not None:
            os.chown(self.connection_file, self.owner_uid, self.owner_uid)


class KernelSession:
    """A lazily started kernel bound to a working directory."""

    def __init__(
        self, cwd: Path, *, memory_limit_bytes: int, startup_timeout_s: float = 60.0,
        interrupt_grace_s: float = 5.0, max_output_chars: int = 1_000_000,
        image_dir: str = "plots", pass_secrets: bool = False, jail: Jail | None = None,
    ) -> None:
        self.cwd = cwd
        self.memory_limit_bytes = memory_limit_bytes
        self.startup_timeout_s = startup_timeout_s
        self.interrupt_grace_s = interrupt_grace_s
        self.max_output_chars = max_output_chars
        self.image_dir = image_dir
        self.pass_secrets = pass_secrets
        self.jail = jail  # None: unconfined (the user's explicit choice)
        self._tmp: Path | None = None
        self._km: AsyncKernelManager | None = None
        self._kc: AsyncKernelClient | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._km is not None

    async def start(self) -> None:
        if self._km is not None:
            return
        self.cwd.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix="thinkact-kernel-"))
        spec_dir = self._tmp / "kernels" / _KERNEL_NAME
        spec_dir.mkdir(parents=True)
        km = _KernelManager(kernel_name=_KERNEL_NAME, kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(self._tmp / "kernels")], ensure_native_kernel=False))
        km.transport = "ipc"
        km.ip = str(self._tmp / "ipc")
        km.connection_file = str(self._tmp / "connection.json")
        (spec_dir / "kernel.json").write_text(json.dumps(self._spec(km)))
        env = self._env()
        for key, sub in (("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                         ("MPLCONFIGDIR", "mpl")):
            env[key] = str(self._tmp / sub)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        # One malloc arena: under RLIMIT_AS each thread's arena reserves 64 MiB of address
        # space, and a thread that cannot get one crashes the kernel after a MemoryError.
        env.setdefault("MALLOC_ARENA_MAX", "1")
        self._km = km
        try:
            await km.start_kernel(env=env, cwd=str(self.cwd))
            kc = km.client()
            kc.start_channels()
            self._kc = kc
            await kc.wait_for_ready(timeout=self.startup_timeout_s)
        except BaseException:
            await self.shutdown()
            raise
        self.starts += 1

    def _spec(self, km: _KernelManager) -> dict[str, Any]:
        """The kernel spec: the jailed kernel, or the plain launcher with its memory cap."""
        kernel = ["-f", "{connection_file}", "--HistoryManager.enabled=False"]
        if self.jail is None:
            argv = [sys.executable, "-c", _LAUNCHER, str(int(self.memory_limit_bytes)), *kernel]
            return {"argv": argv, "display_name": "thinkact python", "language": "python"}
        assert self._tmp is not None
        jail = Jail(self.jail.workspace, network=self.jail.network,
                    max_processes=self.jail.max_processes,
                    memory_limit_bytes=self.memory_limit_bytes, binds=(self._tmp,))
        jail.prepare()
        if os.geteuid() == 0:
            km.owner_uid = jail.uid
        # A signal would reach bwrap, not the kernel: interrupts go as a control message.
        # parent_handle=1: its parent is the jail's init, and bwrap ends it with thinkact.
        argv = [sys.executable, "-m", "ipykernel_launcher", *kernel,
                "--IPKernelApp.parent_handle=1"]
        return {"argv": jail.command(argv),
                "display_name": "thinkact python (jailed)", "language": "python",
                "interrupt_mode": "message"}

    def _env(self) -> dict[str, str]:
        if self.jail is None or self.pass_secrets:
            env = child_env(pass_secrets=self.pass_secrets)
            env.pop("JUPYTER_PATH", None)
            env.pop("PYTHONSTARTUP", None)
            return env
        return self.jail.env()

    async def shutdown(self) -> None:
        kc, km, tmp = self._kc, self._km, self._tmp
        self._kc = self._km = self._tmp = None
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if km is not None:
            with contextlib.suppress(Exception):
                await km.shutdown_kernel(now=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    async def restart(self) -> None:
        await self.shutdown()
        await self.start()

    async def interrupt(self) -> None:
        if self._km is not None:
            with contextlib.suppress(Exception):
                await self._km.interrupt_kernel()

    async def execute(self, code: str, timeout_s: float) -> ExecOutcome:
        """Run ``code``; interrupt at ``timeout_s``; restart if it dies or ignores SIGINT."""
        await self.start()
        assert self._kc is not None and self._km is not None
        kc, km = self._kc, self._km
        out = ExecOutcome()
        msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout_s
        interrupted_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if interrupted_at is None and now >= deadline:
                    out.status = "timeout"
                    await km.interrupt_kernel()
                    interrupted_at = now
                elif interrupted_at is not None and now >= interrupted_at + self.interrupt_grace_s:
                    out.detail = "the kernel did not respond to the interrupt"
                    out.status = "died"
                    await self.restart()
                    return out
                try:
                    msg = await kc.get_iopub_msg(timeout=0.25)
                except queue.Empty:
                    if not await km.is_alive():
                        proc = getattr(km.provisioner, "process", None)
                        rc = getattr(proc, "returncode", None)
                        out.status = "died"
                        out.detail = f"exit code {rc}" if rc is not None else ""
                        await self.restart()
                        return out
                    continue
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if self._handle(msg, out):
                    break
        except asyncio.CancelledError:
            # Cancelled from outside (e.g. the Toolset's own timeout): stop the code too.
            await self.interrupt()
            raise
        with contextlib.suppress(queue.Empty):  # keep the shell channel drained
            while True:
                reply = await kc.get_shell_msg(timeout=0.05)
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    break
        return out

    def _handle(self, msg: dict[str, Any], out: ExecOutcome) -> bool:
        """Fold one iopub message into ``out``; True when the execution is finished."""
        kind = msg["msg_type"]
        content = msg["content"]
        limit = self.max_output_chars
        if kind == "status":
            return bool(content.get("execution_state") == "idle")
        if kind == "stream":
            out.add(strip_ansi(content.get("text", "")), limit)
        elif kind in ("execute_result", "display_data"):
            out.add(self._render(content.get("data", {})), limit)
        elif kind == "error":
            if out.status != "timeout":
                out.status = "error"
            tb = strip_ansi("\n".join(content.get("traceback", [])))
            if not tb:
                tb = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            out.add(tb.rstrip() + "\n", limit)
        return False

    def _render(self, data: dict[str, Any]) -> str:
        for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg")):
            if mime in data:
                rel = self._save_image(data[mime], ext)
                return f"[image saved: {rel}]\n"
        text = data.get("text/plain")
        if isinstance(text, list):
            text = "".join(text)
        return strip_ansi(str(text)) + "\n" if text else ""

    def _save_image(self, payload: Any, ext: str) -> str:
        raw = payload if isinstance(payload, str) else "".join(payload)
        try:
            name = save_beneath(self.cwd, self.image_dir, ext, base64.b64decode(raw))
        except OSError as exc:  # e.g. jailed code made the folder a link elsewhere
            return f"(not saved: {self.image_dir}/ is not a folder of the workspace: {exc})"
        return f"{self.image_dir}/{name}"


def save_beneath(workspace: Path, folder: str, ext: str, data: bytes) -> str:
    """Write ``data`` as a new ``out-N.ext`` in ``workspace/folder`` and return its name.

    Jailed code owns the workspace and may plant links in it, and this runs outside the jail
    (as root, possibly): the folder is opened without following a link and the file is
    created exclusively (a dangling link is refused), each relative to its parent's fd. As
    root, both are then given to the workspace's owner, so the jail can still change them.
    """
    ws = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o755, dir_fd=ws)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=ws)
        try:
            n = 0
            while True:
                n += 1
                name = f"out-{n}.{ext}"
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o644, dir_fd=dir_fd)
                    break
                except FileExistsError:
                    continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                owner = os.fstat(ws)
                if os.geteuid() == 0 and owner.st_uid != 0:
                    os.fchown(fh.fileno(), owner.st_uid, owner.st_gid)
                    os.fchown(dir_fd, owner.st_uid, owner.st_gid)
            return name
        finally:
            os.close(dir_fd)
    finally:
        os.close(ws)
