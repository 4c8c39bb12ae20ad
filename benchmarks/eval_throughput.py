"""Eval harness throughput on a scripted model: items/s at concurrency 1 and 8, and the
harness's own cost per item against the same runs made without it.

Each item is a two-step run (one ``files`` tool call, then the answer) of a scripted model
that sleeps ``--delay-ms`` per streamed chunk, standing in for a remote model's latency.
Printed: items/s at concurrency 1 and 8 and their ratio (the ceiling is 8 when the model's
latency dominates); with ``--ray``, items/s with 2 Ray workers on a local cluster (started
before the clock; the workers' start is timed); the bare cost per item of ``Agent.arun``
with the same backend, tools and SQLite trace; the eval's cost per item at concurrency 1;
and the difference, which is the harness (claim the row, read the run back from its trace,
score, finish the row).
Figures are wall clock on whatever machine runs it: compare the ratios.

    .venv/bin/python benchmarks/eval_throughput.py [--items 300] [--delay-ms 20] [--ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from thinkact.agent import Agent
from thinkact.eval import EvalSettings, EvalStore, Item, agent_maker, run_eval
from thinkact.eval.agents import build_backend
from thinkact.eval.ray_executor import EvalWorker, run_eval_ray
from thinkact.eval.suites.jsonl import JsonlSuite
from thinkact.traces.sqlite import SQLiteTraceStore


def write_script(path: Path, delay: float) -> dict[str, Any]:
    """The run options of a scripted model: a ``files`` call, then the answer, ``delay``
    seconds per streamed chunk; workers (Ray actors) rebuild it from the same options."""
    turns = [{"reasoning": "Write it.", "tool_calls": [{"name": "files", "arguments": {
        "action": "write", "path": "a.txt", "content": "x"}}]},
        {"reasoning": "Written.", "content": "It is 42."}]
    path.write_text(json.dumps({"turns": turns, "delay_s": delay}))
    return {"provider": "scripted", "script": str(path), "tools": "files"}


def items(n: int) -> list[Item]:
    return [Item(id=f"q{i}", input=f"Question {i}?", target="42", meta={"scorer": "number"})
            for i in range(n)]


def eval_seconds(root: Path, run: dict[str, Any], n: int, concurrency: int,
                 executor: str = "local") -> float:
    suite = JsonlSuite(items(n), "bench", "generated")
    root.mkdir(parents=True)
    with EvalStore(root / "evals.sqlite") as store, \
            SQLiteTraceStore(root / "traces.sqlite") as trace:
        eval_id = f"ev-{executor}-c{concurrency}"
        spec = {"suite": "bench", "run": {**run, "workspace": str(root / "ws")},
                "trace_db": str(root / "traces.sqlite")}
        store.create(eval_id, "bench", spec)
        settings = EvalSettings(concurrency=concurrency)
        start = time.perf_counter()
        if executor == "ray":
            rows = run_eval_ray(store, trace, eval_id, spec, suite.items(), settings,
                                worker=BenchWorker)
        else:
            make = agent_maker(spec["run"], build_backend(spec["run"]), trace)
            rows = asyncio.run(run_eval(store, trace, eval_id, suite, suite.items(), make,
                                        settings))
        took = time.perf_counter() - start
    assert sum(r.outcome == "passed" for r in rows) == n
    return took


class BenchWorker(EvalWorker):
    """A Ray worker for the generated suite (it has no file to load)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.suite = JsonlSuite(items(10_000), "bench", "generated")
        self.items = list(self.suite.items())
        self.backend = build_backend(spec["run"])
        self.settings = EvalSettings(**spec["settings"])


def bare_seconds(root: Path, run: dict[str, Any], n: int) -> float:
    """The same runs, one after another, with no eval around them."""

    async def go() -> float:
        with SQLiteTraceStore(root / "bare.sqlite") as trace:
            make = agent_maker({**run, "workspace": str(root / "bare-ws")}, build_backend(run),
                               trace)
            start = time.perf_counter()
            for item in items(n):
                agent: Agent = make(f"bare-{item.id}", item, 0, [])
                result = await agent.arun(item.input, f"bare-{item.id}")
                await agent.aclose()
                assert result.answer == "It is 42."
            return time.perf_counter() - start

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--ray", action="store_true", help="also 2 Ray workers (thinkact[ray])")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = write_script(root / "script.json", a.delay_ms / 1000)
        one = eval_seconds(root / "c1", run, a.items, 1)
        eight = eval_seconds(root / "c8", run, a.items, 8)
        bare = bare_seconds(root, run, a.items)
        if a.ray:
            import ray as ray_module

            ray_module.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray = eval_seconds(root / "ray2", run, a.items, 2, "ray") if a.ray else None
    print(f"items: {a.items}, scripted model: 2 steps per item, {a.delay_ms:g} ms per chunk")
    print(f"local, concurrency 1: {a.items / one:7.1f} items/s")
    print(f"local, concurrency 8: {a.items / eight:7.1f} items/s  ({one / eight:.2f}x "
          "concurrency 1)")
    if ray is not None:
        print(f"ray, 2 workers:       {a.items / ray:7.1f} items/s  ({one / ray:.2f}x local "
              "concurrency 1)")
    print(f"bare Agent.arun per item:  {1000 * bare / a.items:6.2f} ms")
    print(f"eval per item (conc. 1):   {1000 * one / a.items:6.2f} ms")
    print(f"harness overhead per item: {1000 * (one - bare) / a.items:6.2f} ms "
          f"({(one - bare) / bare:.0%} of a bare run)")


if __name__ == "__main__":
    main()
