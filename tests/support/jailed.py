"""Find the host processes of a jail: those whose environment names its workspace."""

from __future__ import annotations

import time
from pathlib import Path

from thinkact.sandbox.jail import MARK


def jailed_pids(workspace: Path) -> list[int]:
    """Live (not zombie) processes started in the jail of ``workspace``."""
    mark = f"{MARK}={workspace.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_jail_empty(workspace: Path, timeout: float = 10.0) -> list[int]:
    """Poll until no process of that jail is left; what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := jailed_pids(workspace)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
