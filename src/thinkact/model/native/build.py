"""Compile ``decode_step.c`` and its INT4 kernel ``decode_int4.c`` once per machine; load them.

No build step at install time and no torch headers: the kernel is plain C, compiled in about
two seconds by the system's C compiler on first use and cached under
``$THINKACT_CACHE_DIR/native`` (default ``~/.cache/thinkact/native``), keyed by the source,
the flags, the compiler and the CPU (``-march=native`` code must not move to another CPU).
Everything degrades: no compiler, a failed build or ``THINKACT_NATIVE=0`` means
:func:`load_library` returns None and callers keep the PyTorch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from thinkact.paths import cache_dir as thinkact_cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("decode_step.c")
# Compiled together into one library: the step, the INT4 experts' kernel and the 8-float
# kernels it calls (all of them where registers are 256 bits; those for up to 8 heads always).
SOURCES = (SOURCE, *(Path(__file__).with_name(f) for f in ("decode_int4.c", "decode_v8.c")))
FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-std=gnu99")
ARCH_FLAGS = ("-march=native",)


def enabled() -> bool:
    """False when ``THINKACT_NATIVE`` is set to 0/false/no/off."""
    return os.environ.get("THINKACT_NATIVE", "1").strip().lower() not in {"0", "false", "no", "off"}


def cache_dir() -> Path:
    return thinkact_cache_dir() / "native"


def compiler() -> str | None:
    """``$CC`` if set (even when it does not exist: that is how a user turns it off), else
    the first of cc, gcc, clang on PATH."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc)
    return next((p for p in map(shutil.which, ("cc", "gcc", "clang")) if p), None)


def _cpu_id() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor()
    keep = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(keep)))


def _compile(cc: str, out: Path) -> str | None:
    """Build into ``out`` (atomically); None on success, else the compiler's complaint."""
    try:  # an unwritable cache dir is a failed build, not a crash
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        return f"cannot write {out.parent}: {exc}"
    err = ""
    try:
        for arch in (ARCH_FLAGS, ()):  # some compilers/targets reject -march=native
            cmd = [cc, *FLAGS, *arch, *map(str, SOURCES), "-o", tmp, "-lm"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if proc.returncode == 0:
                os.replace(tmp, out)
                return None
            err = proc.stderr.strip()[-2000:]
        return err or "compiler failed"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@cache
def load_library() -> ctypes.CDLL | None:
    """The compiled kernel, building it if needed; None (logged once) when unavailable."""
    if not enabled():
        return None
    cc = compiler()
    if cc is None:
        log.info("thinkact native decode: no C compiler found; using the PyTorch path")
        return None
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(
        "\0".join([*(f.read_text() for f in SOURCES), " ".join(FLAGS + ARCH_FLAGS), version,
                    _cpu_id()]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"decode_step-{platform.machine()}-{key}.so"
    if not path.exists():
        err = _compile(cc, path)
        if err is not None:
            log.warning("thinkact native decode: build failed, using the PyTorch path: %s", err)
            return None
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:
        log.warning("thinkact native decode: cannot load %s: %s", path, exc)
        return None
