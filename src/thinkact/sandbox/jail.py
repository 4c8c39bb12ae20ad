"""A bubblewrap jail for code the model writes: one workspace writable, no network, no secrets.

``Jail(workspace).command(argv)`` wraps a command line in ``bwrap``: the system (``/usr``) and
the interpreter's own folders read-only, a few ``/etc`` files, a private ``/tmp``, the
workspace as the only writable place at its own path; own PID, IPC, UTS and network
namespaces (``network=True`` keeps the host's network); killed with the process that
started it. A small launcher inside sets the limits and becomes the jail's user.

The one rule: as root, the jailed code runs as an unprivileged uid of its own (``jail_uid``),
because the kernel ignores ``RLIMIT_NPROC`` for root; that uid owns the workspace.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: "
                "`dnf install bubblewrap`, Arch: `pacman -S bubblewrap`); it needs Linux with "
                "user namespaces. To run the model's code unconfined instead, pass "
                "--unsafe-python (not recommended)")

# Runs inside the jail as ``python -S -c _LAUNCHER uid nproc mem_bytes argv...``: drop to the
# jail's uid (root only), set the limits (hard too, so the code cannot raise them again),
# exec. Limits set here, after bwrap made the user namespace, count only this jail's
# processes.
_LAUNCHER = (
    "import os, resource, sys\n"
    "uid, nproc, mem = (int(v) for v in sys.argv[1:4])\n"
    "if uid >= 0:\n"
    "    os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)\n"
    "def cap(kind, value):\n"
    "    hard = resource.getrlimit(kind)[1]\n"
    "    if hard != resource.RLIM_INFINITY:\n"
    "        value = min(value, hard)\n"
    "    resource.setrlimit(kind, (value, value))\n"
    "if mem > 0:\n"
    "    cap(resource.RLIMIT_AS, mem)\n"
    "if nproc > 0:\n"
    "    cap(resource.RLIMIT_NPROC, nproc)\n"
    "os.execvp(sys.argv[4], sys.argv[4:])\n"
)

# Variables jailed code may see (by name); everything else, API keys included, stays out.
ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONIOENCODING", "PYTHONHASHSEED",
             "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "SOURCE_DATE_EPOCH", "NO_COLOR")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
        "ssl", "ca-certificates", "mime.types", "fonts", "nsswitch.conf")
_ETC_NET = ("resolv.conf", "hosts", "host.conf", "gai.conf")
_UID_BASE, _UID_SPAN = 1_900_000_000, 1 << 24
MARK = "THINKACT_SANDBOX"  # set in the jail to the workspace path (finds its processes)


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot start a jail here; the message says how to fix it."""


def jail_uid(workspace: Path) -> int:
    """The uid jailed code runs as when thinkact is root: one per workspace, stable, so a
    resumed run and both code tools (python, shell) own the same files."""
    return _UID_BASE + zlib.crc32(str(workspace).encode()) % _UID_SPAN


def _is_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class Jail:
    """How to confine one workspace. ``max_processes`` counts threads too (Linux does)."""

    workspace: Path
    network: bool = False
    max_processes: int = 256
    memory_limit_bytes: int = 0
    binds: tuple[Path, ...] = field(default=())  # extra writable folders (kernel sockets)

    @property
    def uid(self) -> int:
        """The jailed code's uid as the host sees it."""
        return jail_uid(self.workspace) if _is_root() else os.getuid()

    def prepare(self, *, walk: bool = True) -> None:
        """Create the workspace (and extra binds) and, as root, give them to the jail's uid:
        all they hold, or with ``walk=False`` (a shell command, often) only a folder that is
        not the jail's yet (host tools hand over what they create by fd, as they create it)."""
        for folder in (self.workspace, *self.binds):
            if _is_root():
                check_workspace(folder)
            folder.mkdir(parents=True, exist_ok=True)
            if _is_root() and (walk or folder.stat().st_uid != self.uid):
                give_tree(folder, self.uid)

    def env(self, base: Mapping[str, str] | None = None,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The allow-listed part of ``base`` (default ``os.environ``), then ``extra``."""
        src = os.environ if base is None else base
        env = {k: v for k, v in src.items() if k in ENV_ALLOW or k.startswith("LC_")}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update(HOME="/tmp", USER="sandbox", LOGNAME="sandbox", TMPDIR="/tmp")
        env[MARK] = str(self.workspace)
        env.update(extra or {})
        return env

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped in bwrap and the launcher; run it with ``env()``."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(f"bwrap (bubblewrap) is not installed: {INSTALL_HINT}")
        args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if _is_root():  # no user namespace: the launcher drops to the jail uid itself
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user"]
        if not self.network:
            args += ["--unshare-net"]
        args += _system_mounts(self.network)
        for path in (self.workspace, *self.binds):
            args += [*_parents(path), "--bind", str(path), str(path)]
        for path in _python_paths():  # after: read-only even inside a workspace around them
            args += [*_parents(path), "--ro-bind", str(path), str(path)]
        args += ["--chdir", str(self.workspace), "--", sys.executable, "-S", "-c", _LAUNCHER,
                 str(self.uid if _is_root() else -1), str(self.max_processes),
                 str(int(self.memory_limit_bytes)), *argv]
        return args


def _system_mounts(network: bool) -> list[str]:
    # /dev/shm: POSIX semaphores and shared memory (multiprocessing), private like /tmp
    args = ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for name in (*_ETC, *(_ETC_NET if network else ())):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def _parents(path: Path) -> list[str]:
    """Create ``path``'s ancestors in the jail as 0755 (bwrap would make them 0700)."""
    out: list[str] = []
    for parent in reversed(path.parents[:-1]):
        if parent != Path("/tmp"):  # already a tmpfs, open to all
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


@functools.cache
def _python_paths() -> tuple[Path, ...]:
    """The interpreter's folders: its prefixes, site-packages, ``PYTHONPATH`` and the folders
    that ``.pth`` files add (editable installs). Outermost only; never ``/``, ``/tmp`` or a
    folder that holds the home directory; ``/usr`` is mounted anyway."""
    home, tmp = Path.home().resolve(), Path(tempfile.gettempdir()).resolve()
    raw = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
           str(Path(sys.executable).resolve().parent.parent),
           *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    for site_dir in site.getsitepackages():
        raw.append(site_dir)
        for pth in Path(site_dir).glob("*.pth"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                raw += [line.strip() for line in pth.read_text().splitlines()
                        if line.strip() and not line.startswith(("#", "import"))]
    found: list[Path] = []
    for entry in raw:
        path = Path(entry).resolve() if entry else None
        if path is None or not path.is_dir():
            continue
        if path in (Path("/"), tmp) or home.is_relative_to(path) or path.is_relative_to("/usr"):
            continue
        found.append(path)
    outer = [p for p in found if not any(p != q and p.is_relative_to(q) for q in found)]
    return tuple(dict.fromkeys(outer))


_SYSTEM = {Path(p) for p in ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64",
                              "/opt", "/proc", "/root", "/sbin", "/srv", "/sys", "/tmp", "/usr",
                              "/var")}


def require_jail(tool: str, network: bool) -> None:
    """A code tool's call refused, as the error the model reads, when no jail can start."""
    from thinkact.tools.base import ToolError

    try:
        check_available(network)
    except SandboxUnavailable as exc:
        raise ToolError(f"the {tool} tool cannot run: {exc}") from None


_SCRATCH = (Path("/tmp"), Path("/var/tmp"))


def check_workspace(folder: Path) -> None:
    """Refuse a workspace that must not be given to a jail's uid (as root, the jail owns its
    workspace): one that holds the home directory or the interpreter, a system folder or any
    folder inside one (``/etc/cron.d``, ``/usr/local/bin``), or a hidden folder of the home
    directory (``~/.ssh``). Scratch space, the data dir's workspaces and ordinary folders of
    one's own are fine."""
    from thinkact.paths import data_dir

    path, home = folder.resolve(), Path.home().resolve()
    held = [p for p in (home, *_python_paths()) if p.is_relative_to(path)]
    inside = [s for s in _SYSTEM - {Path("/")} if path.is_relative_to(s)]
    if held:
        what = f"it holds {held[0]}"
    elif path.is_relative_to(data_dir().resolve()):
        return
    elif path.is_relative_to(home) and path.relative_to(home).parts[0].startswith("."):
        what = "it is a hidden folder of the home directory"  # (a home under /tmp too)
    elif path.is_relative_to(home) or any(path != t and path.is_relative_to(t)
                                          for t in _SCRATCH):
        return
    elif path in _SYSTEM or inside:
        what = "it is a system folder" if path in _SYSTEM else f"it is inside {inside[0]}"
    else:
        return
    raise SandboxUnavailable(f"{path} cannot be a jailed workspace ({what}): as root the "
                             "jail is given its workspace; use a folder of its own")


def give_tree(root: Path, uid: int) -> None:
    """chown ``root`` and what is in it to ``uid`` (as root: so the jail may write there).
    By directory fd, never following a link: jailed code may swap a folder for a link to
    ``/etc`` meanwhile, and must not get host files chowned that way."""
    os.chown(root, uid, uid, follow_symlinks=False)
    for _, dirnames, filenames, dirfd in os.fwalk(root):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                if os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_uid != uid:
                    os.chown(name, uid, uid, dir_fd=dirfd, follow_symlinks=False)


@functools.cache
def check_available(network: bool = False) -> None:
    """Start one jail with this interpreter, once per process; ``SandboxUnavailable`` if
    that fails, with bwrap's own words and how to install it."""
    with tempfile.TemporaryDirectory(prefix="thinkact-probe-") as tmp:
        jail = Jail(Path(tmp) / "ws", network=network)
        jail.prepare()
        argv = jail.command([sys.executable, "-S", "-c", "pass"])
        try:
            done = subprocess.run(argv, env=jail.env(), capture_output=True, text=True,
                                  timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap could not start a jail ({exc}); "
                                     f"{INSTALL_HINT}") from None
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip()[-500:]
        raise SandboxUnavailable(f"bwrap could not start a jail here ({why}); {INSTALL_HINT}")
