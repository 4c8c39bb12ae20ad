"""Tool latency, each figure next to a peer measured in the same run.

    .venv/bin/python benchmarks/tool_latency.py [--reps N]

python tool: round trip of a trivial call on a warm kernel vs a fresh ``python -c`` process
(what a stateless "run this snippet" tool would pay per call). Each measurement is one
function returning a ``Measurement``; add new ones to ``MEASUREMENTS``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from thinkact.tools.base import ToolContext
from thinkact.tools.python_tool import PythonTool


@dataclass
class Measurement:
    name: str
    subject: str  # what we measured
    peer: str  # what it is compared with
    subject_ms: list[float]
    peer_ms: list[float]
    extra: str = ""

    def report(self) -> str:
        s, p = statistics.median(self.subject_ms), statistics.median(self.peer_ms)
        lines = [
            f"== {self.name} ({len(self.subject_ms)} reps)",
            f"  {self.subject:<44} median {s:9.2f} ms",
            f"  {self.peer:<44} median {p:9.2f} ms",
            f"  ratio peer/subject: {p / s:.1f}x" if s > 0 else "  ratio: n/a",
        ]
        if self.extra:
            lines.append(f"  {self.extra}")
        return "\n".join(lines)


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


async def measure_python_tool(reps: int) -> Measurement:
    """Warm-kernel ``python`` call vs a fresh interpreter per snippet."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ToolContext(run_id="bench", workspace=Path(tmp))
        tool = PythonTool()
        try:
            cold = await _timed(lambda: tool.call({"code": "x = 0"}, ctx))
            warm: list[float] = []
            for _ in range(reps):
                warm.append(await _timed(lambda: tool.call({"code": "x += 1; print(x)"}, ctx)))
        finally:
            await tool.aclose()
    fresh: list[float] = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "x = 1; print(x)"], check=True,
                       capture_output=True)
        fresh.append((time.perf_counter() - start) * 1000)
    return Measurement("python tool", "warm kernel call (x += 1; print(x))",
                       "fresh `python -c` subprocess", warm, fresh,
                       extra=f"first call incl. kernel start: {cold:.0f} ms")


MEASUREMENTS: list[Callable[[int], Awaitable[Measurement]]] = [measure_python_tool]


async def main(reps: int) -> None:
    for measure in MEASUREMENTS:
        print((await measure(reps)).report(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    asyncio.run(main(parser.parse_args().reps))
