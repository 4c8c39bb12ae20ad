"""Time per agent step with KV-cache prefix reuse on vs off (LocalBackend, tiny random model).

A scripted conversation grows by one tool step per model call: the model is forced to emit the
scripted assistant turn (reasoning + a tool call), then the tool result is appended. With
reuse on, each call prefills only the new suffix (the tool result and the next generation
prompt); with reuse off it re-encodes the whole history. Prints step 5 and step 50 figures
and the off/on ratio measured in the same run.

    .venv/bin/python benchmarks/prefix_reuse.py [--steps 50] [--preset tiny] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

import torch

from thinkact.backends.base import GenerationOptions
from thinkact.backends.local import LocalBackend
from thinkact.backends.local_checkpoint import make_random_checkpoint
from thinkact.chat_format.render import render_assistant_body
from thinkact.chat_format.tokens import IM_END
from thinkact.events import AssistantMessage
from thinkact.messages import Message, ToolCall, ToolSpec

SEARCH = ToolSpec(name="search", description="Search the web.",
                  parameters={"type": "object", "properties": {"query": {"type": "string"}},
                              "required": ["query"]})


def scripted_turn(step: int) -> Message:
    return Message(role="assistant", reasoning=f"Step {step}: look up the next item.",
                   tool_calls=[ToolCall(id=f"functions.search:{step - 1}", name="search",
                                        arguments=json.dumps({"query": f"item {step}"}))])


def tool_result(step: int) -> Message:
    return Message(role="tool", tool_call_id=f"functions.search:{step - 1}", name="search",
                   content=f"Result {step}: the item is described here in a few words.")


async def run(backend: LocalBackend, steps: int, only: set[int] | None = None
              ) -> dict[int, tuple[float, int, int]]:
    """step -> (seconds, prompt tokens, cached tokens). ``only``: call the model at these steps
    only (without reuse every call re-encodes everything, so the others need not run)."""
    msgs = [Message.user("Find the answer by searching step by step.")]
    out = {}
    for step in range(1, steps + 1):
        turn = scripted_turn(step)
        if only is not None and step not in only:
            msgs += [turn, tool_result(step)]
            continue
        backend.force_next(render_assistant_body(turn) + IM_END)
        t0 = time.perf_counter()
        done = None
        async for event in backend.stream(msgs, [SEARCH], GenerationOptions(max_tokens=256)):
            if isinstance(event, AssistantMessage):
                done = event
        elapsed = time.perf_counter() - t0
        assert done is not None and done.message.tool_calls, "forced tool call was not parsed"
        out[step] = (elapsed, done.usage.prompt_tokens, done.usage.cached_tokens)
        msgs += [turn, tool_result(step)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_random_checkpoint(tmp, preset=args.preset, max_seq_len=16384)
        measured = {s for s in (5, args.steps) if s <= args.steps}
        on = LocalBackend.from_checkpoint(ckpt, reuse_prefix=True, temperature=0.0)
        off = LocalBackend.from_checkpoint(ckpt, reuse_prefix=False, temperature=0.0)
        results = {True: asyncio.run(run(on, args.steps)),
                   False: asyncio.run(run(off, args.steps, only=measured))}
    print(f"preset={args.preset} threads={args.threads} steps={args.steps} "
          "(each step: prefill + ~30 forced decode tokens)")
    print(f"{'step':>5} {'prompt':>7} {'cached(on)':>10} {'on s':>8} {'off s':>8} {'off/on':>7}")
    for step in sorted(measured):
        on_s, prompt, cached = results[True][step]
        off_s, off_prompt, off_cached = results[False][step]
        assert off_prompt == prompt and off_cached == 0
        print(f"{step:>5} {prompt:>7} {cached:>10} {on_s:>8.3f} {off_s:>8.3f} "
              f"{off_s / on_s:>7.2f}")
    total_on = sum(r[0] for r in results[True].values())
    print(f"all {args.steps} steps with reuse: {total_on:.2f} s")


if __name__ == "__main__":
    main()
