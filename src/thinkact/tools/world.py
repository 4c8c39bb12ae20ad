"""The bundled world's tools, as the bundled model was trained to call them.

python, files, facts over the bundled ``facts.sqlite`` and search over the bundled notes,
declared in that order. The one rule: the notes' search index is built once into the cache
dir, under a name that changes when the notes (or where they lie) change, so it is never
stale and never rebuilt while it is in use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from thinkact.paths import cache_dir
from thinkact.train.world import WORLD_DIR, WORLD_TOOLS

if TYPE_CHECKING:
    from thinkact.agent.config import ToolsConfig


def world_index(notes: Path | None = None) -> Path:
    """The search index over ``notes`` (default: the bundled ones), built on first use."""
    from thinkact.tools.builtin.search.index import SearchIndex

    notes = (notes or WORLD_DIR / "notes").resolve()
    digest = hashlib.sha256(str(notes).encode())
    for path in sorted(p for p in notes.rglob("*") if p.is_file()):
        digest.update(path.relative_to(notes).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    index = cache_dir() / "world" / f"notes-{digest.hexdigest()[:16]}.sqlite"
    if not index.exists():
        index.parent.mkdir(parents=True, exist_ok=True)
        # built aside, then renamed: a process that finds the file finds it whole
        tmp = index.with_name(f"{index.stem}.{os.getpid()}.tmp")
        built = SearchIndex(tmp)
        try:
            built.index_folder(notes)
        finally:
            built.close()
        os.replace(tmp, index)
    return index


def world_tools(given: ToolsConfig) -> ToolsConfig:
    """``given`` with the world's tools by name, its database and its index (the options
    ``given`` has for a tool stay, and win)."""
    search = {"index_path": str(world_index()), **given.options.get("search", {})}
    return given.model_copy(update={
        "names": list(WORLD_TOOLS), "facts_db": str(WORLD_DIR / "facts.sqlite"),
        "options": {**given.options, "search": search}})
