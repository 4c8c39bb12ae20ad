"""The agent engine's own cost per step as a run grows (model and tool time excluded).

A long run (300 tool steps by default) against an in-process instant backend and a trivial
tool. For every step: engine time = step wall time - time inside the backend - time inside
the tool. Printed around steps 10/100/200/300 with the process RSS there, plus the ratio of
late to early per-step cost: a flat engine keeps it near 1.0 however long the history gets.
The same run with the SQLite trace store (if present) is measured as a peer. Each
configuration runs ``--repeat`` times; medians pool the repetitions (the machine is shared).

    .venv/bin/python benchmarks/loop_overhead.py [--steps 300] [--chars 2000] [--window N]

With ``--window 131072 --steps 1000`` the history outgrows the window several times over:
old tool outputs are hidden, then older steps summarised, and the per-step cost at step
1000 is compared with step 10's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from thinkact.agent import Agent, Budget, RepeatPolicy
from thinkact.backends import GenerationOptions
from thinkact.events import (
    AssistantMessage,
    BackendEvent,
    ReasoningDelta,
    StepFinished,
    StepStarted,
)
from thinkact.messages import Message, ToolCall, Usage
from thinkact.tools import ToolContext, ToolSpec


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class InstantBackend:
    """Answers immediately: a tool call per step until ``steps``, then a final answer."""

    def __init__(self, steps: int, chars: int, window: int = 10**9) -> None:
        self.steps, self.chars = steps, chars
        self.context_window = window  # 10**9: no compaction, the plain loop over the history
        self.calls = 0
        self.time_s = 0.0

    model_name = "instant"

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        return 0

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        t0 = time.perf_counter()
        i = self.calls
        self.calls += 1
        reasoning = f"step {i} " + "r" * self.chars
        if i < self.steps:
            msg = Message(role="assistant", reasoning=reasoning, tool_calls=[
                ToolCall(id=f"functions.noop:{i}", name="noop", arguments=f'{{"i": {i}}}')])
        else:
            msg = Message(role="assistant", reasoning=reasoning, content="done")
        delta = ReasoningDelta(text=reasoning)
        done = AssistantMessage(message=msg, usage=Usage(prompt_tokens=0, completion_tokens=10))
        self.time_s += time.perf_counter() - t0
        yield delta
        yield done


class NoopTool:
    """Returns a fixed-size output; its own time is measured and excluded."""

    def __init__(self, chars: int) -> None:
        self.out = "o" * chars
        self.time_s = 0.0

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name="noop", description="noop", parameters={
            "type": "object", "properties": {"i": {"type": "integer"}}, "required": ["i"]})

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        t0 = time.perf_counter()
        out = f"{arguments['i']}:{self.out}"
        self.time_s += time.perf_counter() - t0
        return out

    async def aclose(self) -> None:
        return None


async def measure(steps: int, chars: int, trace: Any = None, window: int = 10**9
                  ) -> dict[int, tuple[float, float]]:
    """Per step: (engine seconds, RSS MiB at the end of the step)."""
    backend, noop = InstantBackend(steps, chars, window), NoopTool(chars)
    agent = Agent(backend, tools=[noop], trace=trace, budget=Budget(max_steps=steps + 1),
                  repeat=RepeatPolicy(warn_at=None, stop_at=None))
    out: dict[int, tuple[float, float]] = {}
    t0 = outside0 = 0.0
    async for event in agent.events("benchmark"):
        if isinstance(event, StepStarted):
            t0, outside0 = time.perf_counter(), backend.time_s + noop.time_s
        elif isinstance(event, StepFinished):
            outside = backend.time_s + noop.time_s - outside0
            out[event.step] = (time.perf_counter() - t0 - outside, rss_mib())
    return out


def report(label: str, runs: list[dict[int, tuple[float, float]]], marks: list[int]) -> None:
    """Median engine time over steps m-9..m of every repetition (the machine is shared)."""
    per_step = runs[0]  # RSS from the first run: later runs reuse freed memory
    print(f"\n{label}")
    print(f"{'step':>6} {'engine µs/step (median)':>24} {'RSS MiB':>9}")
    medians = {}
    for m in marks:
        window = [run[s][0] for run in runs for s in range(max(1, m - 9), m + 1) if s in run]
        medians[m] = statistics.median(window) * 1e6
        print(f"{m:>6} {medians[m]:>24.1f} {per_step[m][1]:>9.1f}")
    first, final = marks[0], marks[-1]
    print(f"ratio step {final} / step {first}: {medians[final] / medians[first]:.2f}; "
          f"RSS growth {per_step[final][1] - per_step[first][1]:+.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    ap.add_argument("--chars", type=int, default=2000,
                    help="reasoning and tool-output characters per step")
    ap.add_argument("--window", type=int, default=10**9,
                    help="context window: a small one makes the run compact (hide tool "
                         "outputs, then summarise older steps) as a long real run does")
    args = ap.parse_args()
    marks = sorted({10, *range(100, args.steps + 1, 100), args.steps})
    history_mib = args.steps * 2 * args.chars / 2**20
    print(f"{args.steps} tool steps, {args.chars} chars of reasoning + {args.chars} of tool "
          f"output per step (history text ≈ {history_mib:.1f} MiB)")
    asyncio.run(measure(20, args.chars))  # warm-up: imports, pydantic schema builds
    runs = [asyncio.run(measure(args.steps, args.chars, window=args.window))
            for _ in range(args.repeat)]
    report("engine only (no trace)", runs, marks)
    try:
        from thinkact.traces.sqlite import SQLiteTraceStore  # type: ignore[import-not-found]
    except ImportError:
        print("\n(SQLite trace store not available: peer measurement skipped)")
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            store = SQLiteTraceStore(Path(tmp) / f"traces{i}.db")
            try:
                runs.append(asyncio.run(measure(args.steps, args.chars, trace=store,
                                                window=args.window)))
            finally:
                store.close()
    report("engine + SQLite trace store (every event appended)", runs, marks)


if __name__ == "__main__":
    main()
