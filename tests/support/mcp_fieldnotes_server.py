"""A small MCP server of our own (the SDK's MCPServer), run over stdio or streamable HTTP.

Usage: ``python mcp_fieldnotes_server.py stdio`` or ``python mcp_fieldnotes_server.py http PORT``.
"""

from __future__ import annotations

import base64
import sys

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# one-pixel PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SIGHTINGS = {"heron": 41, "kestrel": 5, "egret": 112}

server = MCPServer("fieldnotes")


@server.tool()
def count_sightings(species: str) -> str:
    """How many birds of a species the survey counted."""
    if species.lower() not in SIGHTINGS:
        raise ToolError(f"no sightings recorded for {species!r}")
    return f"{species}: {SIGHTINGS[species.lower()]} counted"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def photo(species: str) -> Image:
    """A photo of the species (a tiny PNG)."""
    return Image(data=PIXEL, format="png")


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
