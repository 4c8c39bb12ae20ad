"""What durable tracing costs: append throughput, resume time and size of the SQLite store.

A synthetic run of ``--steps`` tool steps (token-sized reasoning deltas, an assistant message,
a tool call and its result per step) is appended to: the SQLite store as the CLI uses it
(WAL, synchronous=NORMAL, deltas merged), the same with one row per delta, with
synchronous=FULL, and a peer: a plain JSONL file with a flush per event (durable against a
process kill too, but not queryable and without projections). Prints µs per event and per
step, ``load_state`` time at the end, and bytes on disk per step.

    .venv/bin/python benchmarks/trace_store.py [--steps 300] [--delta-chars 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from thinkact.events import (
    EVENT_ADAPTER,
    AssistantMessage,
    Event,
    ReasoningDelta,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolCall, ToolResult, Usage
from thinkact.traces import SQLiteTraceStore


def run_events(steps: int, reasoning_chars: int, delta_chars: int) -> list[Event]:
    events: list[Event] = [RunStarted(run_id="b", task="bench", model="m",
                                      messages=[Message.user("bench")])]
    for s in range(1, steps + 1):
        reasoning = (f"step {s} " * reasoning_chars)[:reasoning_chars]
        call = ToolCall(id=f"c{s}", name="python", arguments=json.dumps({"code": f"x={s}"}))
        events.append(StepStarted(step=s))
        events += [ReasoningDelta(text=reasoning[i:i + delta_chars])
                   for i in range(0, len(reasoning), delta_chars)]
        events += [
            AssistantMessage(message=Message(role="assistant", reasoning=reasoning,
                                             tool_calls=[call]),
                             usage=Usage(prompt_tokens=100 * s, completion_tokens=50)),
            ToolCallStarted(call=call),
            ToolResultEvent(result=ToolResult(call_id=call.id, name="python",
                                              content="out " * 200)),
            StepFinished(step=s),
        ]
    return events


class JsonlPeer:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("a", encoding="utf-8")

    def append(self, run_id: str, event: Event) -> None:
        self.fh.write(EVENT_ADAPTER.dump_json(event).decode() + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def measure(name: str, make: Callable[[Path], object], events: list[Event], steps: int,
            tmp: Path) -> None:
    path = tmp / name.replace(" ", "_")
    store = make(path)
    t0 = time.perf_counter()
    for ev in events:
        store.append("b", ev)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - t0
    resume = ""
    if isinstance(store, SQLiteTraceStore):
        t1 = time.perf_counter()
        state = store.load_state("b")
        assert state.steps_done == steps
        resume = f"{(time.perf_counter() - t1) * 1e3:9.1f}"
    store.close()  # type: ignore[attr-defined]
    size = sum(p.stat().st_size for p in tmp.glob(path.name + "*"))
    print(f"{name:34s} {elapsed / len(events) * 1e6:9.1f} {elapsed / steps * 1e3:9.2f} "
          f"{resume:>10s} {size / steps / 1024:9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--reasoning-chars", type=int, default=2000)
    ap.add_argument("--delta-chars", type=int, default=4, help="chars per reasoning delta")
    a = ap.parse_args()
    events = run_events(a.steps, a.reasoning_chars, a.delta_chars)
    print(f"{a.steps} steps, {len(events)} events ({a.reasoning_chars} reasoning chars per step "
          f"in {a.delta_chars}-char deltas)\n")
    print(f"{'store':34s} {'µs/event':>9s} {'ms/step':>9s} {'resume ms':>10s} "
          f"{'KiB/step':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        measure("sqlite NORMAL, merged deltas", lambda p: SQLiteTraceStore(p), events,
                a.steps, t)
        measure("sqlite NORMAL, row per delta",
                lambda p: SQLiteTraceStore(p, delta_flush_s=None), events, a.steps, t)
        measure("sqlite FULL, merged deltas",
                lambda p: SQLiteTraceStore(p, synchronous="FULL"), events, a.steps, t)
        measure("peer: JSONL file, flush per event", JsonlPeer, events, a.steps, t)


if __name__ == "__main__":
    main()
