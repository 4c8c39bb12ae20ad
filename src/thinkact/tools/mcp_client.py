"""Tools from Model Context Protocol servers, beside the built-in ones.

Each configured server (stdio subprocess or streamable HTTP endpoint) gets one long-lived
``ClientSession``. The SDK's transports are anyio context managers that must be entered and
exited by the same task, so every connection is owned by one background task that opens the
contexts, reports ready, waits for the stop signal and closes them; tool calls from any task
just send requests on the open session. Remote tools are exposed as ``servername__toolname``.

Config (TOML, read by ``thinkact.backends.config``; we take the resulting dict)::

    [mcp.servers.time]
    command = "python"
    args = ["-m", "mcp_server_time"]
    env = { TZ = "UTC" }        # optional; cwd = "..." optional
    [mcp.servers.notes]
    url = "http://127.0.0.1:8000/mcp"
    headers = { Authorization = "Bearer ..." }   # optional
    # both kinds: timeout = 60 (seconds per call), enabled = true, tools = ["only", "these"]
    # stdio only: stderr = "inherit" | "discard" | "path/to/server.log"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkact.messages import ToolSpec
from thinkact.tools.base import ToolContext, ToolError
from thinkact.untrusted import mark_untrusted

_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")
MAX_TOOL_NAME = 64  # OpenAI-compatible APIs reject longer function names


@dataclass
class MCPServerConfig:
    """One server: either ``command`` (+args/env/cwd, stdio) or ``url`` (streamable HTTP)."""

    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    tools: list[str] | None = None  # expose only these remote tools (None: all)
    stderr: str = "inherit"  # stdio servers' log output: "inherit", "discard" or a file path

    def __post_init__(self) -> None:
        if bool(self.command) == bool(self.url):
            raise ValueError(
                f"MCP server {self.name!r}: give exactly one of 'command' (stdio) or 'url' (HTTP)"
            )


def load_mcp_servers(config: Mapping[str, Any]) -> list[MCPServerConfig]:
    """Parse ``{"mcp": {"servers": {name: {...}}}}`` (a whole config file) or just the
    ``servers`` table; servers with ``enabled = false`` are skipped."""
    table: Any = config
    if "mcp" in table:
        table = table["mcp"] or {}
    if "servers" in table:
        table = table["servers"] or {}
    if not isinstance(table, Mapping):
        raise ValueError("[mcp.servers] must be a table of server tables")
    known = {"command", "args", "env", "cwd", "url", "headers", "timeout", "tools", "enabled",
             "stderr"}
    servers = []
    for name, raw in table.items():
        if not isinstance(raw, Mapping):
            raise ValueError(f"[mcp.servers.{name}] must be a table")
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"[mcp.servers.{name}]: unknown keys {sorted(unknown)}")
        if not raw.get("enabled", True):
            continue
        servers.append(MCPServerConfig(
            name=str(name), command=raw.get("command"), args=[str(a) for a in raw.get("args", [])],
            env=dict(raw["env"]) if raw.get("env") else None, cwd=raw.get("cwd"),
            url=raw.get("url"), headers=dict(raw.get("headers") or {}),
            timeout=float(raw.get("timeout", 60.0)),
            tools=list(raw["tools"]) if raw.get("tools") is not None else None,
            stderr=str(raw.get("stderr", "inherit")),
        ))
    return servers


def tool_name(server: str, remote: str) -> str:
    name = _NAME_OK.sub("_", f"{server}__{remote}")
    return name[:MAX_TOOL_NAME]


def _field(obj: Any, *names: str) -> Any:
    """mcp 1.x uses camelCase attributes, 2.x snake_case: read whichever exists."""
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def result_to_text(result: Any) -> str:
    """Text content verbatim; images, audio and resources summarised in one line each."""
    parts: list[str] = []
    for block in _field(result, "content") or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            mime = _field(block, "mime_type", "mimeType") or "?"
            size = len(block.data) * 3 // 4
            parts.append(f"[{kind} content: {mime}, about {size} bytes, not shown]")
        elif kind == "resource":
            res = block.resource
            text = getattr(res, "text", None)
            mime = _field(res, "mime_type", "mimeType") or ""
            if text is not None:
                parts.append(f"[resource {res.uri} {mime}]\n{text}".rstrip())
            else:
                parts.append(f"[binary resource {res.uri} {mime}, not shown]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri} ({block.name})]")
        else:
            parts.append(f"[{kind or 'unknown'} content, not shown]")
    if not parts:
        structured = _field(result, "structured_content", "structuredContent")
        if structured is not None:
            parts.append(json.dumps(structured, ensure_ascii=False, indent=1))
    return "\n".join(parts) if parts else "(no content)"


class _Connection:
    """One server session, owned by a background task (see module docstring)."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        self.session: Any = None
        self.remote_tools: list[Any] = []
        self.server_name = config.name
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def _open(self, stack: contextlib.AsyncExitStack) -> Any:
        from mcp import ClientSession

        cfg = self.config
        if cfg.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            command = sys.executable if cfg.command in ("python", "python3") else cfg.command
            params = StdioServerParameters(command=command, args=cfg.args, env=cfg.env,
                                           cwd=cfg.cwd)
            errlog: Any = sys.stderr
            if cfg.stderr != "inherit":
                target = os.devnull if cfg.stderr == "discard" else cfg.stderr
                errlog = stack.enter_context(open(target, "a", encoding="utf-8"))  # noqa: SIM115
            read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
        else:
            from mcp.client.streamable_http import streamable_http_client

            client = None
            if cfg.headers:
                import httpx2

                client = await stack.enter_async_context(
                    httpx2.AsyncClient(headers=cfg.headers, timeout=cfg.timeout)
                )
            assert cfg.url is not None
            streams = await stack.enter_async_context(
                streamable_http_client(cfg.url, http_client=client)
            )
            read, write = streams[0], streams[1]
        session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=cfg.timeout)
        )
        init = await session.initialize()
        info = _field(init, "server_info", "serverInfo")
        if info is not None and getattr(info, "name", None):
            self.server_name = info.name
        tools: list[Any] = []
        cursor = None
        while True:
            from mcp import types

            params_obj = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            listing = await session.list_tools(params=params_obj)
            tools.extend(listing.tools)
            cursor = _field(listing, "next_cursor", "nextCursor")
            if not cursor:
                break
        self.remote_tools = tools
        return session

    async def _run(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                self.session = await self._open(stack)
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # surfaced to start()/call(); the task must not crash
            self._error = exc
        finally:
            self.session = None
            self._ready.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"mcp:{self.config.name}")
        await self._ready.wait()
        if self.session is None:
            err = self._error
            raise ConnectionError(
                f"cannot connect to MCP server {self.config.name!r}: "
                f"{type(err).__name__}: {err}"
            ) from err

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        if self.session is None:
            raise ToolError(f"MCP server {self.config.name!r} is not connected")
        try:
            result = await self.session.call_tool(
                name, arguments, read_timeout_seconds=self.config.timeout
            )
        except Exception as exc:  # protocol errors, timeouts, closed transport
            raise ToolError(f"MCP server {self.config.name!r} failed: {exc}") from exc
        text = result_to_text(result)
        if _field(result, "is_error", "isError"):
            raise ToolError(text)
        return text

    async def aclose(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task


class MCPTool:
    """A remote tool as a local ``Tool``: schema and description as the server gives them."""

    def __init__(self, connection: _Connection, remote: Any, *, untrusted: bool = True) -> None:
        self._conn = connection
        self.remote_name: str = remote.name
        server = connection.config.name
        schema = _field(remote, "input_schema", "inputSchema") or {"type": "object"}
        schema = {k: v for k, v in dict(schema).items() if k != "title"}
        schema.setdefault("properties", {})
        description = (remote.description or remote.name).strip()
        self._spec = ToolSpec(
            name=tool_name(server, remote.name),
            description=f"{description}\n(Tool '{remote.name}' of MCP server '{server}'.)",
            parameters=schema,
        )
        self._untrusted = untrusted

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        text = await self._conn.call(self.remote_name, arguments)
        if not self._untrusted:
            return text
        return mark_untrusted(text, f"MCP server {self._conn.config.name}")

    async def aclose(self) -> None:
        """The session belongs to the ``MCPToolset``; closing one tool keeps it open."""


@dataclass
class MCPToolset:
    tools: list[MCPTool]
    connections: list[_Connection]

    def tool_names(self) -> list[str]:
        return [t.spec.name for t in self.tools]

    async def aclose(self) -> None:
        for conn in reversed(self.connections):
            await conn.aclose()

    async def __aenter__(self) -> MCPToolset:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def connect_mcp(
    servers: list[MCPServerConfig], *, untrusted: bool = True
) -> MCPToolset:
    """Connect to every server and list its tools. Fails (closing what was opened) if any
    server cannot start, naming it; tool names clashing across servers are an error too."""
    connections: list[_Connection] = []
    try:
        for cfg in servers:
            conn = _Connection(cfg)
            connections.append(conn)
            await conn.start()
        tools: list[MCPTool] = []
        seen: set[str] = set()
        for conn in connections:
            for remote in conn.remote_tools:
                if conn.config.tools is not None and remote.name not in conn.config.tools:
                    continue
                wrapped = MCPTool(conn, remote, untrusted=untrusted)
                if wrapped.spec.name in seen:
                    raise ValueError(f"two MCP tools are both named {wrapped.spec.name!r}")
                seen.add(wrapped.spec.name)
                tools.append(wrapped)
        return MCPToolset(tools, connections)
    except BaseException:
        for conn in reversed(connections):
            await conn.aclose()
        raise


def resolve_cwd(config: MCPServerConfig, base: Path) -> MCPServerConfig:
    """Make a relative ``cwd`` relative to ``base`` (the config file's folder)."""
    if config.cwd and not Path(config.cwd).is_absolute():
        config.cwd = str(base / config.cwd)
    return config
