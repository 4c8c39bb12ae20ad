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
from pathlib import Path
from typing import TYPE_CHECKING

from thinkact.paths import cache_dir
from thinkact.train.world import WORLD_DIR, WORLD_TOOLS

if TYPE_CHECKING:
    from thinkact.agent.config import ToolsConfig


def world_index(notes: Path | None = None) -> Path:
    """The search index over ``notes`` (default: the bundled ones), built on first use in the
    cache dir (where that cannot be written: in the temp dir)."""
    notes = (notes or WORLD_DIR / "notes").resolve()
    digest = hashlib.sha256(str(notes).encode())
    for path in sorted(p for p in notes.rglob("*") if p.is_file()):
        digest.update(path.relative_to(notes).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    name = f"notes-{digest.hexdigest()[:16]}.sqlite"
    folders = (cache_dir() / "world", Path(tempfile.gettempdir()) / f"thinkact-{os.getuid()}")
    errors = []
    for folder in folders:
        index = folder / name
        try:
            if not index.exists():
                _build(notes, index)
            return index
        except (OSError, sqlite3.Error) as exc:
            errors.append(f"{folder}: {exc}")
    raise OSError("cannot write the search index of the bundled notes: " + "; ".join(errors))


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
            pass
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
