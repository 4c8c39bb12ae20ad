"""build_tools: names to working tool instances, safe defaults, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from thinkact.tools.approval import CallbackApprover
from thinkact.tools.base import Tool, ToolContext, ToolError
from thinkact.tools.builtin.files import FilesTool
from thinkact.tools.builtin.python_tool import PythonTool
from thinkact.tools.builtin.shell import ShellTool
from thinkact.tools.registry import DEFAULT_TOOLS, build_tools


def names(tools: list[Tool]) -> list[str]:
    return [t.spec.name for t in tools]


def make_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("INSERT INTO t VALUES (7)")
    conn.commit()
    conn.close()
    return path


def test_defaults_are_safe(tmp_path: Path) -> None:
    assert DEFAULT_TOOLS[:2] == ("python", "files")
    assert "shell" not in DEFAULT_TOOLS and "facts" not in DEFAULT_TOOLS
    tools = build_tools(workspace=tmp_path)
    assert names(tools) == list(DEFAULT_TOOLS)
    assert all(isinstance(t, Tool) for t in tools)


def test_explicit_names_and_options(tmp_path: Path) -> None:
    tools = build_tools(["files", "python"], workspace=tmp_path,
                        python={"timeout_s": 7, "memory_limit_bytes": 123 * 1024**2})
    assert names(tools) == ["files", "python"]
    py = tools[1]
    assert isinstance(py, PythonTool)
    assert py.exec_timeout_s == 7 and py.memory_limit_bytes == 123 * 1024**2
    assert isinstance(tools[0], FilesTool) and tools[0].workspace == tmp_path


async def test_facts_needs_a_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="facts_db"):
        build_tools(["facts"], workspace=tmp_path)
    db = make_db(tmp_path / "f.sqlite")
    tools = build_tools(workspace=tmp_path, facts_db=db)
    assert names(tools)[-1] == "facts"
    assert "7" in await tools[-1].call({"sql": "SELECT x FROM t"}, ToolContext())


async def test_shell_only_when_enabled_and_uses_approver(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="off by default"):
        build_tools(["shell"], workspace=tmp_path)
    tools = build_tools(["python"], workspace=tmp_path, shell=True,
                        approver=CallbackApprover(lambda c: (False, "no shell today")))
    assert names(tools) == ["python", "shell"]
    sh = tools[1]
    assert isinstance(sh, ShellTool) and sh.require_approval
    with pytest.raises(ToolError, match="no shell today"):
        await sh.call({"command": "echo hi"}, ToolContext(workspace=tmp_path))
    unasked = build_tools([], workspace=tmp_path, shell=True)[0]
    with pytest.raises(ToolError, match="no approver"):
        await unasked.call({"command": "echo hi"}, ToolContext(workspace=tmp_path))


def test_unknown_names_and_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tool 'calculator'"):
        build_tools(["calculator"], workspace=tmp_path)
    with pytest.raises(ValueError, match="options for unknown tools"):
        build_tools(workspace=tmp_path, pyhton={"timeout_s": 1})
    with pytest.raises(ValueError, match="connect_mcp"):
        build_tools(["mcp"], workspace=tmp_path)


def test_duplicates_collapse(tmp_path: Path) -> None:
    assert names(build_tools(["files", "files"], workspace=tmp_path)) == ["files"]


def test_search_and_browse_when_present(tmp_path: Path) -> None:
    for name in ("search", "browse"):
        if name in DEFAULT_TOOLS:
            tool = build_tools([name], workspace=tmp_path)[0]
            assert tool.spec.name == name
