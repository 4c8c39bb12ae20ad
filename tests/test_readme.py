"""The README's Python examples, run as written: the first against the bundled model, the
others with the remote model swapped for a scripted one (no network in tests)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import thinkact
from support.cli_run import files_turns, write_script
from thinkact.messages import Message, ToolCall

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(code: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace, capsys.readouterr().out


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKACT_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("THINKACT_CONFIG", str(tmp_path / "none.toml"))


def test_the_readme_has_its_examples() -> None:
    assert len(python_blocks()) == 3


@pytest.mark.torch
def test_the_first_example_runs_unchanged_on_the_bundled_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run_block(python_blocks()[0], capsys)
    assert "395" in out


def test_the_tool_example_runs_its_tool(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``backend("moonshot")`` becomes a scripted model that calls ``add`` and answers with
    what the tool returned, so the printed answer comes from the real tool call."""

    def policy(messages: Sequence[Message]) -> Message:
        if messages[-1].role == "tool":
            return Message(role="assistant", content=f"It is {messages[-1].content}.")
        return Message(role="assistant", content=None, tool_calls=[
            ToolCall(id="c1", name="add", arguments='{"a": 2, "b": 40}')])

    asked: list[str | None] = []

    def scripted(spec: str | None = None, **overrides: Any) -> Any:
        asked.append(spec)
        return thinkact.ScriptedBackend(policy)

    monkeypatch.setattr(thinkact, "backend", scripted)
    namespace, out = run_block(python_blocks()[1], capsys)
    assert asked == ["moonshot"]
    assert out.strip() == "It is 42."
    assert namespace["agent"].config.budget.max_steps == 50


def test_the_resume_example_finishes_a_recorded_run(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    script = write_script(tmp_path / "s.json", files_turns(2, answer="both written"))
    store = thinkact.SQLiteTraceStore(tmp_path / "t.sqlite")
    config = thinkact.AgentConfig(backend=thinkact.BackendSpec.parse("scripted", script=script),
                                  tools=["files"], budget=thinkact.Budget(max_steps=1,
                                                                          final_answer_grace_s=0))
    stopped = config.build(trace=store).run("write two files", run_id="r1")
    assert stopped.status == "stopped"
    namespace, _ = run_block(python_blocks()[2], capsys)
    assert asyncio.run(namespace["resume"](store, "r1")) == "both written"
    assert store.load_state("r1").steps_done == 3  # it went on from the recorded steps
    store.close()
