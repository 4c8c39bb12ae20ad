"""``thinkact serve`` as a real process: the agent answers an OpenAI client, each request
recorded as its own run."""

from __future__ import annotations

from pathlib import Path

from openai import OpenAI

from support.cli_run import clean_env, files_turns, serve_model, thinkact, write_script
from thinkact.traces import SQLiteTraceStore


def test_serve_runs_the_agent_per_request(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(1, answer="Wrote it."))
    db = tmp_path / "t.sqlite"
    args = ["--provider", "scripted", "--script", str(script), "--tools", "files",
            "--trace-db", str(db), "--name", "my-agent"]
    with serve_model(args, clean_env(tmp_path), command="serve") as base_url:
        c = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        assert [m.id for m in c.models.list().data] == ["my-agent"]
        reply = c.chat.completions.create(
            model="my-agent", messages=[{"role": "user", "content": "Write a file."}])
    msg = reply.choices[0].message
    assert msg.content == "Wrote it."
    assert '→ files {"action": "write"' in (msg.model_extra or {})["reasoning_content"]
    with SQLiteTraceStore(db) as store:
        (run,) = store.list_runs()
        assert (run.task, run.status, run.tool_calls) == ("Write a file.", "completed", 1)
        workspace = Path(store.run_config(run.run_id)["workspace"])
    assert (workspace / "f0.txt").read_text() == "item 0"
    refused = thinkact(["serve", "--tools", "teleport"], tmp_path)
    assert refused.returncode == 2 and "teleport" in refused.stderr
