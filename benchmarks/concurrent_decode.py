"""Concurrent requests on the local backend: continuous batching vs serving them one by one.

Part 1 (the scheduler itself, on the bench-18m shape and on the bundled model): 1, 2, 4 and
8 requests of ``--new-tokens`` generated tokens each (distinct 32-token prompts, sampled at
temperature 1, no stop token), submitted together vs one after another. Printed: aggregate
tok/s both ways, their ratio, and the bandwidth ceiling on that ratio for the batch (as
``benchmarks/decode.py`` prints it: n rows read every expert any row picks, so a bandwidth-
bound engine's n-row step cannot be more than n * bytes(1 row) / bytes(n rows) times faster
per token), and the roofline ceiling beside it (``benchmarks/roofline.py``: the lower of the
bandwidth bound, at the bandwidth measured here for a working set the model's size, and the
compute bound, at the multiply-add rate the C step's own matmul reaches here on n rows with
its weights in cache). Target: 8 concurrent >= 0.8 of the ceiling; the roofline is the honest
one where n rows' multiply-adds, not the weights' bytes, bound the step.

Part 2 (the agent on top, the bench-18m shape with the bundled model's tokenizer): heavy
mode with 8 trajectories vs a single trajectory, each of ``--agent-steps`` tool steps whose
model turn is ~``--new-tokens`` tokens (forced, so every trajectory does the same work; forced
tokens are decoded like sampled ones) (target: at most 2.5x the wall time), beside the
roofline of those steps (every heavy step one 8-row step at the positions a single trajectory
decodes, both at their roofline: the least time ratio any engine can reach here); and
``serve-model`` on loopback: 8 concurrent streaming ``openai`` clients vs the same 8 one by
one (target: at most 0.5x).

Each figure is the median of ``--repeats`` runs (runs of the compared modes interleave, so
both see the same load on a shared machine), by wall clock and by process CPU time (one
torch thread: robust to other processes on a busy machine, where wall time mostly measures
how much of a core the process got).

    .venv/bin/python benchmarks/concurrent_decode.py [--new-tokens 256] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from decode import active_bytes_per_token, bytes_per_step
from roofline import Roofline
from thinkact.agent import Agent
from thinkact.agent.budget import Budget
from thinkact.agent.heavy import Heavy, Vote
from thinkact.backends import local_scheduler
from thinkact.backends.base import GenerationOptions
from thinkact.backends.embedded import embedded_checkpoint
from thinkact.backends.local import LocalBackend
from thinkact.backends.local_checkpoint import load_local_model, make_random_checkpoint
from thinkact.backends.local_pool import SessionPool
from thinkact.backends.local_request import Request, TokenIds
from thinkact.backends.local_scheduler import DONE, Scheduler
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.chat_format.tokens import IM_END
from thinkact.events import BackendEvent
from thinkact.messages import Message, ToolCall
from thinkact.model.model import K2ForCausalLM
from thinkact.model.presets import bench_18m
from thinkact.model.sampling import SamplingParams
from thinkact.tools import ToolSpec, tool

Clock = tuple[float, float]  # (wall seconds, process CPU seconds)
NO_STOP = TokenIds(stop=frozenset(), reasoning_end=frozenset(), think=-1, think_end=-1)


def median(runs: list[Clock]) -> Clock:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def timed(fn: Callable[[], object]) -> Clock:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def serve(model: Any, prompts: list[list[int]], n_new: int, together: bool) -> None:
    """The requests through one Scheduler, all submitted at once or each after the last."""
    pool = SessionPool(model, max(len(p) for p in prompts) + n_new + 1, len(prompts), True)
    sched = Scheduler(pool, max_batch=8)
    done = [threading.Event() for _ in prompts]
    errors: list[BaseException] = []

    def emit_for(k: int) -> Callable[[object], None]:
        def emit(item: object) -> None:
            if isinstance(item, BaseException):
                errors.append(item)
            elif item is DONE:
                done[k].set()
        return emit

    reqs = [Request(p, n_new, SamplingParams(temperature=1.0), NO_STOP, emit_for(k), seed=k)
            for k, p in enumerate(prompts)]
    for k, req in enumerate(reqs):
        sched.submit(req)
        if not together:
            done[k].wait()
    for d in done:
        d.wait()
    if errors:
        raise errors[0]
    assert all(r.produced == n_new for r in reqs)


def part1(name: str, model: Any, n_new: int, repeats: int) -> dict[str, Any]:
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(1, vocab, (32,), generator=g).tolist() for _ in range(8)]
    per_token = sum(active_bytes_per_token(model, 32 + n_new / 2))
    serve(model, prompts[:2], 4, True)  # warm-up: decoder build, allocator
    roof = Roofline.measure(model)
    out: dict[str, Any] = {"roofline_rates": {"bandwidth_gb_s": roof.bandwidth / 1e9,
                                              "matmul_gmac_s": {str(r): v / 1e9 for r, v in
                                                                roof.rates.items()}}}
    print(f"--- {name}: {n_new} new tokens per request (median of {repeats})")
    print(f"roofline rates: {roof.describe()}")
    print(f"{'n':>2} {'together tok/s':>15} {'one by one':>11} {'ratio':>6} {'ceiling':>8} "
          f"{'roofline':>8} {'of ceiling':>10} {'of roofline':>11}   (wall | cpu)")
    for n in (1, 2, 4, 8):
        runs: dict[bool, list[Clock]] = {True: [], False: []}
        for _ in range(repeats):
            for together in (True, False):
                batch = prompts[:n]
                runs[together].append(timed(lambda b=batch, t=together: serve(model, b, n_new,
                                                                              t)))
        tog, seq = median(runs[True]), median(runs[False])
        ceiling = n * per_token / bytes_per_step(model, n, 32 + n_new / 2)
        bounds = roof.step_time(model, n, 32 + n_new / 2)
        rceil = roof.ratio_ceiling(model, n, 32 + n_new / 2)
        total = n * n_new
        fig = {c: {"together_tok_s": total / tog[i], "one_by_one_tok_s": total / seq[i],
                   "ratio": seq[i] / tog[i], "ceiling": ceiling,
                   "of_ceiling": seq[i] / tog[i] / ceiling, "roofline_ceiling": rceil,
                   "of_roofline": seq[i] / tog[i] / rceil,
                   "step_bounds_ms": {k: v * 1e3 for k, v in bounds.items()},
                   "of_step_roofline": total / tog[i] / (n / bounds["roofline"])}
               for i, c in enumerate(("wall", "cpu"))}
        out[str(n)] = fig
        w, c = fig["wall"], fig["cpu"]
        print(f"{n:>2} {w['together_tok_s']:>7.0f} | {c['together_tok_s']:<5.0f} "
              f"{w['one_by_one_tok_s']:>5.0f} | {c['one_by_one_tok_s']:<5.0f} "
              f"{w['ratio']:>4.2f} | {c['ratio']:<4.2f} {ceiling:>5.2f}x {rceil:>6.2f}x "
              f"{w['of_ceiling']:>7.2f} | {c['of_ceiling']:<4.2f} "
              f"{w['of_roofline']:>6.2f} | {c['of_roofline']:<4.2f}")
    b8, c8 = out["8"]["cpu"]["step_bounds_ms"], out["8"]["cpu"]
    print(f"8 concurrent: {c8['of_ceiling']:.2f} of the bandwidth ceiling, "
          f"{c8['of_roofline']:.2f} of the roofline ceiling by CPU time "
          f"({out['8']['wall']['of_ceiling']:.2f} / {out['8']['wall']['of_roofline']:.2f} by "
          f"wall clock; target >= 0.8); an 8-row step's bounds: bytes {b8['bandwidth']:.2f} ms, "
          f"multiply-adds {b8['compute']:.2f} ms; 8 rows reach {c8['of_step_roofline']:.2f} of "
          "their roofline tok/s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--agent-steps", type=int, default=2)
    ap.add_argument("--skip-agent", action="store_true", help="part 1 only")
    ap.add_argument("--skip-engine", action="store_true", help="part 2 only")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the CPU-time figures stay meaningful on a shared "
                         "machine; with more, compare wall clock)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    res: dict[str, Any] = {}
    if not args.skip_engine:
        with torch.inference_mode():
            torch.manual_seed(0)
            bench = K2ForCausalLM(bench_18m()).eval()
            bundled = load_local_model(embedded_checkpoint())[0]
            res["bench_18m"] = part1("bench-18m", bench, args.new_tokens, args.repeats)
            res["bundled"] = part1("bundled thinkact-tiny", bundled, args.new_tokens,
                                   args.repeats)
    if not args.skip_agent:
        with tempfile.TemporaryDirectory() as tmp:
            res.update(asyncio.run(part2(Path(tmp), args)))
    print(json.dumps(res))


class ForcedSteps(LocalBackend):
    """A random model made to act like an agent: its first ``steps`` turns are a ~n-token
    reasoning plus a tool call, the last a ~n-token reasoning plus an answer (forced tokens
    are decoded like sampled ones: each is one row of a decode step)."""

    def __init__(self, *a: Any, steps: int, n_tokens: int, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.steps = steps
        words = self.tokenizer.decode(self.tokenizer.encode("think about it " * n_tokens)
                                      [: n_tokens - 24])
        call = ToolCall(id="functions.lookup:0", name="lookup", arguments='{"q": "x"}')
        self.turns = (render_assistant_body(Message(role="assistant", reasoning=words,
                                                    tool_calls=[call])) + IM_END,
                      render_assistant_body(Message(role="assistant", reasoning=words,
                                                    content="The answer is 42.")) + IM_END)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        done = sum(m.role == "tool" for m in messages)
        self.force_next(self.turns[done >= self.steps])  # popped by this call at once
        async for event in super().stream(messages, tools, options):
            yield event


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"Found: {q} is described here in a few words."


async def heavy_vs_single(backend: ForcedSteps, n_tokens: int, repeats: int
                          ) -> dict[str, float]:
    def agent(k: int = 1) -> Agent:
        return Agent(backend, tools=[lookup], budget=Budget(max_steps=backend.steps + 2),
                     options=GenerationOptions(max_tokens=n_tokens + 64))

    async def single() -> None:
        a = agent()
        result = await a.arun("Find the answer.")
        await a.aclose()
        assert result.answer == "The answer is 42.", result

    async def heavy() -> None:
        h = Heavy(agent, n=8, aggregator=Vote())
        result = await h.arun("Find the answer.")
        await h.aclose()
        assert result.answer == "The answer is 42.", result

    backend.max_sessions = 8  # as the CLI sets it: a cache per trajectory
    positions = await decoded_positions(single)  # also the warm-up
    roof = Roofline.measure(backend.model)
    # A decode-step roofline: every heavy step one 8-row step at the positions one trajectory
    # decodes, each at its roofline (prefills, tools and the loop are left out).
    bound = (sum(roof.step_time(backend.model, 8, p)["roofline"] for p in positions)
             / sum(roof.step_time(backend.model, 1, p)["roofline"] for p in positions))
    runs: dict[str, list[Clock]] = {"single": [], "heavy": []}
    for _ in range(repeats):
        for name, fn in (("single", single), ("heavy", heavy)):
            runs[name].append(await atimed(fn))
    one, eight = median(runs["single"]), median(runs["heavy"])
    print(f"heavy mode, 8 trajectories x {backend.steps + 1} steps of ~{n_tokens} tokens vs one "
          f"trajectory: wall {eight[0]:.1f} / {one[0]:.1f} s = {eight[0] / one[0]:.2f}x, CPU "
          f"{eight[1]:.1f} / {one[1]:.1f} s = {eight[1] / one[1]:.2f}x (target <= 2.5x; 8x if "
          "served one by one)")
    print(f"  roofline for those steps ({roof.describe()}; {len(positions)} decoded positions, "
          f"{min(positions)}-{max(positions)}): 8 rows take at least {bound:.2f}x one row's "
          f"time; measured {bound / (eight[0] / one[0]):.2f} of that by wall clock, "
          f"{bound / (eight[1] / one[1]):.2f} by CPU time")
    return {"single": one, "heavy": eight, "ratio_wall": eight[0] / one[0],
            "ratio_cpu": eight[1] / one[1], "roofline_ratio": bound,
            "of_roofline_wall": bound / (eight[0] / one[0]),
            "of_roofline_cpu": bound / (eight[1] / one[1])}


async def decoded_positions(run: Callable[[], Awaitable[None]]) -> list[int]:
    """The positions of the decode steps ``run`` makes (one row each when it runs alone)."""
    seen: list[int] = []
    real = local_scheduler.feed_each

    def spy(sessions: Sequence[Any], tokens: Sequence[int], decoder: Any = None) -> Any:
        seen.extend(s.position for s in sessions)
        return real(sessions, tokens, decoder)

    with mock.patch.object(local_scheduler, "feed_each", spy):
        await run()
    return seen


async def atimed(fn: Callable[[], Awaitable[object]]) -> Clock:
    w, c = time.perf_counter(), time.process_time()
    await fn()
    return time.perf_counter() - w, time.process_time() - c


async def serve_clients(backend: LocalBackend, n_tokens: int, repeats: int
                        ) -> dict[str, float]:
    import uvicorn
    from openai import AsyncOpenAI

    from thinkact.server.openai_app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(backend), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        await asyncio.sleep(0.05)

    async def ask(c: AsyncOpenAI, k: int) -> int:
        stream = await c.chat.completions.create(
            model="x", messages=[{"role": "user", "content": f"Client {k}: tell a story."}],
            max_tokens=n_tokens, temperature=1.0, seed=k, stream=True)
        return sum([1 async for chunk in stream if chunk.choices])

    async def one_by_one() -> None:
        for k in range(8):
            await ask(c, k)

    runs: dict[str, list[Clock]] = {"together": [], "one_by_one": []}
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY",
                           max_retries=0) as c:
        await ask(c, 0)  # warm-up
        for _ in range(repeats):
            runs["together"].append(await atimed(
                lambda: asyncio.gather(*(ask(c, k) for k in range(8)))))
            runs["one_by_one"].append(await atimed(one_by_one))
    server.should_exit = True
    thread.join(timeout=10)
    tog, seq = median(runs["together"]), median(runs["one_by_one"])
    print(f"serve-model, 8 streaming openai clients of {n_tokens} tokens, together vs one by "
          f"one: wall {tog[0]:.1f} / {seq[0]:.1f} s = {tog[0] / seq[0]:.2f}x, CPU {tog[1]:.1f} / "
          f"{seq[1]:.1f} s = {tog[1] / seq[1]:.2f}x (target <= 0.5x)")
    return {"together": tog, "one_by_one": seq, "ratio_wall": tog[0] / seq[0],
            "ratio_cpu": tog[1] / seq[1]}


async def part2(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The agent and the server on the bench-18m shape (the bundled tokenizer's vocabulary)."""
    tok = K2Tokenizer.load(embedded_checkpoint())
    ckpt = make_random_checkpoint(tmp / "bench", preset="bench-18m", tokenizer=tok)
    print(f"--- agent and server: bench-18m shape, vocabulary {tok.vocab_size} "
          f"(median of {args.repeats})")
    backend = ForcedSteps.from_checkpoint(ckpt, steps=args.agent_steps,
                                          n_tokens=args.new_tokens)
    heavy = await heavy_vs_single(backend, args.new_tokens, args.repeats)
    served = await serve_clients(LocalBackend.from_checkpoint(ckpt), args.new_tokens,
                                 args.repeats)
    return {"heavy": heavy, "serve_model": served}


if __name__ == "__main__":
    main()
