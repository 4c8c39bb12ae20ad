"""The bundled world's tools, as the bundled model was trained to call them.

python, files, facts over the bundled ``facts.sqlite`` and search over the bundled notes,
declared in that order. The one rule: the notes' search index is built once into the cache
dir, under a name that changes when the notes (or where they lie) change, so it is never
stale and never rebuilt while it is in use.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from thinkact.paths import cache_dir
from thinkact.train.world import WORLD_DIR, WORLD_TOOLS

if TYPE_CHECKING:
    from thinkact.agent.config import AgentConfig, ToolsConfig


def world_index(notes: Path | None = None) -> Path:
    """The search index over ``notes`` (default: the bundled ones), built on first use in the
    cache dir (where that cannot be written: in a private temp dir of this process)."""
    notes = (notes or WORLD_DIR / "notes").resolve()
    digest = hashlib.sha256(str(notes).encode())
    for path in sorted(p for p in notes.rglob("*") if p.is_file()):
        digest.update(path.relative_to(notes).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    name = f"notes-{digest.hexdigest()[:16]}.sqlite"
    try:
        index = cache_dir() / "world" / name
        if not _complete(index):
            _build(notes, index)
        return index
    except (OSError, sqlite3.Error) as first:
        # never a shared temp folder: another user could plant an index there first
        try:
            index = Path(tempfile.mkdtemp(prefix="thinkact-world-")) / name
            _build(notes, index)
        except (OSError, sqlite3.Error) as exc:
            raise OSError("cannot write the search index of the bundled notes: "
                          f"{first}; {exc}") from exc
        return index


def _complete(index: Path) -> bool:
    """Whether ``index`` is a built index (a search over a missing file leaves an empty one)."""
    if not index.is_file():
        return False
    try:
        with closing(sqlite3.connect(index)) as db:
            return bool(db.execute("SELECT count(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return False


def _build(notes: Path, index: Path) -> None:
    from thinkact.tools.builtin.search.index import SearchIndex

    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_name(f"{index.stem}.{secrets.token_hex(4)}.tmp")  # built aside
    try:
        built = SearchIndex(tmp)
        try:
            built.index_folder(notes)
        finally:
            built.close()
        try:  # a link never replaces an index another process may have open
            os.link(tmp, index)
        except FileExistsError:
            if not _complete(index):  # an empty one left by a search: replace it
                os.replace(tmp, index)
        except OSError:  # no hard links on this file system
            os.replace(tmp, index)
    finally:
        tmp.unlink(missing_ok=True)


def world_tools(given: ToolsConfig) -> ToolsConfig:
    """``given`` with the world's tools by name, its database and its index (the options
    ``given`` has for a tool stay, and win)."""
    search = {"index_path": str(world_index()), **given.options.get("search", {})}
    return given.model_copy(update={
        "names": list(WORLD_TOOLS), "facts_db": str(WORLD_DIR / "facts.sqlite"),
        "options": {**given.options, "search": search}})


def rebuilt_world_index(given: ToolsConfig) -> ToolsConfig:
    """A recorded world config whose index is gone (a cleared cache) pointed at a built one;
    any other config unchanged."""
    search = given.options.get("search", {})
    path = search.get("index_path")
    if given.facts_db != str(WORLD_DIR / "facts.sqlite") or path is None or _complete(
            Path(path)):
        return given
    return given.model_copy(update={
        "options": {**given.options, "search": {**search, "index_path": str(world_index())}}})


def with_embedded_tools(config: AgentConfig) -> AgentConfig:
    """``config`` with the tools the bundled model was trained with (python, files, facts
    and search over the bundled world, ``thinkact.tools.world``) when it runs the bundled
    model and chose no tools (no names, no facts database); else ``config`` itself."""
    from thinkact.backends.embedded import runs_embedded

    tools = config.tools
    if tools.names is not None or tools.facts_db is not None or not runs_embedded(
            config.backend):
        rebuilt = rebuilt_world_index(tools)  # a resumed world run after the cache was cleared
        return config if rebuilt is tools else config.replace(tools=rebuilt)
    return config.replace(tools=world_tools(tools))
