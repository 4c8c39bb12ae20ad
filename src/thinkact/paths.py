"""Where thinkact keeps its data: ``$THINKACT_HOME``, else ``$XDG_DATA_HOME/thinkact``, else
``~/.local/share/thinkact``. Traces, run workspaces and the search index all live there.
What can be made again (compiled code, derived indexes) goes to ``cache_dir()`` instead."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("THINKACT_HOME"):
        return Path(env["THINKACT_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "thinkact"


def default_trace_db(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / "traces.sqlite"


def default_workspace(run_id: str, env: Mapping[str, str] | None = None) -> Path:
    """A fresh directory per run, so tools of different runs never share files."""
    return data_dir(env) / "workspaces" / run_id


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$THINKACT_CACHE_DIR``, else ``$XDG_CACHE_HOME/thinkact``, else ``~/.cache/thinkact``."""
    env = os.environ if env is None else env
    if env.get("THINKACT_CACHE_DIR"):
        return Path(env["THINKACT_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "thinkact"
