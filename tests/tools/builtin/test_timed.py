"""The python and shell tools' shared parameters: the schema a model sees and the optional
``timeout_s`` that never fails a call."""

from __future__ import annotations

import json
from pathlib import Path

from thinkact.messages import ToolCall
from thinkact.tools.base import ToolContext
from thinkact.tools.builtin.python_tool import PythonTool
from thinkact.tools.builtin.shell import ShellTool
from thinkact.tools.toolset import Toolset


def test_python_parameters_are_the_ones_the_bundled_model_learned() -> None:
    # The bundled model was trained on this declaration, byte for byte.
    assert json.dumps(PythonTool(timeout_s=60, max_timeout_s=600).spec.parameters) == (
        '{"type": "object", "properties": {"code": {"type": "string", "description": '
        '"Python source to execute."}, "timeout_s": {"type": ["number", "null"], '
        '"description": "Time limit in seconds for this call (default 60, at most 600)."}}, '
        '"required": ["code"], "additionalProperties": false}')


def test_shell_declares_the_same_timeout_as_python() -> None:
    shell = ShellTool(timeout_s=5, max_timeout_s=50).spec.parameters
    python = PythonTool(timeout_s=5, max_timeout_s=50).spec.parameters
    assert shell["properties"]["timeout_s"] == python["properties"]["timeout_s"]
    assert shell["required"] == ["command"] and "5" in shell["properties"]["timeout_s"][
        "description"]


def test_time_limit_falls_back_with_a_note() -> None:
    tool = ShellTool(timeout_s=20, max_timeout_s=100)
    assert tool._time_limit(None) == (20, "")
    assert tool._time_limit(7) == (7.0, "")
    for bad in (0, -1, True, "10"):
        limit, note = tool._time_limit(bad)
        assert limit == 20 and "the default 20s was used" in note
    assert tool._time_limit(1e9)[0] == 100 and "100s was used" in tool._time_limit(1e9)[1]
    assert ShellTool(timeout_s=300, max_timeout_s=100).max_timeout_s == 300


async def test_shell_runs_a_zero_timeout_with_the_default_and_a_note(tmp_path: Path) -> None:
    """What small models send for the optional field passes the Toolset's schema check."""
    toolset = Toolset([ShellTool(require_approval=False, timeout_s=20)])
    result = await toolset.call(ToolCall(id="t", name="shell", arguments=(
        '{"command": "echo hi", "timeout_s": 0}')), ToolContext(workspace=tmp_path))
    assert result.error is None and "stdout:\nhi" in result.content
    assert result.content.endswith("[note: timeout_s=0 is not a positive number; the default "
                                   "20s was used]")
