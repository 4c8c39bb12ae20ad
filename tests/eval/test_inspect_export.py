"""``thinkact eval export --format inspect`` writes a log that Inspect AI itself reads back:
one sample per item and epoch with its conversation, output and score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli_run import files_turns, thinkact, write_script

pytest.importorskip("inspect_ai", reason="inspect-ai is not installed")


def test_inspect_reads_the_exported_log(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log
    from inspect_ai.model import ChatMessageAssistant, ChatMessageTool

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": f"q{i}", "input": f"Question {i}?",
                                           "target": 42 if i else 7, "scorer": "number"})
                               for i in range(3)))
    script = write_script(tmp_path / "s.json", files_turns(1, answer="It is 42."))
    run = thinkact(["eval", str(tasks), "--provider", "scripted", "--script", str(script),
                    "--tools", "files", "--epochs", "2", "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "log.eval"  # the format `inspect view` lists
    done = thinkact(["eval", "export", "latest", "--format", "inspect", "-o", str(out)],
                    tmp_path)
    assert done.returncode == 0, done.stderr
    log = read_eval_log(str(out))
    assert log.status == "success" and log.samples is not None and len(log.samples) == 6
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(4 / 6)
    sample = next(s for s in log.samples if s.id == "q0" and s.epoch == 1)
    assert sample.target == "7" and sample.scores["thinkact"].value == 0.0
    assert sample.output.completion == "It is 42."
    assert any(isinstance(m, ChatMessageAssistant) and m.tool_calls for m in sample.messages)
    assert any(isinstance(m, ChatMessageTool) for m in sample.messages)
    bad = thinkact(["eval", "export", "latest", "--format", "yaml", "-o", str(out)], tmp_path)
    assert bad.returncode == 2 and "--format must be" in bad.stderr
