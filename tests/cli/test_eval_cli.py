"""``thinkact eval`` as a user runs it: a JSONL suite on a scripted model, SIGKILLed mid-eval
and resumed (same rows as an uncut eval, nothing scored twice, the cut runs resumed from
their last step), then ``show`` / ``compare`` / ``--json`` / CSV / PNG."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

from support.cli_run import files_turns, popen, sigkill_when, thinkact, write_script
from thinkact.traces.sqlite import SQLiteTraceStore

N_ITEMS = 6


def suite(tmp: Path) -> Path:
    path = tmp / "tasks.jsonl"
    lines = [{"id": f"q{i}", "input": f"Question {i}?", "target": 42 if i % 3 else 7,
              "scorer": "number", "category": "even" if i % 2 == 0 else "odd"}
             for i in range(N_ITEMS)]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT item_id, epoch, status, score, run_id, finished_at "
                           "FROM results ORDER BY item_id, epoch").fetchall()


def test_sigkill_mid_eval_then_resume_scores_every_item_once(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", files_turns(3, answer="It is 42."),
                          delay_s=0.03)
    evals, traces = tmp_path / "data" / "evals.sqlite", tmp_path / "data" / "traces.sqlite"
    args = ["eval", str(suite(tmp_path)), "--provider", "scripted", "--script", str(script),
            "--tools", "files", "--concurrency", "2", "--epochs", "2"]
    proc = popen(args, tmp_path)

    def some_done_and_one_midway() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"eval ended early: {proc.communicate()}")
        if not evals.exists() or not traces.exists():
            return False
        got = rows(evals)
        running = [r[4] for r in got if r[2] == "running"]
        with sqlite3.connect(traces) as con:
            midway = [r for r in running if con.execute(
                "SELECT steps FROM runs WHERE id=?", (r,)).fetchone() not in (None, (0,))]
        return sum(r[2] == "done" for r in got) >= 2 and bool(midway)

    sigkill_when(proc, some_done_and_one_midway)
    before = rows(evals)
    done_before = {r[:2]: r for r in before if r[2] == "done"}
    cut = [r[4] for r in before if r[2] == "running"]
    assert done_before and cut and len(before) < 2 * N_ITEMS

    resumed = thinkact(["eval", "--resume", "latest", "--json"], tmp_path, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    after = rows(evals)
    assert len(after) == 2 * N_ITEMS and len({r[:2] for r in after}) == 2 * N_ITEMS
    assert all(r[2] == "done" for r in after)
    for key, row in done_before.items():  # finished rows were kept, not scored again
        assert next(r for r in after if r[:2] == key) == row
    with SQLiteTraceStore(traces) as trace:
        midway = [r for r in cut if trace.query("SELECT steps FROM runs WHERE id=?", (r,))
                  not in ([], [(0,)])]
        for run_id in midway:  # continued from its last complete step, not redone
            info = trace.run_info(run_id)
            assert (info["status"], info["segments"], info["steps"]) == ("completed", 2, 4)
    report = json.loads(resumed.stdout)
    assert (report["n"], report["passed"], report["unfinished"]) == (12, 8, 0)
    assert report["failures"] == {"failed": 4} and report["mean"]["tool_calls"] == 3.0

    again = thinkact(["eval", "--resume", "latest"], tmp_path)  # nothing left: nothing rerun
    assert again.returncode == 0 and rows(evals) == after


def test_show_compare_json_csv_and_charts(tmp_path: Path) -> None:
    tasks = suite(tmp_path)
    ids = []
    for n, answer in enumerate(("It is 42.", "It is 7.")):
        script = write_script(tmp_path / f"{n}.json", [{"content": answer}])
        out = thinkact(["eval", str(tasks), "--provider", "scripted", "--script", str(script),
                        "--tools", "none", "--json"], tmp_path)
        assert out.returncode == 0, out.stderr
        ids.append(json.loads(out.stdout)["eval"])
    shown = thinkact(["eval", "show", ids[0], "--csv", str(tmp_path / "r.csv"), "--chart",
                      str(tmp_path / "r.png")], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "4/6 passed" in shown.stdout and "66.7%" in shown.stdout and "odd" in shown.stdout
    with (tmp_path / "r.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == N_ITEMS and {r["outcome"] for r in table} == {"passed", "failed"}
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    cmp = thinkact(["eval", "compare", ids[0], ids[1], "--json"], tmp_path)
    result = json.loads(cmp.stdout)
    assert result["items"] == N_ITEMS and abs(result["difference"] - 2 / 6) < 1e-9
    assert result["a_solved_b_not"] == ["q1", "q2", "q4", "q5"]
    assert result["b_solved_a_not"] == ["q0", "q3"] and result["mcnemar_p"] == 0.6875
    text = thinkact(["eval", "compare", ids[0], ids[1]], tmp_path).stdout
    assert "McNemar exact p = 0.688" in text and "solved by B only (2): q0, q3" in text
    assert thinkact(["eval", "show", "nope"], tmp_path).returncode == 2
    bad = thinkact(["eval", str(tasks), "--tools", "nonsense", "--provider", "scripted",
                    "--script", str(tmp_path / "0.json")], tmp_path)
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_sweep_runs_one_eval_per_value_and_reuses_trajectories_for_heavy(
        tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [{"content": "It is 42."}])
    out = thinkact(["eval", str(suite(tmp_path)), "--provider", "scripted", "--script",
                    str(script), "--tools", "none", "--sweep", "heavy=1,2,4", "--sweep",
                    "max_steps=1,3", "--json", "--chart", str(tmp_path / "s.png")], tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    heavy, steps = report["points"]["heavy"], report["points"]["max_steps"]
    assert [p["value"] for p in heavy] == [1, 2, 4] and [p["value"] for p in steps] == [1, 3]
    assert all(abs(p["accuracy"] - 4 / 6) < 1e-9 for p in heavy + steps)
    with sqlite3.connect(tmp_path / "data" / "evals.sqlite") as con:
        specs = [json.loads(s) for (s,) in con.execute("SELECT spec FROM evals")]
    # heavy: one eval of 4 samples per item; max_steps: one eval per value
    assert sorted((s["sweep"]["key"], s["epochs"]) for s in specs) == [
        ("heavy", 4), ("max_steps", 1), ("max_steps", 1)]
    for key in ("heavy", "max_steps"):
        assert (tmp_path / f"s-{key}.png").read_bytes()[:4] == b"\x89PNG"
    shown = thinkact(["eval", "show", report["sweep"]], tmp_path)
    assert "vote over N of the same" in shown.stdout and "66.7%" in shown.stdout
