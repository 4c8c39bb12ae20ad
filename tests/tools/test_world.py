"""The bundled model's default tools: with no tools chosen it gets the bundled world's
(python, files, facts over ``facts.sqlite``, search over the notes), in training's order;
a choice of tools or of a facts database wins, and other models keep the registry's defaults."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from thinkact import Agent, AgentConfig
from thinkact.backends.scripted import ScriptedBackend
from thinkact.messages import ToolCall, ToolResult
from thinkact.tools.base import ToolContext
from thinkact.tools.builtin.search.index import SearchIndex
from thinkact.tools.registry import DEFAULT_TOOLS
from thinkact.tools.world import world_index
from thinkact.train.world import WORLD_DIR

WORLD = ["python", "files", "facts", "search"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _agent(tmp_path: Path, **fields: object) -> Agent:
    config = AgentConfig.model_validate({"backend": "embedded", **fields,
                                         "workspace": tmp_path / "ws"})
    return config.build(backend=ScriptedBackend([]))


def _call(agent: Agent, name: str, arguments: dict[str, object]) -> ToolResult:
    call = ToolCall(id="c1", name=name, arguments=json.dumps(arguments))
    ctx = ToolContext(run_id="r", workspace=agent.config.workspace or Path())

    async def go() -> ToolResult:
        try:
            return await agent.toolset.call(call, ctx)
        finally:
            await agent.aclose()

    return asyncio.run(go())


def test_the_bundled_model_gets_the_world_tools_in_training_order(tmp_path: Path,
                                                                  cache: Path) -> None:
    agent = _agent(tmp_path)
    assert agent.toolset.names == WORLD
    tools = agent.config.tools  # what the run records, so a resume builds the same
    assert tools.names == WORLD and Path(tools.facts_db or "") == WORLD_DIR / "facts.sqlite"
    assert Path(tools.options["search"]["index_path"]).parent == cache / "world"
    result = _call(agent, "facts", {"sql": "SELECT name FROM country ORDER BY name LIMIT 1"})
    first = sqlite3.connect(WORLD_DIR / "facts.sqlite").execute(
        "SELECT name FROM country ORDER BY name LIMIT 1").fetchone()[0]
    assert result.error is None and first in result.content


def test_its_search_finds_a_bundled_note_and_names_it(tmp_path: Path) -> None:
    note = sorted((WORLD_DIR / "notes").glob("*.md"))[0]
    title = note.read_text().splitlines()[0].lstrip("# ").strip()
    result = _call(_agent(tmp_path), "search", {"query": title})
    assert result.error is None
    top = next(line for line in result.content.splitlines() if line.startswith("[1]"))
    assert title in top and f"; {note.name})" in top


def test_the_recorded_config_replays_the_same_tools(tmp_path: Path) -> None:
    agent = _agent(tmp_path, tools={"options": {"python": {"timeout_s": 7}}})
    again = AgentConfig.from_record(json.loads(json.dumps(agent.config.record())))
    replayed = again.build(backend=ScriptedBackend([]))
    assert replayed.toolset.names == WORLD and replayed.config.tools == agent.config.tools
    assert again.tools.options["python"] == {"timeout_s": 7}  # options given stay
    asyncio.run(agent.aclose())
    asyncio.run(replayed.aclose())


def test_tools_or_a_database_chosen_win(tmp_path: Path) -> None:
    only = _agent(tmp_path, tools=["python"])
    assert only.toolset.names == ["python"]
    asyncio.run(only.aclose())
    db = tmp_path / "mine.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    mine = _agent(tmp_path, tools={"facts_db": str(db)})
    assert mine.toolset.names == [*DEFAULT_TOOLS, "facts"]
    assert mine.config.tools.facts_db == str(db)
    asyncio.run(mine.aclose())


def test_other_models_keep_the_registry_defaults(tmp_path: Path) -> None:
    agent = AgentConfig(backend="scripted", workspace=tmp_path).build(
        backend=ScriptedBackend([]))
    assert agent.toolset.names == list(DEFAULT_TOOLS) and "facts" not in DEFAULT_TOOLS
    assert agent.config.tools.names is None
    asyncio.run(agent.aclose())


def test_the_index_is_built_once_and_again_when_the_notes_change(tmp_path: Path) -> None:
    notes = shutil.copytree(WORLD_DIR / "notes", tmp_path / "notes")
    first = world_index(notes)
    built = first.stat().st_mtime_ns
    assert world_index(notes) == first and first.stat().st_mtime_ns == built
    (notes / "new-station.md").write_text("# Quartz Ridge station\n\nIt has 4 staff.\n")
    second = world_index(notes)
    assert second != first
    index = SearchIndex(second)
    try:
        assert index.search("Quartz Ridge")[0].path.name == "new-station.md"
    finally:
        index.close()


def test_an_unwritable_cache_dir_falls_back_to_the_temp_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    index = world_index()
    assert index.is_file() and index.is_relative_to(tmp_path / "tmp")


def test_a_planted_or_empty_index_is_never_trusted(tmp_path: Path, cache: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty file at the index's name (what a search over a missing index leaves) is
    rebuilt, and the temp-dir fallback is a private folder, never a shared name another user
    could fill first."""
    name = world_index().name
    (cache / "world" / name).unlink()
    SearchIndex(cache / "world" / name).close()  # an empty index at the expected name
    index = SearchIndex(world_index())
    try:
        assert index.document_count() > 0
    finally:
        index.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    planted = tmp_path / "tmp" / "thinkact-world-planted"
    planted.mkdir(parents=True)
    shutil.copy(cache / "world" / name, planted / name)
    first, second = world_index(), world_index()
    assert first != second and planted not in (first.parent, second.parent)
    assert first.parent.stat().st_mode & 0o077 == 0


def test_a_resume_rebuilds_a_cleared_index_and_keeps_old_defaults(tmp_path: Path,
                                                                  cache: Path) -> None:
    recorded = _agent(tmp_path).config.record()
    shutil.rmtree(cache)  # the cache cleared between the run and its resume
    resumed = AgentConfig.from_record(recorded).build(backend=ScriptedBackend([]))
    note = sorted((WORLD_DIR / "notes").glob("*.md"))[0]
    title = note.read_text().splitlines()[0].lstrip("# ").strip()
    result = _call(resumed, "search", {"query": title})
    assert result.error is None and f"; {note.name})" in result.content, result.content
    # a bundled-model run recorded before the world tools: no names, the defaults then
    old = AgentConfig.from_record({**recorded, "tools": {**recorded["tools"], "names": None,
                                                         "facts_db": None, "options": {}}})
    agent = old.build(backend=ScriptedBackend([]))
    assert agent.toolset.names == list(DEFAULT_TOOLS)
    asyncio.run(agent.aclose())
