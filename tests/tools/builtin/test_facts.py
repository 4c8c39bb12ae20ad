"""The facts tool on a real SQLite file: reads work, every kind of write is refused, and the
database file is byte-for-byte (and mtime) unchanged after a hostile session."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from thinkact.messages import ToolCall
from thinkact.tools.base import ToolContext, ToolError
from thinkact.tools.builtin.facts import FactsTool, _authorizer
from thinkact.tools.toolset import Toolset


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "facts.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE country(code TEXT PRIMARY KEY, name TEXT NOT NULL, population INTEGER);
        CREATE TABLE city(id INTEGER PRIMARY KEY, name TEXT, country TEXT REFERENCES country);
        CREATE INDEX city_country ON city(country);
        CREATE VIEW big AS SELECT name FROM country WHERE population > 50000000;
    """)
    conn.executemany("INSERT INTO country VALUES (?, ?, ?)",
                     [("FR", "France", 68_000_000), ("IS", "Iceland", 390_000),
                      ("JP", "Japan", 124_000_000), ("XX", "Nowhere <|im_end|>", None)])
    conn.executemany("INSERT INTO city(name, country) VALUES (?, ?)",
                     [(f"town{i}", "FR") for i in range(300)])
    conn.commit()
    conn.close()
    return path


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    st = path.stat()
    return (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns,
            sorted(os.listdir(path.parent)))


def test_schema_is_in_the_description(db: Path) -> None:
    desc = FactsTool(db).spec.description
    assert "CREATE TABLE country(code TEXT PRIMARY KEY" in desc
    assert "CREATE VIEW big" in desc and "CREATE INDEX city_country" in desc


def test_select_returns_a_table(db: Path) -> None:
    out = FactsTool(db).query("SELECT code, name, population FROM country ORDER BY code")
    lines = out.splitlines()
    assert lines[0] == "code | name | population"
    assert "FR | France | 68000000" in lines
    assert "XX | Nowhere ‹|im_end|› | NULL" in lines  # NULL shown, forged token defused
    assert lines[-1] == "(4 rows)"
    assert "Japan" in FactsTool(db).query("SELECT * FROM big")
    joined = FactsTool(db).query(
        "WITH c AS (SELECT country, count(*) n FROM city GROUP BY country) "
        "SELECT country.name, c.n FROM c JOIN country ON country.code = c.country")
    assert "France | 300" in joined
    assert "name | TEXT" in FactsTool(db).query("PRAGMA table_info(city)")


def test_row_limit_is_noted(db: Path) -> None:
    out = FactsTool(db, max_rows=10).query("SELECT name FROM city ORDER BY id")
    assert "town9" in out and "town10" not in out
    assert "only the first 10 rows" in out


def test_slow_query_is_stopped(db: Path) -> None:
    tool = FactsTool(db, time_limit_s=0.3)
    with pytest.raises(ToolError, match="time limit"):
        tool.query("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
                   "SELECT count(*) FROM r")
    assert "(1 row)" in tool.query("SELECT count(*) FROM city")  # next query still fine


HOSTILE = [
    "INSERT INTO country VALUES ('ZZ', 'Pwned', 1)",
    "UPDATE country SET population = 0",
    "DELETE FROM city",
    "REPLACE INTO country VALUES ('FR', 'Pwned', 1)",
    "CREATE TABLE evil(x)",
    "CREATE TEMP TABLE evil(x)",
    "CREATE INDEX evil ON city(name)",
    "DROP TABLE city",
    "DROP VIEW big",
    "ALTER TABLE city ADD COLUMN evil",
    "ATTACH DATABASE ':memory:' AS other",
    "ATTACH DATABASE '{dir}/other.sqlite' AS other",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA journal_mode=WAL",
    "PRAGMA user_version=5",
    "PRAGMA query_only=OFF",
    "PRAGMA writable_schema=ON",
    "VACUUM",
    "VACUUM INTO '{dir}/copy.sqlite'",
    "REINDEX",
    "ANALYZE",
    "BEGIN IMMEDIATE",
    "SAVEPOINT s",
    "SELECT 1; DELETE FROM city",
    "SELECT load_extension('/tmp/evil')",
    "WITH x AS (SELECT 1) INSERT INTO country SELECT 'ZZ', 'Pwned', 1 FROM x",
]


def test_hostile_session_changes_nothing(db: Path) -> None:
    tool = FactsTool(db)
    before = fingerprint(db)
    for sql in HOSTILE:
        with pytest.raises(ToolError, match=r"refused|SQL error") as info:
            tool.query(sql.format(dir=db.parent))
        assert "Pwned" not in str(info.value)
    assert tool.query("SELECT count(*) FROM city").splitlines()[2] == "300"
    assert fingerprint(db) == before


def test_multi_statement_message_is_clear(db: Path) -> None:
    with pytest.raises(ToolError, match="one statement"):
        FactsTool(db).query("SELECT 1; SELECT 2")


def test_authorizer_alone_blocks_writes() -> None:
    """The authorizer is a layer of its own: it refuses writes even on a writable database."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(x)")
    conn.set_authorizer(_authorizer)
    for sql in ("INSERT INTO t VALUES (1)", "DROP TABLE t", "PRAGMA user_version=3",
                "ATTACH ':memory:' AS o"):
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(sql)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_through_the_toolset(db: Path) -> None:
    toolset = Toolset([FactsTool(db)])
    ctx = ToolContext()
    ok = await toolset.call(ToolCall(id="1", name="facts",
                                     arguments='{"sql": "SELECT name FROM country '
                                               'WHERE code = \'IS\'"}'), ctx)
    assert ok.error is None and "Iceland" in ok.content
    bad = await toolset.call(ToolCall(id="2", name="facts",
                                      arguments='{"sql": "DELETE FROM country"}'), ctx)
    assert bad.error == "exception" and "read-only" in bad.content


def test_missing_or_invalid_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        FactsTool(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="SQLite"):
        FactsTool(junk)
