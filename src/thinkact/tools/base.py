"""The tool protocol: a named, described, schema'd async callable that returns text.
Its ``ToolSpec`` (what the model is told) lives with the messages, in ``thinkact.messages``.

Tools never raise into the agent loop: ``Toolset`` (``thinkact.tools.toolset``) validates
arguments, enforces timeouts and turns every failure into a ``ToolResult`` with an error
kind. A tool only has to do its job and may raise ``ToolError`` with a message for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from thinkact.messages import ToolSpec


class ToolError(Exception):
    """Raised by a tool for an expected failure; its message is shown to the model as is."""


class ToolRejected(ToolError):
    """Raised by a tool whose own approval step was refused; reported as kind ``rejected``."""


@dataclass
class ToolContext:
    """Per-run facts a tool may need: where it may write, which run it belongs to."""

    run_id: str = "adhoc"
    workspace: Path = field(default_factory=Path.cwd)
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Tool(Protocol):
    @property
    def spec(self) -> ToolSpec: ...

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        """Run with arguments already validated against ``spec.parameters``."""
        ...

    async def aclose(self) -> None:
        """Release resources (kernels, browsers, connections). May be a no-op."""
        ...
