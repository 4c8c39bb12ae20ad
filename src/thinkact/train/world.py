"""The bundled world the tiny model works in: a facts database, field notes and a workspace.

``write_world(dir)`` builds ``facts.sqlite`` and ``notes/*.md`` from
:mod:`thinkact.train.world_data` (the shipped copy lies in ``assets/world``).
:class:`WorldTools` runs the real built-in tools (python, files, facts, search) over that
world in a scratch workspace: training trajectories record what they return, and evaluation
lets the model call them. The one rule: no tool output in a trajectory is ever written by
hand.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from thinkact.messages import ToolCall, ToolResult
from thinkact.tools.base import Tool, ToolContext
from thinkact.tools.toolset import Toolset
from thinkact.train.world_data import CITIES, COUNTRIES, STATIONS, note_filename, station_note

WORLD_DIR = Path(__file__).resolve().parent.parent / "assets" / "world"
WORLD_TOOLS = ("python", "files", "facts", "search")

SCHEMA = """\
CREATE TABLE country (name TEXT PRIMARY KEY, capital TEXT NOT NULL, continent TEXT NOT NULL,
  population INTEGER NOT NULL, area_km2 INTEGER NOT NULL, un_joined INTEGER NOT NULL);
CREATE TABLE city (name TEXT PRIMARY KEY, country TEXT NOT NULL REFERENCES country(name),
  population INTEGER NOT NULL);
"""


def write_world(out: Path) -> Path:
    """Write ``facts.sqlite`` and ``notes/`` under ``out`` (replacing what is there)."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "facts.sqlite"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO country VALUES (?, ?, ?, ?, ?, ?)", COUNTRIES)
        conn.executemany("INSERT INTO city VALUES (?, ?, ?)", CITIES)
        conn.commit()
    finally:
        conn.close()
    notes = out / "notes"
    shutil.rmtree(notes, ignore_errors=True)
    notes.mkdir()
    for s in STATIONS:
        (notes / note_filename(s)).write_text(station_note(s))
    return out


class WorldTools:
    """The real tools over the bundled world, called synchronously (one event loop inside)."""

    def __init__(self, world: Path = WORLD_DIR) -> None:
        from thinkact.tools.builtin.search import SearchTool
        from thinkact.tools.builtin.search.index import SearchIndex
        from thinkact.tools.registry import build_tools

        self._tmp = Path(tempfile.mkdtemp(prefix="thinkact-world-"))
        index_path = self._tmp / "index.sqlite"
        index = SearchIndex(index_path)
        index.index_folder(world / "notes")
        index.close()
        self.loop = asyncio.new_event_loop()
        self._runs = 0
        self.workspace = self._tmp / "ws0"
        self.workspace.mkdir()
        tools: list[Tool] = build_tools(["python", "files", "facts"], workspace=self.workspace,
                                        facts_db=world / "facts.sqlite")
        tools.append(SearchTool(index_path))
        self.index_path = index_path
        self.facts_db = world / "facts.sqlite"
        self.toolset = Toolset(tools)
        self.ctx = ToolContext(run_id="world-0", workspace=self.workspace)

    def new_run(self, fresh_kernel: bool = False) -> None:
        """An empty workspace for what comes next; ``fresh_kernel``: a new python kernel too
        (a run of the agent loop always gets one; generating many trajectories reuses it)."""
        for child in self.workspace.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        if fresh_kernel:
            self._runs += 1
            self.ctx = ToolContext(run_id=f"world-{self._runs}", workspace=self.workspace)

    def call(self, call_id: str, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Run one real tool call, as the agent loop's toolset would."""
        call = ToolCall(id=call_id, name=name, arguments=json.dumps(arguments,
                                                                    ensure_ascii=False))
        return self.loop.run_until_complete(self.toolset.call(call, self.ctx))

    def close(self) -> None:
        self.loop.run_until_complete(self.toolset.aclose())
        self.loop.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> WorldTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
