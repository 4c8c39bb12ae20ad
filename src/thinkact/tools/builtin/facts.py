"""``facts``: read-only SQL over a user-supplied SQLite database.

Read-only is enforced by SQLite itself, three times over, never by looking at the SQL text:
the file is opened with ``mode=ro``, ``PRAGMA query_only`` is switched on, and an authorizer
denies every action except reading (SELECT, column reads, functions, recursive CTEs and a few
schema-inspection pragmas). ``sqlite3`` refuses more than one statement per call. A progress
handler aborts queries that run past the time limit; a row limit keeps answers small.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.untrusted import neutralize

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    sqlite3.SQLITE_RECURSIVE}
# Pragmas that only describe the schema, e.g. ``PRAGMA table_info(city)``.
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                 "foreign_key_list", "collation_list"}
# Functions with side effects or file access, in case an extension or build provides them.
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}


def _authorizer(action: int, arg1: str | None, arg2: str | None,
                _db: str | None, _trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class FactsTool:
    """The ``facts`` tool over ``db_path``; its schema is part of the description."""

    def __init__(
        self, db_path: Path | str, *, max_rows: int = 200, time_limit_s: float = 10.0,
        max_cell_chars: int = 300, max_schema_chars: int = 6000, name: str = "facts",
    ) -> None:
        self.db_path = Path(db_path).resolve()
        if not self.db_path.is_file():
            raise ValueError(f"facts database not found: {self.db_path}")
        self.max_rows = max_rows
        self.time_limit_s = time_limit_s
        self.max_cell_chars = max_cell_chars
        self.schema = self._read_schema()
        schema = self.schema
        if len(schema) > max_schema_chars:
            schema = schema[:max_schema_chars] + (
                "\n-- [schema cut; query sqlite_master for the rest]")
        description = (
            "Look up facts with one read-only SQL SELECT on a SQLite database "
            f"({self.db_path.name}). Only SELECT (and WITH ... SELECT) runs; writes, ATTACH, "
            f"PRAGMA changes and multiple statements are refused. At most {max_rows} rows "
            f"are returned (a note says when more matched); queries stop after "
            f"{time_limit_s:g}s. Returns a text table: a header row, then one line per row, "
            "cells separated by ' | ', NULL for missing values.\nSchema:\n" + schema
        )
        self._spec = ToolSpec(
            name=name, description=description,
            parameters={
                "type": "object",
                "properties": {"sql": {"type": "string",
                                       "description": "One SQLite SELECT statement."}},
                "required": ["sql"],
                "additionalProperties": False,
            },
        )

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    def connect(self) -> sqlite3.Connection:
        """A read-only connection with the authorizer installed."""
        uri = f"file:{quote(str(self.db_path))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_authorizer)
        return conn

    def _read_schema(self) -> str:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'table' DESC, name"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"cannot read {self.db_path} as a SQLite database: {exc}") from exc
        finally:
            conn.close()
        return "\n".join(str(r[0]).strip() + ";" for r in rows) or "(no tables)"

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        sql = arguments.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise ToolError("facts needs a non-empty 'sql' string")
        return await asyncio.to_thread(self.query, sql)

    def query(self, sql: str) -> str:
        """Run one read-only statement and render the result (blocking)."""
        conn = self.connect()
        deadline = time.monotonic() + self.time_limit_s
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cur = conn.execute(sql)
            rows = cur.fetchmany(self.max_rows + 1)
            columns = [d[0] for d in cur.description or []]
        except sqlite3.ProgrammingError as exc:
            raise ToolError(f"query refused: {exc}; send exactly one SELECT statement") from None
        except sqlite3.DatabaseError as exc:
            raise ToolError(self._explain(exc)) from None
        finally:
            conn.close()
        if not columns:
            raise ToolError("query refused: the statement returned no result table; "
                            "only SELECT is allowed")
        more = len(rows) > self.max_rows
        return self._table(columns, rows[:self.max_rows], more)

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "interrupted" in text:
            return (f"query stopped after the {self.time_limit_s:g}s time limit; "
                    "add a WHERE clause, an index-friendly filter or a LIMIT")
        if any(k in text for k in ("not authorized", "authorization denied", "readonly")):
            return (f"query refused ({text}): this database is read-only; only SELECT "
                    "statements that read data are allowed")
        return f"SQL error: {text}"

    def _cell(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bytes):
            return f"<{len(value)} bytes>"
        text = neutralize(str(value)).replace("\n", "\\n")
        if len(text) > self.max_cell_chars:
            text = text[:self.max_cell_chars] + "…"
        return text

    def _table(self, columns: list[str], rows: list[Any], more: bool) -> str:
        lines = [" | ".join(columns)]
        lines.append("-" * min(len(lines[0]), 80))
        lines.extend(" | ".join(self._cell(v) for v in row) for row in rows)
        if more:
            lines.append(f"[only the first {self.max_rows} rows are shown; more rows matched. "
                         "Narrow the query or aggregate.]")
        else:
            lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
        return "\n".join(lines)

    async def aclose(self) -> None:
        return None
