"""Eval harness throughput on a scripted model: items/s at concurrency 1 and 8, and the
harness's own cost per item against the same runs made without it.

Each item is a two-step run (one ``files`` tool call, then the answer) of a scripted model
that sleeps ``--delay-ms`` per streamed chunk, standing in for a remote model's latency.
Printed: items/s at concurrency 1 and 8 and their ratio (the ceiling is 8 when the model's
latency dominates); the bare cost per item of ``Agent.arun`` with the same backend, tools
and SQLite trace; the eval's cost per item at concurrency 1; and the difference, which is
the harness (claim the row, read the run back from its trace, score, finish the row).
Figures are wall clock on whatever machine runs it: compare the ratios.

    .venv/bin/python benchmarks/eval_throughput.py [--items 300] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from thinkact.agent import Agent
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import EvalSettings, EvalStore, Item, agent_maker, run_eval
from thinkact.eval.suites.jsonl import JsonlSuite
from thinkact.messages import Message, ToolCall
from thinkact.traces.sqlite import SQLiteTraceStore


class SlowScripted(ScriptedBackend):
    """Two turns per run, ``delay`` seconds per streamed chunk (a model's latency)."""

    def __init__(self, delay: float) -> None:
        super().__init__(self._turn, record=False, chunk_chars=64)
        self.delay = delay

    def _turn(self, messages: Sequence[Message]) -> Message:
        if any(m.role == "tool" for m in messages):
            return Message(role="assistant", reasoning="Written.", content="It is 42.")
        call = ToolCall(id="c1", name="files", arguments='{"action": "write", "path": '
                                                        '"a.txt", "content": "x"}')
        return Message(role="assistant", reasoning="Write it.", tool_calls=[call])

    async def stream(self, messages, tools, options):  # type: ignore[no-untyped-def]
        async for event in super().stream(messages, tools, options):
            await asyncio.sleep(self.delay)
            yield event


def suite(n: int) -> JsonlSuite:
    items = [Item(id=f"q{i}", input=f"Question {i}?", target="42", meta={"scorer": "number"})
             for i in range(n)]
    return JsonlSuite(items, "bench", "generated")


async def eval_seconds(root: Path, n: int, concurrency: int, delay: float) -> float:
    s = suite(n)
    with EvalStore(root / "evals.sqlite") as store, \
            SQLiteTraceStore(root / "traces.sqlite") as trace:
        eval_id = f"ev-c{concurrency}"
        store.create(eval_id, "bench", {})
        make = agent_maker({"tools": "files", "workspace": str(root / "ws")},
                           SlowScripted(delay), trace)
        start = time.perf_counter()
        rows = await run_eval(store, trace, eval_id, s, s.items(), make,
                              EvalSettings(concurrency=concurrency))
        took = time.perf_counter() - start
    assert sum(r.outcome == "passed" for r in rows) == n
    return took


async def bare_seconds(root: Path, n: int, delay: float) -> float:
    """The same runs, one after another, with no eval around them."""
    with SQLiteTraceStore(root / "bare.sqlite") as trace:
        make = agent_maker({"tools": "files", "workspace": str(root / "bare-ws")},
                           SlowScripted(delay), trace)
        start = time.perf_counter()
        for item in suite(n).items():
            agent: Agent = make(f"bare-{item.id}", item, 0, [])
            result = await agent.arun(item.input, f"bare-{item.id}")
            await agent.aclose()
            assert result.answer == "It is 42."
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    a = ap.parse_args()
    delay = a.delay_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one = asyncio.run(eval_seconds(root / "c1", a.items, 1, delay))
        eight = asyncio.run(eval_seconds(root / "c8", a.items, 8, delay))
        bare = asyncio.run(bare_seconds(root, a.items, delay))
    print(f"items: {a.items}, scripted model: 2 steps per item, {a.delay_ms:g} ms per chunk")
    print(f"concurrency 1: {a.items / one:7.1f} items/s")
    print(f"concurrency 8: {a.items / eight:7.1f} items/s  ({one / eight:.2f}x concurrency 1)")
    print(f"bare Agent.arun per item:  {1000 * bare / a.items:6.2f} ms")
    print(f"eval per item (conc. 1):   {1000 * one / a.items:6.2f} ms")
    print(f"harness overhead per item: {1000 * (one - bare) / a.items:6.2f} ms "
          f"({(one - bare) / bare:.0%} of a bare run)")


if __name__ == "__main__":
    main()
