"""The bundled model is the offline default: ``thinkact run`` with nothing configured thinks,
calls the real python tool, reads its output and answers; ``serve-model`` serves it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import OpenAI

from support.cli_run import clean_env, serve_model, thinkact
from thinkact.backends.embedded import (
    EMBEDDED_DIR,
    EMBEDDED_NAME,
    EMBEDDED_TRADE,
    embedded_checkpoint,
)
from thinkact.traces import SQLiteTraceStore
from thinkact.train.world import WORLD_DIR
from thinkact.untrusted import is_marked, unmarked

pytestmark = pytest.mark.torch

DEMO = "What is 17 * 23 + 4? Use the python tool to check."


def _events(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_run_with_no_provider_uses_the_bundled_model_and_the_real_python_tool(
        tmp_path: Path) -> None:
    proc = thinkact(["run", DEMO, "--json"], tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    started = next(e for e in events if e["type"] == "run_started")
    assert started["config"]["backend"]["provider"] == "embedded"
    calls = [e for e in events if e["type"] == "tool_call"]
    results = [e for e in events if e["type"] == "tool_result"]
    assert [c["call"]["name"] for c in calls] == ["python"]
    assert "17 * 23 + 4" in json.loads(calls[0]["call"]["arguments"])["code"]
    out = results[0]["result"]["content"]
    assert is_marked(out) and unmarked(out).strip() == "395"  # the real kernel ran it
    finished = events[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "completed"
    answer = next(e for e in events if e["type"] == "final_answer")["content"]
    assert "395" in answer


def test_run_states_the_trade_and_records_the_bundled_world_tools(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    proc = thinkact(["run", DEMO, "--trace-db", str(db)], tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("run ") and f"model {EMBEDDED_NAME} ({EMBEDDED_TRADE})" in first
    store = SQLiteTraceStore(db)
    try:
        config = store.load_state(first.split()[1]).config
    finally:
        store.close()
    assert config["tools"]["names"] == ["python", "files", "facts", "search"]
    assert Path(config["tools"]["facts_db"]) == WORLD_DIR / "facts.sqlite"
    assert Path(config["tools"]["options"]["search"]["index_path"]).is_file()


def test_bundled_model_answers_held_out_tasks() -> None:
    """Greedy episodes on tasks it never saw (fresh seed), through the real parser."""
    from thinkact.backends.local_checkpoint import load_chat_format, load_local_model
    from thinkact.train.evaluate import evaluate

    model, tok = load_local_model(embedded_checkpoint())
    result = evaluate(model, tok, load_chat_format(EMBEDDED_DIR), n=16, seed=424242)
    assert result["call_ok"] >= 0.75 and result["answer_ok"] >= 0.75, result


def test_serve_model_without_a_checkpoint_serves_the_bundled_model(tmp_path: Path) -> None:
    with serve_model(["--threads", "1"], clean_env(tmp_path)) as base_url:
        client = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        assert [m.id for m in client.models.list().data] == [EMBEDDED_NAME]
        tools = [{"type": "function", "function": {
            "name": "python", "description": "Run Python code.",
            "parameters": {"type": "object", "properties": {"code": {"type": "string"}},
                           "required": ["code"]}}}]
        reply = client.chat.completions.create(
            model=EMBEDDED_NAME, messages=[{"role": "user", "content": "What is 12 * 12?"}],
            tools=tools)  # type: ignore[arg-type]
        msg = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert msg.tool_calls and msg.tool_calls[0].function.name == "python"  # type: ignore[union-attr]
        assert json.loads(msg.tool_calls[0].function.arguments)["code"] == "print(12 * 12)"  # type: ignore[union-attr]
        assert getattr(msg, "reasoning_content", None)
        client.close()


def test_a_missing_bundled_model_is_a_clear_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import thinkact.backends.embedded as embedded

    monkeypatch.setattr(embedded, "EMBEDDED_DIR", tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="bundled model is missing"):
        embedded.embedded_checkpoint()
