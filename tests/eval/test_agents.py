"""An eval builds each item's agent as ``thinkact run`` would: on the bundled model, an item
with no tools of its own gets the bundled world's tools, and an item's own tools win."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import Item, agent_maker
from thinkact.traces import SQLiteTraceStore


def test_items_on_the_bundled_model_get_its_world_tools_unless_they_name_theirs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("THINKACT_PROVIDER", "THINKACT_BASE_URL", "THINKACT_CHECKPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("THINKACT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(tmp_path / "cache"))
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    try:
        make = agent_maker({"provider": "embedded", "workspace": str(tmp_path / "ws")},
                           ScriptedBackend([]), store)
        plain = make("r1", Item("a", "q", 1), 0, [])
        own = make("r2", Item("b", "q", 1, tools=("python",)), 0, [])
        assert plain.toolset.names == ["python", "files", "facts", "search"]
        assert plain.config.tools.names == plain.toolset.names  # what its run records
        assert own.toolset.names == ["python"]
        for agent in (plain, own):
            asyncio.run(agent.aclose())
    finally:
        store.close()
