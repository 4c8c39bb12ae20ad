"""The ``search`` tool as the model calls it, the SearXNG backend, and ``thinkact index``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.docs_corpus import DOCS, write_corpus
from support.docs_server import Route, serve
from thinkact.cli.main import app
from thinkact.tools.base import Tool, ToolContext, ToolError
from thinkact.tools.builtin.search import (
    SearchIndex,
    SearchTool,
    doc_id_for,
    web_backend_from_config,
)
from thinkact.tools.builtin.search.web import SearXNGBackend
from thinkact.untrusted import is_marked


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    write_corpus(root)
    db = tmp_path / "index.sqlite"
    ix = SearchIndex(db)
    ix.index_folder(root)
    ix.close()
    return db


async def test_search_tool_returns_cited_results(indexed: Path, tmp_path: Path) -> None:
    tool = SearchTool(indexed)
    assert isinstance(tool, Tool)
    assert "source" not in tool.spec.parameters["properties"]  # no web unless configured
    out = await tool.call({"query": "tallest basalt column", "limit": 2}, ToolContext())
    basalt = doc_id_for("geology/basalt.html")
    assert f"[1] Basalt columns of Fingal Ridge  (id {basalt}#1; geology/basalt.html)" in out
    assert "**basalt**" in out.lower()
    assert out.count("\n[") <= 2
    assert is_marked(out)  # document text is data for the model, not instructions
    await tool.aclose()


async def test_a_served_folder_gives_urls_instead_of_ids(indexed: Path, tmp_path: Path) -> None:
    tool = SearchTool(indexed, served={tmp_path / "notes": "http://127.0.0.1:9/docs"})
    out = await tool.call({"query": "tallest basalt column", "limit": 2}, ToolContext())
    url = "http://127.0.0.1:9/docs/geology/basalt.html"
    assert f"[1] Basalt columns of Fingal Ridge  ({url}; passage #1)" in out
    assert f'browse(url="{url}"); cite documents by URL.' in out
    assert doc_id_for("geology/basalt.html") not in out
    await tool.aclose()
    other = SearchTool(indexed, served={tmp_path / "elsewhere": "http://127.0.0.1:9/"})
    assert "cite documents by id" in await other.call({"query": "basalt"}, ToolContext())
    await other.aclose()


async def test_search_tool_errors_are_for_the_model(indexed: Path, tmp_path: Path) -> None:
    tool = SearchTool(indexed)
    with pytest.raises(ToolError, match="non-empty"):
        await tool.call({"query": "  "}, ToolContext())
    with pytest.raises(ToolError, match="web search is not configured"):
        await tool.call({"query": "heron", "source": "web"}, ToolContext())
    empty = SearchTool(tmp_path / "empty.sqlite")
    with pytest.raises(ToolError, match="thinkact index"):
        await empty.call({"query": "heron"}, ToolContext())
    nothing = await tool.call({"query": "xylophone"}, ToolContext())
    assert nothing.count("No local documents match") == 1
    await tool.aclose()
    await empty.aclose()


async def test_searxng_backend_against_loopback_server(indexed: Path) -> None:
    seen: list[dict[str, list[str]]] = []

    def results(query: dict[str, list[str]]) -> bytes:
        seen.append(query)
        return json.dumps({"results": [
            {"title": f"Result {i} for {query['q'][0]}", "url": f"https://example.org/{i}",
             "content": f"snippet {i}"} for i in range(8)
        ]}).encode()

    with serve({"/search": Route(results, content_type="application/json")}) as server:
        backend = web_backend_from_config({"backend": "searxng", "url": server.base + "/"})
        assert isinstance(backend, SearXNGBackend)
        tool = SearchTool(indexed, web=backend)
        assert tool.spec.parameters["properties"]["source"]["enum"] == ["local", "web"]
        out = await tool.call({"query": "heron nests", "source": "web", "limit": 3},
                              ToolContext())
        local = await tool.call({"query": "heron nests"}, ToolContext())
    assert seen == [{"q": ["heron nests"], "format": ["json"]}]
    assert "[3] Result 2 for heron nests" in out and "https://example.org/2" in out
    assert "[4]" not in out
    assert "Grey heron" in local and "example.org" not in local
    await tool.aclose()


def test_web_backend_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert web_backend_from_config(None) is None
    assert web_backend_from_config({}) is None
    with pytest.raises(ValueError, match="needs a 'url'"):
        web_backend_from_config({"backend": "searxng"})
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"\$BRAVE_API_KEY"):
        web_backend_from_config({"backend": "brave"})
    monkeypatch.setenv("MY_KEY", "k")
    assert web_backend_from_config({"backend": "tavily", "api_key_env": "MY_KEY"}) is not None
    with pytest.raises(ValueError, match="unknown web search backend"):
        web_backend_from_config({"backend": "altavista"})


def test_index_command_reports_counts(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    write_corpus(root)
    db = tmp_path / "cli.sqlite"
    runner = CliRunner()
    first = runner.invoke(app, ["index", str(root), "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert f"added {len(DOCS)}, updated 0, removed 0, unchanged 0" in first.output
    (root / "birds/kestrel.md").unlink()
    second = runner.invoke(app, ["index", str(root), "--db", str(db)])
    assert f"added 0, updated 0, removed 1, unchanged {len(DOCS) - 1}" in second.output
    assert f"({len(DOCS) - 1} documents)" in second.output
    bad = runner.invoke(app, ["index", str(tmp_path / "missing"), "--db", str(db)])
    assert bad.exit_code == 2 and "not a folder" in bad.output


async def test_search_then_browse_through_the_agent_loop(indexed: Path, tmp_path: Path) -> None:
    """A scripted model searches, opens the top result by its id, and cites it."""
    import re
    from collections.abc import Sequence

    from thinkact.agent import Agent
    from thinkact.backends import ScriptedBackend
    from thinkact.messages import Message, ToolCall
    from thinkact.tools.builtin.browse import BrowseTool

    def policy(messages: Sequence[Message]) -> Message:
        tool_msgs = [m for m in messages if m.role == "tool"]
        if not tool_msgs:
            return Message(role="assistant", reasoning="look it up", tool_calls=[ToolCall(
                id="functions.search:0", name="search",
                arguments='{"query": "strongest gust storm Orla"}')])
        if len(tool_msgs) == 1:
            cited = re.search(r"id ([0-9a-f]{12}#\d+)", tool_msgs[0].content or "")
            assert cited, tool_msgs[0].content
            return Message(role="assistant", reasoning="read it", tool_calls=[ToolCall(
                id="functions.browse:1", name="browse",
                arguments=json.dumps({"url": cited.group(1)}))])
        gust = re.search(r"gust of (\d+) knots", tool_msgs[1].content or "")
        source = re.search(r"Source: ([0-9a-f]{12})", tool_msgs[1].content or "")
        assert gust and source, tool_msgs[1].content
        return Message(role="assistant", content=f"{gust.group(1)} knots [{source.group(1)}]")

    tools = [SearchTool(indexed), BrowseTool(tmp_path, index_path=indexed, render="never")]
    async with Agent(ScriptedBackend(policy), tools=tools, workspace=tmp_path) as agent:
        result = await agent.arun("What was the strongest gust during storm Orla?")
    assert result.status == "completed", result.reason
    assert result.answer == f"97 knots [{doc_id_for('weather/wind.txt')}]"
