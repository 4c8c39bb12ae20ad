"""A local search index: SQLite FTS5 (BM25) over passages of the documents in some folders.

Documents are identified by a short hash of their path relative to the indexed root, so a
citation such as ``3f2a9c01b7e4#2`` (document id, passage number) survives re-indexing and
moving the whole folder. Re-indexing is incremental: size+mtime decide whether a file is
re-read, a content hash decides whether it is re-split, deleted files are dropped.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from thinkact.paths import data_dir
from thinkact.sqlite_wal import switch_to_wal
from thinkact.tools.builtin.search.extract import (
    ExtractionError,
    chunk_text,
    extract_file,
    kind_for_suffix,
)

ProgressFn = Callable[[int, int, str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS roots (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, root_id INTEGER NOT NULL REFERENCES roots(id),
    relpath TEXT NOT NULL, title TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL, indexed_at REAL NOT NULL, UNIQUE (root_id, relpath));
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, passage_no INTEGER NOT NULL,
    start INTEGER NOT NULL, title TEXT NOT NULL, heading TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, heading, body, content='passages', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, title, heading, body)
    VALUES (new.id, new.title, new.heading, new.body); END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, title, heading, body)
    VALUES ('delete', old.id, old.title, old.heading, old.body); END;
"""

# Words that carry no signal in a question; dropped so "how do I ..." matches content words.
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "of", "on", "or", "the", "to", "what", "when", "where", "which",
    "who", "why", "with", "you", "my", "me", "use", "using",
})
_WORD = re.compile(r"\w+", re.UNICODE)
# title, heading, body: a hit in the title or section heading says more than one in the body.
_BM25 = "bm25(passages_fts, 4.0, 2.0, 1.0)"


def default_index_path() -> Path:
    """``$THINKACT_INDEX``, else ``index.sqlite`` in the data dir (beside the traces)."""
    if env := os.environ.get("THINKACT_INDEX"):
        return Path(env).expanduser()
    return data_dir() / "index.sqlite"


def doc_id_for(relpath: str) -> str:
    return hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:12]


@dataclass
class IndexStats:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    passages: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SearchHit:
    """One document in a result list, with its best passage (and others that matched)."""

    doc_id: str
    title: str
    path: Path
    passage_no: int
    heading: str
    snippet: str
    score: float
    more_passages: list[int] = field(default_factory=list)

    @property
    def citation(self) -> str:
        return f"{self.doc_id}#{self.passage_no}"


@dataclass
class DocumentRecord:
    doc_id: str
    title: str
    path: Path
    root: Path


@dataclass
class PassageRecord:
    doc_id: str
    passage_no: int
    start: int
    heading: str
    body: str


def build_match_query(query: str, *, any_term: bool = False) -> str | None:
    """User text -> FTS5 expression: quoted terms (no operator injection), AND or OR'd."""
    words = [w.lower() for w in _WORD.findall(query)]
    terms = [w for w in words if w not in _STOPWORDS] or words
    unique = list(dict.fromkeys(terms))
    if not unique:
        return None
    return (" OR " if any_term else " ").join(f'"{t}"' for t in unique)


class SearchIndex:
    """Thread-safe handle on one index database (queries may run in worker threads)."""

    def __init__(self, db_path: Path | str | None = None) -> None:
        self.db_path = Path(db_path) if db_path is not None else default_index_path()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.db_path), check_same_thread=False)
        switch_to_wal(self._db, 5.0)  # sqlite3.connect's own busy timeout
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- indexing ---------------------------------------------------------------------------

    def _root_id(self, root: Path) -> int:
        self._db.execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (str(root),))
        row = self._db.execute("SELECT id FROM roots WHERE path=?", (str(root),)).fetchone()
        return int(row[0])

    @staticmethod
    def _walk(root: Path) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and kind_for_suffix(Path(name).suffix):
                    yield Path(dirpath) / name

    def index_folder(self, root: Path | str, progress: ProgressFn | None = None) -> IndexStats:
        """Bring the index for ``root`` up to date; returns what changed."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"not a folder: {root}")
        files = list(self._walk(root))
        stats = IndexStats()
        with self._lock:
            root_id = self._root_id(root)
            known = {
                rel: (doc_id, size, mtime)
                for doc_id, rel, size, mtime in self._db.execute(
                    "SELECT doc_id, relpath, size, mtime_ns FROM documents WHERE root_id=?",
                    (root_id,),
                )
            }
            self._db.commit()
        seen: set[str] = set()
        for n, path in enumerate(files, 1):
            rel = path.relative_to(root).as_posix()
            seen.add(rel)
            if progress:
                progress(n, len(files), rel)
            st = path.stat()
            old = known.get(rel)
            if old and old[1] == st.st_size and old[2] == st.st_mtime_ns:
                stats.unchanged += 1
                continue
            try:
                outcome = self._index_file(root_id, root, path, rel, st, old[0] if old else None)
            except (ExtractionError, OSError, UnicodeError) as exc:
                stats.failed.append((rel, str(exc)))
                continue
            if outcome == "added":
                stats.added += 1
            elif outcome == "updated":
                stats.updated += 1
            else:
                stats.unchanged += 1
        with self._lock:
            for rel, (doc_id, _, _) in known.items():
                if rel not in seen:
                    self._delete_doc(doc_id)
                    stats.removed += 1
            self._db.commit()
            stats.passages = self._db.execute(
                "SELECT count(*) FROM passages p JOIN documents d USING(doc_id) WHERE root_id=?",
                (root_id,),
            ).fetchone()[0]
        return stats

    def _delete_doc(self, doc_id: str) -> None:
        self._db.execute("DELETE FROM passages WHERE doc_id=?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))

    def _index_file(
        self, root_id: int, root: Path, path: Path, rel: str, st: os.stat_result,
        old_id: str | None,
    ) -> str:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM documents WHERE doc_id=?", (old_id,)
            ).fetchone() if old_id else None
            if row and row[0] == digest:  # touched, not changed: just remember the new mtime
                self._db.execute(
                    "UPDATE documents SET size=?, mtime_ns=? WHERE doc_id=?",
                    (st.st_size, st.st_mtime_ns, old_id),
                )
                self._db.commit()
                return "unchanged"
        doc = extract_file(path)  # outside the lock: this is the slow part
        doc_id = old_id or self._free_doc_id(rel, root)
        with self._lock:
            if old_id:
                self._delete_doc(old_id)
            self._db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
                (doc_id, root_id, rel, doc.title, st.st_size, st.st_mtime_ns, digest, time.time()),
            )
            self._db.executemany(
                "INSERT INTO passages(doc_id, passage_no, start, title, heading, body) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (doc_id, i, c.start, doc.title, c.heading, c.text)
                    for i, c in enumerate(chunk_text(doc.text), 1)
                ],
            )
            self._db.commit()
        return "updated" if old_id else "added"

    def _free_doc_id(self, rel: str, root: Path) -> str:
        """The relative-path hash; a second root holding the same relative path gets a
        hash that also covers its root (rare, and still stable for that root)."""
        doc_id = doc_id_for(rel)
        with self._lock:
            taken = self._db.execute("SELECT 1 FROM documents WHERE doc_id=?", (doc_id,))
            if taken.fetchone() is None:
                return doc_id
        return doc_id_for(f"{root}/{rel}")

    # -- reading ----------------------------------------------------------------------------

    def roots(self) -> list[Path]:
        with self._lock:
            return [Path(r[0]) for r in self._db.execute("SELECT path FROM roots ORDER BY id")]

    def document_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM documents").fetchone()[0])

    def document(self, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT d.doc_id, d.title, d.relpath, r.path FROM documents d "
                "JOIN roots r ON r.id = d.root_id WHERE d.doc_id=?",
                (doc_id,),
            ).fetchone()
        if row is None:
            return None
        return DocumentRecord(row[0], row[1], Path(row[3]) / row[2], Path(row[3]))

    def passages(self, doc_id: str) -> list[PassageRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, passage_no, start, heading, body FROM passages "
                "WHERE doc_id=? ORDER BY passage_no",
                (doc_id,),
            ).fetchall()
        return [PassageRecord(*r) for r in rows]

    def all_passages(self) -> list[PassageRecord]:
        """Every passage (for benchmarks comparing against a linear scan)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, passage_no, start, heading, body FROM passages"
            ).fetchall()
        return [PassageRecord(*r) for r in rows]

    def search(self, query: str, limit: int = 5, per_doc: int = 3) -> list[SearchHit]:
        """Best documents for ``query`` by their best passage's BM25 score.

        All-terms matches rank first; when they are fewer than ``limit`` documents, any-term
        matches fill the list, so a question with one unusual word still finds something.
        Ranking reads only rowids and scores; snippets are built for the winners alone."""
        best: dict[str, tuple[int, int, float, list[int], str]] = {}
        for any_term in (False, True):
            expr = build_match_query(query, any_term=any_term)
            if expr is None:
                return []
            with self._lock:
                rows = self._db.execute(
                    f"SELECT passages_fts.rowid, p.doc_id, p.passage_no, {_BM25} AS score "
                    "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
                    "WHERE passages_fts MATCH ? ORDER BY score LIMIT ?",
                    (expr, limit * per_doc * 4),
                ).fetchall()
            for rowid, doc_id, no, score in rows:
                entry = best.get(doc_id)
                if entry is None:
                    if len(best) < limit:
                        best[doc_id] = (rowid, no, -float(score), [], expr)
                elif len(entry[3]) < per_doc - 1 and no != entry[1] and no not in entry[3]:
                    entry[3].append(no)
            if len(best) >= limit:
                break
        hits = []
        with self._lock:
            for doc_id, (rowid, no, score, more, expr) in best.items():
                row = self._db.execute(
                    "SELECT snippet(passages_fts, 2, '**', '**', ' … ', 24), p.heading, d.title, "
                    "r.path, d.relpath FROM passages_fts "
                    "JOIN passages p ON p.id = passages_fts.rowid "
                    "JOIN documents d ON d.doc_id = p.doc_id JOIN roots r ON r.id = d.root_id "
                    "WHERE passages_fts MATCH ? AND passages_fts.rowid = ?",
                    (expr, rowid),
                ).fetchone()
                snippet, heading, title, root, rel = row
                hits.append(SearchHit(doc_id, title, Path(root) / rel, no, heading, snippet,
                                      score, more))
        return hits
