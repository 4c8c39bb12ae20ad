"""``--executor ray`` on a local Ray cluster gives exactly the local executor's rows, and
every run's trace (from the workers' shards) in the eval's trace database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from support.cli_run import files_turns, thinkact, write_script
from thinkact.traces.sqlite import SQLiteTraceStore

pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.slow

COLUMNS = "item_id, epoch, category, status, outcome, score, answer, detail, steps, " \
          "tool_calls, prompt_tokens, completion_tokens, reasoning_tokens, cost_usd"


def test_ray_gives_the_local_executors_results(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": f"q{i}", "input": f"Question {i}?",
                                           "target": 42 if i % 2 else 7, "scorer": "number",
                                           "category": f"c{i % 3}"}) for i in range(5)))
    script = write_script(tmp_path / "s.json", files_turns(2, answer="It is 42."))
    base = ["eval", str(tasks), "--provider", "scripted", "--script", str(script), "--tools",
            "files", "--epochs", "2", "--concurrency", "2", "--json"]
    reports = {}
    for executor in ("local", "ray"):
        out = thinkact([*base, "--executor", executor], tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        reports[executor] = json.loads(out.stdout)
    with sqlite3.connect(tmp_path / "data" / "evals.sqlite") as con:
        rows = {ex: con.execute(f"SELECT {COLUMNS} FROM results WHERE eval_id=? ORDER BY "
                                "item_id, epoch", (r["eval"],)).fetchall()
                for ex, r in reports.items()}
        run_ids = [r for (r,) in con.execute("SELECT run_id FROM results WHERE eval_id=?",
                                             (reports["ray"]["eval"],))]
    assert len(rows["ray"]) == 10 and rows["ray"] == rows["local"]
    assert reports["ray"]["accuracy"] == reports["local"]["accuracy"] == 0.4
    with SQLiteTraceStore(tmp_path / "data" / "traces.sqlite") as trace:
        for run_id in run_ids:  # merged from the workers' shards, complete
            state = trace.load_state(run_id)
            assert state.finished and state.steps_done == 3 and state.tool_calls == 2


def test_heavy_trajectories_fan_out_as_jobs_and_match_the_local_executor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``heavy=3``, each trajectory of each item is a Ray job of its own (two actors
    share them); the rows, the trajectories' answers and the votes are the local ones."""
    import asyncio
    import os

    import ray

    from support.seeded_worker import SeededBackend, SeededWorker, seeded_answer
    from thinkact.eval import EvalSettings, EvalStore, agent_maker, load_suite, run_eval
    from thinkact.eval.ray_executor import run_eval_ray

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": f"q{i}", "input": "Question" + "?" * i,
                                           "target": 42, "scorer": "number"})
                               for i in range(3)))
    script = write_script(tmp_path / "s.json", [{"content": "unused"}])
    run = {"provider": "scripted", "script": str(script), "tools": "none", "seed": 7}
    spec = {"suite": str(tasks), "run": run, "limit": None, "per_category": None}
    settings = EvalSettings(concurrency=2, heavy=3, aggregate="vote")
    log = tmp_path / "trajectories.log"
    src, tests = (str(Path(__file__).resolve().parents[i]) for i in (2, 1))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([f"{src}/src", tests]))
    monkeypatch.setenv("THINKACT_TEST_TRAJECTORY_LOG", str(log))
    suite = load_suite(str(tasks))
    items = list(suite.items())
    with EvalStore(tmp_path / "evals.sqlite") as store, \
            SQLiteTraceStore(tmp_path / "t.sqlite") as trace:
        for eval_id in ("ev-local", "ev-ray"):
            store.create(eval_id, suite.name, spec)
        make = agent_maker(run, SeededBackend(), trace)
        local = asyncio.run(run_eval(store, trace, "ev-local", suite, items, make, settings))
        ray.init(include_dashboard=False, log_to_driver=False, num_cpus=2)
        try:
            remote = run_eval_ray(store, trace, "ev-ray", spec, items, settings,
                                  worker=SeededWorker)
        finally:
            ray.shutdown()
        cols = ("item_id", "epoch", "status", "outcome", "score", "answer", "detail", "steps",
                "tool_calls", "completion_tokens")

        def table(rows: list) -> list:  # type: ignore[type-arg]
            return sorted(tuple(getattr(r, c) for c in cols) for r in rows)

        assert table(remote) == table(local) and len(remote) == 3
        answers = {}
        for eval_id, rows in (("ev-local", local), ("ev-ray", remote)):
            for r in rows:
                for k in (1, 2, 3):
                    state = trace.load_state(f"{r.run_id}.{k}")
                    assert state.finished
                    answers[eval_id, r.item_id, k] = state.messages[-1].content
                assert trace.has_run(r.run_id)  # the vote, recorded
    assert {k[1:]: v for k, v in answers.items() if k[0] == "ev-ray"} == {
        k[1:]: v for k, v in answers.items() if k[0] == "ev-local"}
    assert len(set(answers.values())) > 1  # the seeds made the trajectories differ
    q = items[1].input
    assert answers["ev-ray", "q1", 2] == f"It is {seeded_answer(q, 7 + 2)}."
    ran = [line.split() for line in log.read_text().splitlines()]
    assert sorted(r for r, _ in ran) == sorted(f"{r.run_id}.{k}" for r in remote
                                               for k in (1, 2, 3))
    assert len({pid for _, pid in ran}) == 2  # spread over both actors
