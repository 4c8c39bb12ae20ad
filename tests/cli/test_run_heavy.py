"""``thinkact run --heavy N`` against a real loopback K2-style server: N trajectories, each in
its own workspace, then the aggregation; SIGKILL mid-group and ``--resume GROUP`` finishes
it without redoing finished work."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from support.cli_run import kill_when, popen, slowed, thinkact
from support.k2_server import K2Server, ToolLoop
from thinkact.traces import SQLiteTraceStore


def writes(i: int) -> str:
    return json.dumps({"action": "write", "path": f"f{i}.txt", "content": f"item {i}"})


def server_args(server: K2Server) -> list[str]:
    return ["--provider", "custom", "--base-url", server.base_url, "--model",
            "kimi-k2-thinking", "--tools", "files"]


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_heavy_run_records_each_trajectory_and_the_aggregation(tmp_path: Path) -> None:
    db, ws = tmp_path / "t.sqlite", tmp_path / "ws"
    with K2Server(ToolLoop(steps=2, tool="files", arguments=writes)) as server:
        done = thinkact(["run", "Write two files.", "--heavy", "3", *server_args(server),
                         "--workspace", str(ws), "--trace-db", str(db), "--json"], tmp_path)
        aggregation = [r for r in server.requests if not r.get("tools")]
    assert done.returncode == 0, done.stderr
    events = lines(done.stdout)
    group = events[-1]["run_id"]
    assert {e["run_id"] for e in events} == {group, f"{group}.1", f"{group}.2", f"{group}.3"}
    assert [e["type"] for e in events if e["run_id"] == group][-2:] == [
        "final_answer", "run_finished"]
    assert len(aggregation) == 1 and "3 independent attempts" in (
        aggregation[0]["messages"][-1]["content"])  # reflect: the default for a remote model
    for k in (1, 2, 3):  # each trajectory wrote into its own workspace
        assert sorted(p.name for p in (ws / str(k)).iterdir()) == ["f0.txt", "f1.txt"]
    shown = thinkact(["trace", "show", group, "--trace-db", str(db)], tmp_path)
    assert shown.returncode == 0 and f"heavy run {group}: 3 trajectories" in shown.stdout
    assert shown.stdout.count("completed") >= 4  # the aggregation and each trajectory
    store = SQLiteTraceStore(db)
    assert store.run_config(group)["heavy"]["aggregator"] == "reflect"
    assert store.run_info(group)["status"] == "completed"
    store.close()


def test_killed_group_resumes_as_a_whole(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with slowed(K2Server(ToolLoop(steps=3, tool="files", arguments=writes), chunk_chars=3)
                ) as server:
        proc = popen(["run", "Write three files.", "--heavy", "2", "--aggregate", "vote",
                      "--seed", "7", *server_args(server), "--trace-db", str(db), "--json"],
                     tmp_path)
        while not db.exists():
            time.sleep(0.01)
        reader = SQLiteTraceStore(db)
        kill_when(proc, reader, 2)  # some trajectory is streaming its step 2
        group = reader.list_runs()[0].run_id.rsplit(".", 1)[0]
        cut = thinkact(["trace", "show", group, "--trace-db", str(db)], tmp_path)
        assert f"heavy run {group} not aggregated yet" in cut.stdout, cut.stderr
        one = thinkact(["trace", "show", f"{group}.1", "--trace-db", str(db)], tmp_path)
        assert "→ files" in one.stdout and "not aggregated" not in one.stdout
        before = len(server.requests)
        resumed = thinkact(["run", "--resume", group, "--trace-db", str(db), "--json"],
                           tmp_path, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        after = len(server.requests) - before
        assert {r["seed"] for r in server.requests} == {8, 9}  # a resume keeps seed + k
    events = lines(resumed.stdout)
    assert {e["run_id"] for e in events} == {group, f"{group}.1", f"{group}.2"}
    assert [e["type"] for e in events if e["type"] == "run_started" and
            e["run_id"] != group] == ["run_started"] * 2
    assert all(e["resumed_from_step"] is not None for e in events
               if e["type"] == "run_started" and e["run_id"] != group)
    assert after <= 2 * 3  # at most the steps left, no trajectory restarted from scratch
    for k in (1, 2):
        state = reader.load_state(f"{group}.{k}")
        assert state.finished and state.steps_done == 4
        assert [m.role for m in state.messages].count("assistant") == 4
    assert reader.run_info(group)["status"] == "completed"
    again = thinkact(["run", "--resume", group, "--trace-db", str(db)], tmp_path)
    assert again.returncode == 2 and "already completed" in again.stderr
    reader.close()


def test_sampling_options_reach_the_model_and_seed_each_trajectory(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with K2Server(ToolLoop(steps=1)) as server:
        done = thinkact(["run", "Answer.", "--heavy", "2", "--aggregate", "vote",
                         "--temperature", "0.3", "--top-p", "0.9", "--seed", "7",
                         *server_args(server), "--trace-db", str(db), "--json"], tmp_path)
        sent = [(r["temperature"], r["top_p"], r["seed"]) for r in server.requests]
    assert done.returncode == 0, done.stderr
    assert sorted(set(sent)) == [(0.3, 0.9, 8), (0.3, 0.9, 9)]
    bad = thinkact(["run", "x", "--temperature", "-1", *server_args(server)], tmp_path)
    assert bad.returncode == 2 and "--temperature must be >= 0" in bad.stderr


def test_a_reader_that_leaves_stops_every_run_of_the_group(tmp_path: Path) -> None:
    """``thinkact run --heavy 2 --json | head -1``: the closed pipe ends the command, and
    every run of the group is recorded as interrupted, none left 'running'."""
    db = tmp_path / "t.sqlite"
    with slowed(K2Server(ToolLoop(steps=3, tool="files", arguments=writes), chunk_chars=3)
                ) as server:
        proc = popen(["run", "Write three files.", "--heavy", "2", *server_args(server),
                      "--trace-db", str(db), "--json"], tmp_path)
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        proc.stdout.close()  # the reader leaves
        assert proc.wait(timeout=60) == 1
    group = first["run_id"].rsplit(".", 1)[0]
    with SQLiteTraceStore(db) as store:
        statuses = {r.run_id: (r.status, store.run_info(r.run_id)["reason"])
                    for r in store.list_runs()}
    assert statuses == {f"{group}.{k}": ("stopped", "interrupted") for k in (1, 2)}
