"""MCP servers as tools: a third-party server from PyPI (mcp-server-time) and our own, over
stdio and streamable HTTP, called directly, through the Toolset and through the agent loop."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from thinkact.agent import Agent
from thinkact.backends import ScriptedBackend
from thinkact.messages import Message, ToolCall
from thinkact.tools import Toolset
from thinkact.tools.base import Tool, ToolContext, ToolError
from thinkact.tools.mcp_client import (
    MCPServerConfig,
    MCPToolset,
    connect_mcp,
    load_mcp_servers,
    tool_name,
)
from thinkact.untrusted import is_marked

NOTES_SERVER = Path(__file__).parents[1] / "support" / "mcp_fieldnotes_server.py"
CONFIG = {
    "providers": {"x": {}},  # other sections of the same config file are ignored
    "mcp": {"servers": {
        "time": {"command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "fieldnotes": {"command": sys.executable, "args": [str(NOTES_SERVER), "stdio"],
                       "timeout": 30, "stderr": "discard"},
        "off": {"command": "nothing", "enabled": False},
    }},
}


@pytest.fixture
async def stdio_tools() -> AsyncIterator[MCPToolset]:
    toolset = await connect_mcp(load_mcp_servers(CONFIG))
    yield toolset
    await toolset.aclose()


def by_name(toolset: MCPToolset) -> dict[str, Tool]:
    return {t.spec.name: t for t in toolset.tools}


def test_load_mcp_servers() -> None:
    servers = load_mcp_servers(CONFIG)
    assert [s.name for s in servers] == ["time", "fieldnotes"]
    assert servers[1].timeout == 30.0 and servers[0].url is None
    http = load_mcp_servers({"servers": {"remote": {"url": "http://127.0.0.1:9/mcp"}}})
    assert http[0].url == "http://127.0.0.1:9/mcp" and http[0].command is None
    with pytest.raises(ValueError, match="exactly one of 'command'"):
        load_mcp_servers({"servers": {"both": {"command": "x", "url": "http://y"}}})
    with pytest.raises(ValueError, match=r"unknown keys \['comand'\]"):
        load_mcp_servers({"servers": {"typo": {"comand": "x"}}})
    assert tool_name("my server", "do.it") == "my_server__do_it"
    assert len(tool_name("s" * 50, "t" * 50)) == 64


async def test_third_party_time_server(stdio_tools: MCPToolset) -> None:
    tools = by_name(stdio_tools)
    assert {"time__get_current_time", "time__convert_time"} <= set(tools)
    convert = tools["time__convert_time"]
    assert isinstance(convert, Tool)
    assert set(convert.spec.parameters["required"]) == {
        "source_timezone", "time", "target_timezone"}
    assert "Convert time between timezones" in convert.spec.description
    out = await convert.call({"source_timezone": "UTC", "time": "12:00",
                              "target_timezone": "Asia/Tokyo"}, ToolContext())
    data = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert data["target"]["datetime"].endswith("T21:00:00+09:00")
    assert data["time_difference"] == "+9.0h"
    with pytest.raises(ToolError, match="Invalid timezone"):
        await tools["time__get_current_time"].call({"timezone": "Nowhere/Atlantis"},
                                                    ToolContext())


async def test_own_server_over_stdio(stdio_tools: MCPToolset) -> None:
    tools = by_name(stdio_tools)
    assert {"fieldnotes__add", "fieldnotes__count_sightings", "fieldnotes__photo"} <= set(tools)
    added = await tools["fieldnotes__add"].call({"a": 2, "b": 40}, ToolContext())
    assert "42" in added and is_marked(added)  # third-party output is fenced as data
    photo = await tools["fieldnotes__photo"].call({"species": "heron"}, ToolContext())
    assert "[image content: image/png" in photo
    with pytest.raises(ToolError, match="no sightings recorded for 'dodo'"):
        await tools["fieldnotes__count_sightings"].call({"species": "dodo"}, ToolContext())
    # concurrent calls on one session from several tasks
    results = await asyncio.gather(*(
        tools["fieldnotes__add"].call({"a": i, "b": 1000}, ToolContext()) for i in range(8)))
    assert [str(1000 + i) in r for i, r in enumerate(results)] == [True] * 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(NOTES_SERVER), "http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, "MCP HTTP server exited"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_own_server_over_streamable_http(http_server: str) -> None:
    servers = load_mcp_servers({"mcp": {"servers": {"notes": {"url": http_server}}}})
    async with await connect_mcp(servers) as toolset:
        tools = by_name(toolset)
        assert set(tools) == {"notes__add", "notes__count_sightings", "notes__photo"}
        out = await tools["notes__count_sightings"].call({"species": "egret"}, ToolContext())
        assert "egret: 112 counted" in out
        assert "5" in await tools["notes__add"].call({"a": 2, "b": 3}, ToolContext())


async def test_server_log_goes_to_configured_file(tmp_path: Path) -> None:
    log = tmp_path / "time.log"
    servers = load_mcp_servers({"servers": {"t": {
        "command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        "stderr": str(log), "tools": ["get_current_time"]}}})
    async with await connect_mcp(servers) as toolset:
        assert toolset.tool_names() == ["t__get_current_time"]  # filtered by `tools`
        with pytest.raises(ToolError):
            await toolset.tools[0].call({"timezone": "Bad/Zone"}, ToolContext())
    assert "Bad/Zone" in log.read_text()


async def test_unreachable_server_is_named() -> None:
    bad = [MCPServerConfig(name="ghost", command=sys.executable, args=["-c", "raise SystemExit(3)"],
                           timeout=10)]
    with pytest.raises(ConnectionError, match="MCP server 'ghost'"):
        await connect_mcp(bad)


async def test_through_toolset_and_agent_loop(stdio_tools: MCPToolset, tmp_path: Path) -> None:
    from thinkact.tools.registry import build_tools

    # remote tools sit beside built-in ones in one toolset
    toolset = Toolset([*build_tools(["files"], workspace=tmp_path), *stdio_tools.tools])
    direct = await toolset.call(ToolCall(id="c0", name="fieldnotes__count_sightings",
                                         arguments='{"species": "heron"}'), ToolContext())
    assert direct.ok and "heron: 41 counted" in direct.content
    refused = await toolset.call(ToolCall(id="c1", name="fieldnotes__add",
                                          arguments='{"a": "two"}'), ToolContext())
    assert not refused.ok  # schema from the server is enforced before the call

    def policy(messages: Sequence[Message]) -> Message:
        tool_msgs = [m for m in messages if m.role == "tool"]
        if not tool_msgs:
            return Message(role="assistant", reasoning="ask both servers", tool_calls=[
                ToolCall(id="functions.time__convert_time:0", name="time__convert_time",
                         arguments=json.dumps({"source_timezone": "UTC", "time": "08:30",
                                               "target_timezone": "Europe/Paris"})),
                ToolCall(id="functions.fieldnotes__count_sightings:1",
                         name="fieldnotes__count_sightings", arguments='{"species": "kestrel"}'),
            ])
        return Message(role="assistant", content=" | ".join(m.content or "" for m in tool_msgs))

    backend = ScriptedBackend(policy)
    agent = Agent(backend, tools=toolset)
    result = await agent.arun("when and how many?")
    assert result.status == "completed"
    assert result.tool_calls == 2
    assert result.answer is not None
    assert "T09:30:00+01:00" in result.answer and "kestrel: 5 counted" in result.answer
    offered = backend.requests[0][1]
    assert {"files", "time__convert_time", "fieldnotes__count_sightings"} <= set(offered)
