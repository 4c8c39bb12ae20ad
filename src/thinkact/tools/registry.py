"""Built-in tools by name: ``build_tools(["python", "files"], workspace=...)``.

Safe by default: the default set has no shell and no database; ``shell`` only comes with
``shell=True`` (and then asks its approver before each command), ``facts`` only with a
database. Tools whose modules pull heavy dependencies (search, browse) are imported lazily,
so a missing optional part only matters when it is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thinkact.tools.base import Tool
from thinkact.tools.toolset import ApprovalPolicy

# name -> (module, class) for the tools built elsewhere in the package.
_LAZY: dict[str, tuple[str, str]] = {
    "search": ("thinkact.tools.builtin.search", "SearchTool"),
    "browse": ("thinkact.tools.builtin.browse", "BrowseTool"),
}
BUILTIN_NAMES = ("python", "files", "facts", "shell", "search", "browse")


def _lazy_class(name: str) -> type[Any]:
    module, cls = _LAZY[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"the {name!r} tool is not available in this installation "
                         f"({type(exc).__name__}: {exc})") from exc


def _available(name: str) -> bool:
    """Whether the module exists, without importing it (keeps ``import registry`` cheap)."""
    try:
        return importlib.util.find_spec(_LAZY[name][0]) is not None
    except (ImportError, ValueError):
        return False


def default_tools() -> tuple[str, ...]:
    """python and files, plus search and browse where their modules import."""
    return ("python", "files", *(n for n in ("search", "browse") if _available(n)))


DEFAULT_TOOLS: tuple[str, ...] = default_tools()


def default_names(facts_db: object = None) -> list[str]:
    """What no tool names mean: ``DEFAULT_TOOLS``, then ``facts`` when a database is given."""
    return [*DEFAULT_TOOLS, *(["facts"] if facts_db else [])]


def build_tools(
    names: Sequence[str] | None = None, *, workspace: Path, facts_db: Path | None = None,
    shell: bool = False, approver: ApprovalPolicy | None = None, unsafe: bool = False,
    network: bool = False, **opts: dict[str, Any],
) -> list[Tool]:
    """Instantiate tools by name (default: ``DEFAULT_TOOLS``).

    ``facts_db`` adds/enables ``facts``; ``shell=True`` adds/enables ``shell``, which asks
    ``approver`` before each command (a ``ConsolePrompt``, ``CallbackApprover``, ...;
    ``opts["shell"] = {"require_approval": False}`` only if the user opted out). Other keyword
    arguments are per-tool constructor options, e.g. ``python={"timeout_s": 30}``.
    ``unsafe`` and ``network`` go to both code tools (python, shell): their jail is off
    (the user's explicit choice) or has the network.
    MCP tools are connected with ``thinkact.tools.mcp_client.connect_mcp`` (async) instead.
    """
    unknown_opts = set(opts) - set(BUILTIN_NAMES)
    if unknown_opts:
        raise ValueError(f"options for unknown tools: {sorted(unknown_opts)}; "
                         f"known tools: {', '.join(BUILTIN_NAMES)}")
    wanted = list(names) if names is not None else default_names(facts_db)
    if shell and "shell" not in wanted:
        wanted.append("shell")
    jail = {"unsafe": unsafe, "network": network}
    builders: dict[str, Callable[[dict[str, Any]], Tool]] = {
        "python": lambda o: _python(workspace, {**jail, **o}),
        "files": lambda o: _files(workspace, o),
        "facts": lambda o: _facts(facts_db, o),
        "shell": lambda o: _shell(workspace, shell, approver, {**jail, **o}),
        "search": lambda o: _lazy_class("search")(**o),
        "browse": lambda o: _lazy_class("browse")(workspace, **o),
    }
    tools: list[Tool] = []
    seen: set[str] = set()
    for name in wanted:
        if name in seen:
            continue
        seen.add(name)
        if name == "mcp":
            raise ValueError("MCP tools are not built by name: connect them with "
                             "thinkact.tools.mcp_client.connect_mcp(servers) and add its tools")
        if name not in builders:
            raise ValueError(f"unknown tool {name!r}; built-in tools: {', '.join(BUILTIN_NAMES)}")
        tools.append(builders[name](dict(opts.get(name, {}))))
    return tools


def _python(workspace: Path, o: dict[str, Any]) -> Tool:
    from thinkact.tools.builtin.python_tool import PythonTool

    return PythonTool(workspace=workspace, **o)


def _files(workspace: Path, o: dict[str, Any]) -> Tool:
    from thinkact.tools.builtin.files import FilesTool

    return FilesTool(workspace=workspace, **o)


def _facts(db: Path | None, o: dict[str, Any]) -> Tool:
    from thinkact.tools.builtin.facts import FactsTool

    if db is None:
        raise ValueError("the 'facts' tool needs a database: pass facts_db=<path to .sqlite>")
    return FactsTool(db, **o)


def _shell(workspace: Path, enabled: bool, approver: ApprovalPolicy | None,
           o: dict[str, Any]) -> Tool:
    from thinkact.tools.builtin.shell import ShellTool

    if not enabled:
        raise ValueError("the 'shell' tool is off by default; enable it explicitly "
                         "(shell=True / --shell)")
    o.setdefault("approver", approver)
    return ShellTool(workspace=workspace, **o)
