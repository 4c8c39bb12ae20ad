"""Tools: the ``Tool`` protocol, ``@tool`` for plain functions, and ``Toolset``."""

from thinkact.messages import ToolSpec
from thinkact.tools.base import Tool, ToolContext, ToolError
from thinkact.tools.decorator import FunctionTool, tool
from thinkact.tools.toolset import ApprovalPolicy, Toolset, truncate

__all__ = [
    "ApprovalPolicy", "FunctionTool", "Tool", "ToolContext", "ToolError", "ToolSpec",
    "Toolset", "tool", "truncate",
]
