"""Where the trace database and per-run workspaces live, under ``thinkact.paths.data_dir``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from thinkact.paths import data_dir

__all__ = ["data_dir", "default_trace_db", "default_workspace"]


def default_trace_db(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / "traces.sqlite"


def default_workspace(run_id: str, env: Mapping[str, str] | None = None) -> Path:
    """A fresh directory per run, so tools of different runs never share files."""
    return data_dir(env) / "workspaces" / run_id
