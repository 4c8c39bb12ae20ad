"""OTLP/HTTP for real: ``thinkact run --otel-endpoint`` exports a run's spans to a loopback
receiver as it runs, and ``thinkact trace otel`` sends the recorded run again with the same
trace and span ids; a heavy group arrives as one trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from support.cli_run import (
    clean_env,
    files_turns,
    run_cli,
    serve_model,
    thinkact,
    wait_for,
    write_script,
)
from support.otlp_receiver import OTLPReceiver
from thinkact.otel.spans import span_id_of, trace_id_of
from thinkact.traces import SQLiteTraceStore


def tree(spans: list[dict[str, Any]]) -> set[tuple[str, int, int | None, int]]:
    return {(s["name"], s["span_id"], s["parent"], s["trace_id"]) for s in spans}


def test_live_export_then_the_same_spans_again(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(2, "Wrote two."))
    with OTLPReceiver() as receiver:
        proc, events = run_cli(["Write two files.", "--provider", "scripted", "--script",
                                str(script), "--tools", "files", "--otel-endpoint",
                                receiver.url], tmp_path)
        assert proc.returncode == 0, proc.stderr
        run_id = events[0].run_id
        live = list(receiver.spans)
        names = sorted(s["name"] for s in live)
        assert names == sorted(["invoke_agent thinkact", "step 1", "step 2", "step 3",
                                "chat scripted", "chat scripted", "chat scripted",
                                "execute_tool files", "execute_tool files"])
        by_id = {s["span_id"]: s for s in live}
        (root,) = [s for s in live if s["parent"] is None]
        assert root["span_id"] == span_id_of(run_id, 1)
        assert {s["trace_id"] for s in live} == {trace_id_of(run_id)}
        for s in live:  # every span hangs from one that was exported too
            if s["parent"] is not None:
                assert s["parent"] in by_id
        tool = next(s for s in live if s["name"] == "execute_tool files")
        assert by_id[tool["parent"]]["name"].startswith("step ")
        assert tool["attributes"]["gen_ai.tool.name"] == "files"
        assert tool["attributes"]["gen_ai.tool.call.id"]
        chat = next(s for s in live if s["name"] == "chat scripted")
        assert chat["attributes"]["gen_ai.usage.reasoning.output_tokens"] > 0
        assert chat["attributes"]["gen_ai.provider.name"] == "scripted"
        assert chat["resource"]["service.name"] == "thinkact"
        assert "input.value" not in root["attributes"]  # content is opt-in
        receiver.spans.clear()
        again = thinkact(["trace", "otel", run_id, "--trace-db", str(tmp_path / "t.sqlite"),
                          "--endpoint", receiver.url, "--content"], tmp_path)
        assert again.returncode == 0, again.stderr
        assert tree(receiver.spans) == tree(live)
        (root2,) = [s for s in receiver.spans if s["parent"] is None]
        assert root2["attributes"]["input.value"] == "Write two files."
        assert (root2["start"], root2["end"]) == (root["start"], root["end"])


def test_a_heavy_group_exports_as_one_trace(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(1, "Done."))
    with OTLPReceiver() as receiver:
        proc, _ = run_cli(["Write a file.", "--provider", "scripted", "--script", str(script),
                           "--tools", "files", "--heavy", "2", "--aggregate", "vote",
                           "--otel-endpoint", receiver.url], tmp_path)
        assert proc.returncode == 0, proc.stderr
        group = json.loads(proc.stdout.splitlines()[0])["run_id"].rsplit(".", 1)[0]
        spans = receiver.spans
        assert {s["trace_id"] for s in spans} == {trace_id_of(group)}
        (root,) = [s for s in spans if s["parent"] is None]
        assert root["name"] == "invoke_agent thinkact heavy"
        runs = [s for s in spans if s["name"] == "invoke_agent thinkact"]
        assert sorted(s["attributes"]["thinkact.run_id"] for s in runs) == \
            sorted([f"{group}.1", f"{group}.2", group])
        assert all(s["parent"] == root["span_id"] for s in runs)
        live = tree(spans)
        receiver.spans.clear()
        assert thinkact(["trace", "otel", group, "--trace-db", str(tmp_path / "t.sqlite"),
                         "--endpoint", receiver.url], tmp_path).returncode == 0
        assert tree(receiver.spans) == live


def test_serve_exports_each_request_run(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(1, "Wrote it."))
    db = tmp_path / "t.sqlite"
    with OTLPReceiver() as receiver:
        args = ["--provider", "scripted", "--script", str(script), "--tools", "files",
                "--trace-db", str(db), "--otel-endpoint", receiver.url]
        with serve_model(args, clean_env(tmp_path), command="serve") as v1:
            reply = httpx.post(f"{v1}/chat/completions", timeout=60, json={
                "model": "m", "messages": [{"role": "user", "content": "Write a file."}]})
            assert reply.json()["choices"][0]["message"]["content"] == "Wrote it."
            # sent once the run finished, while the server goes on serving
            wait_for(lambda: any(s["name"] == "invoke_agent thinkact"
                                 for s in receiver.spans), 30)
        with SQLiteTraceStore(db) as store:
            (run,) = store.list_runs()
        runs = [s for s in receiver.spans if s["name"] == "invoke_agent thinkact"]
        assert [s["attributes"]["gen_ai.conversation.id"] for s in runs] == [run.run_id]
        assert {s["trace_id"] for s in receiver.spans} == {trace_id_of(run.run_id)}
        assert sum(s["name"] == "execute_tool files" for s in receiver.spans) == 1
