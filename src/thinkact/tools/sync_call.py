"""Where a plain (sync) tool function runs: on its own daemon thread, or in a child process.

Why not ``asyncio.to_thread``: a Python thread cannot be stopped, so a sync tool that hangs
past its timeout keeps its worker. In the loop's shared executor that worker is joined when
``asyncio.run`` ends (the process never exits) and a handful of them starve every other
``to_thread`` user. Here each call gets a daemon thread: a timed-out call is abandoned, and
it blocks neither other tools nor the exit.

A daemon thread still runs on. For a tool that can really hang (a network client without
timeouts, a solver), ``@tool(isolate=True)`` runs each call in a child Python process
(``python -m thinkact.tools.sync_call``) that is killed with its process group on timeout or
cancellation. The function is found there by module and qualified name, so it must be
defined at module level; arguments and result travel pickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from thinkact.tools.base import ToolError
from thinkact.tools.subprocess_env import kill_group


async def in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """``fn(**kwargs)`` on a new daemon thread; cancelling the await abandons the thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():  # the caller may have given up (timeout, cancellation)
            (future.set_result if ok else future.set_exception)(value)

    def work() -> None:
        try:
            ok, value = True, context.run(fn, **kwargs)
        except BaseException as exc:  # delivered to the awaiting coroutine
            ok, value = False, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=work, name=f"tool:{name}", daemon=True).start()
    return await future


def _locate(fn: Callable[..., Any]) -> tuple[str, str, str | None]:
    """(module, qualified name, script path for functions of a ``__main__`` script)."""
    module, qualname = fn.__module__, fn.__qualname__
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ToolError(f"isolate=True needs a module-level function; {qualname} is not")
    script = None
    if module == "__main__":
        script = getattr(sys.modules["__main__"], "__file__", None)
        if script is None:
            raise ToolError("isolate=True cannot run a function defined interactively")
    return module, qualname, script


async def in_child_process(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """``fn(**kwargs)`` in a child Python process, killed if the await is cancelled."""
    module, qualname, script = _locate(fn)
    try:
        payload = pickle.dumps((list(sys.path), module, qualname, script, kwargs))
    except Exception as exc:
        raise ToolError(f"cannot send the arguments of {name} to its process: {exc}") from exc
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "thinkact.tools.sync_call", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = await proc.communicate(payload)
    finally:
        if proc.returncode is None:  # timed out or cancelled: the whole group goes
            kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
    try:
        status, value = pickle.loads(out)
    except Exception:
        tail = err.decode("utf-8", "replace").strip()[-2000:]
        raise ToolError(
            f"the process running {name} exited with code {proc.returncode} "
            f"without a result" + (f":\n{tail}" if tail else "")
        ) from None
    if status == "ok":
        return value
    kind, message, trace = value
    if kind == "ToolError":
        raise ToolError(message)
    raise ToolError(f"{name} raised {kind}: {message}\n{trace}".rstrip())


def _child_main() -> None:
    """Child side: read the call from stdin, write ``(status, value)`` pickled to stdout.
    The tool's own prints go to stderr, so they cannot corrupt the result."""
    result_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    path, module, qualname, script, kwargs = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = path
    try:
        if script is not None:
            import runpy

            scope: Any = runpy.run_path(script, run_name="__mp_main__")
            target = scope[qualname.split(".")[0]]
            rest = qualname.split(".")[1:]
        else:
            import importlib

            target, rest = importlib.import_module(module), qualname.split(".")
        for part in rest:
            target = getattr(target, part)
        target = getattr(target, "fn", target)  # the decorated name holds the FunctionTool
        reply: tuple[str, Any] = ("ok", target(**kwargs))
        data = pickle.dumps(reply)
    except BaseException as exc:
        kind = "ToolError" if isinstance(exc, ToolError) else type(exc).__name__
        trace = "".join(traceback.format_exception(exc)[-3:]).rstrip()
        data = pickle.dumps(("error", (kind, str(exc), trace)))
    result_out.write(data)
    result_out.flush()


if __name__ == "__main__":
    _child_main()
