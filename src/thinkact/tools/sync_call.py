"""Where a plain (sync) tool function runs: on its own daemon thread, or in a child process.

Why not ``asyncio.to_thread``: a Python thread cannot be stopped, so a sync tool that hangs
past its timeout keeps its worker. In the loop's shared executor that worker is joined when
``asyncio.run`` ends (the process never exits) and a handful of them starve every other
``to_thread`` user. Here each call gets a daemon thread: a timed-out call is abandoned, and
it blocks neither other tools nor the exit.

A daemon thread still runs on. For a tool that can really hang (a network client without
timeouts, a solver), ``@tool(isolate=True)`` runs each call in a child Python process
(``child_main``) whose whole process group is killed when the call
ends: on return, failure, timeout or cancellation. The function is found there by module and
qualified name, so it must be defined at module level; a script defining one is re-run
there as ``__mp_main__`` (as ``multiprocessing`` does), so its top level must be guarded by
``if __name__ == "__main__":``. Arguments travel pickled, the result as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from thinkact.tools.base import ToolError
from thinkact.tools.subprocess_env import kill_group

CHILD_MARK = "THINKACT_ISOLATED_TOOL"  # set in an isolated tool's process
CHILD_ENTRY = "from thinkact.tools.sync_call import child_main; child_main()"


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
        except BaseException as exc:  # delivered to the awaiting coroutine, as an Exception
            # (a future refuses StopIteration; SystemExit & co. would end the whole run)
            plain = isinstance(exc, Exception) and not isinstance(exc, StopIteration)
            ok, value = False, exc if plain else ToolError(
                f"{name} raised {type(exc).__name__}: {exc}")
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=work, name=f"tool:{name}", daemon=True).start()
    return await future


def _locate(fn: Callable[..., Any]) -> tuple[str, str, str | None]:
    """(module, qualified name, main): ``main`` says how the child loads a function of the
    ``__main__`` module: ``"module:NAME"`` when it was run with ``python -m NAME`` (its
    relative imports then work), else the script's path."""
    module, qualname = fn.__module__, fn.__qualname__
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ToolError(f"isolate=True needs a module-level function; {qualname} is not")
    main = None
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        script = getattr(sys.modules["__main__"], "__file__", None)
        if spec is not None and spec.name:
            main = f"module:{spec.name}"
        elif script is not None:
            main = script
        else:
            raise ToolError("isolate=True cannot run a function defined interactively")
    return module, qualname, main


async def in_child_process(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """``fn(**kwargs)`` in a child Python process; when the call ends (returned, failed,
    timed out or cancelled) the child's whole process group is killed."""
    if os.environ.get(CHILD_MARK):
        raise ToolError(f"{name}: an isolated tool was called inside an isolated tool's "
                        "process; a script defining isolated tools must guard its top level "
                        "with `if __name__ == \"__main__\":`")
    module, qualname, main = _locate(fn)
    try:
        arguments = pickle.dumps(kwargs)
    except Exception as exc:
        raise ToolError(f"cannot send the arguments of {name} to its process: {exc}") from exc
    payload = pickle.dumps((list(sys.path), module, qualname, main, arguments))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_ENTRY, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        env={**os.environ, CHILD_MARK: "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    errors = asyncio.ensure_future(proc.stderr.read())
    try:
        proc.stdin.write(payload)
        await proc.stdin.drain()
        proc.stdin.close()
        try:  # a length-prefixed reply: no waiting for EOF, which a forked helper delays
            size = int.from_bytes(await proc.stdout.readexactly(8), "big")
            out = await proc.stdout.readexactly(size)
        except asyncio.IncompleteReadError:
            out = b""  # the child died before replying
    finally:
        # Whatever the call started goes with it; before waiting, since asyncio's wait()
        # also waits for stderr, which a grandchild may hold open.
        kill_group(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        try:
            err = await asyncio.wait_for(errors, 5)
        except Exception:  # a grandchild outside the group still holds stderr
            errors.cancel()
            err = b""
        if err:  # the tool's own output, where a thread tool's prints would appear
            sys.stderr.write(err.decode("utf-8", "replace"))
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


def _load(module: str, qualname: str, main: str | None) -> Any:
    """The function named ``module:qualname`` (the plain function, not its FunctionTool).
    A ``__main__`` module is loaded under another name (``__mp_main__`` for a script, its
    own for ``-m``), so its ``__main__`` guard holds, and stands in for ``__main__``, so its
    own classes unpickle (multiprocessing's convention)."""
    if main is not None:
        if main.startswith("module:"):
            spec = importlib.util.find_spec(main.removeprefix("module:"))
        else:
            spec = importlib.util.spec_from_file_location("__mp_main__", main)
        assert spec is not None and spec.loader is not None
        target: Any = importlib.util.module_from_spec(spec)  # named, not __main__
        sys.modules["__mp_main__"] = sys.modules["__main__"] = target
        spec.loader.exec_module(target)
    else:
        target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return getattr(target, "fn", target)


def child_main() -> None:
    """Child side: read the call from stdin, write ``(status, value)`` pickled to stdout
    (the result as text, as the model will see it). The tool's own prints go to stderr, so
    they cannot corrupt the result."""
    result_out = os.fdopen(os.dup(1), "wb")  # not inherited by what the tool starts
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    path, module, qualname, main, arguments = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = path
    try:
        target = _load(module, qualname, main)
        value = target(**pickle.loads(arguments))  # after the load: its classes exist now
        data = pickle.dumps(("ok", value if isinstance(value, str) else str(value)))
    except BaseException as exc:
        kind = "ToolError" if isinstance(exc, ToolError) else type(exc).__name__
        trace = "".join(traceback.format_exception(exc)[-3:]).rstrip()
        data = pickle.dumps(("error", (kind, str(exc), trace)))
    result_out.write(len(data).to_bytes(8, "big") + data)
    result_out.flush()

