"""Held-out evaluation through the real agent loop with the real tools, greedy.

For each family, held-out trajectories (``split="test"``, or ``"combo"``: held-out values in
training's phrases, joined as training never joins them) give the questions and the
verifiable results; the model then runs each question as a fresh agent run (its own kernel and
an empty workspace) over the bundled world. A run is correct when its final answer holds the
result, and: for a trap, says the claim is wrong; for ``decline``, declines with no tool call;
for the rest, does not decline. Figures come per family and by the number of tool calls the
ideal trajectory makes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from thinkact.chat_format.render import ChatFormat
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.train.families import FAMILIES, generate
from thinkact.train.families.verify import TRAP_WORD
from thinkact.train.trajectory import DECLINE, Split, Trajectory
from thinkact.train.world import WorldTools


@dataclass(frozen=True)
class Outcome:
    family: str
    ideal_calls: int
    calls: int
    correct: bool
    declined: bool
    trap: bool
    answer: str


def score(tr: Trajectory, answer: str, calls: int) -> Outcome:
    declined = DECLINE in answer
    if tr.family == "decline":
        correct = declined and calls == 0
    else:
        correct = tr.expect in answer and not declined and (
            not tr.trap or TRAP_WORD in answer.lower())
    return Outcome(tr.family, tr.calls, calls, correct, declined, tr.trap, answer)


def run_task(backend: Any, world: WorldTools, tr: Trajectory, max_tokens: int = 256
             ) -> Outcome:
    """One agent run of ``tr``'s question with the real tools."""
    from thinkact.agent import Agent, Budget, GenerationOptions

    world.new_run(fresh_kernel=True)
    agent = Agent(backend, tools=world.toolset, workspace=world.workspace,
                  budget=Budget(max_steps=tr.calls + 4, max_wall_time_s=300),
                  options=GenerationOptions(max_tokens=max_tokens, temperature=0.0))
    result = world.loop.run_until_complete(agent.arun(tr.question))
    return score(tr, result.answer or "", result.tool_calls)


def held_out(world: WorldTools, per_family: int, seed: int,
             families: tuple[str, ...] | None = None, split: Split = "test"
             ) -> list[Trajectory]:
    """The held-out tasks: ``per_family`` of each family, from a seed of their own."""
    if split == "train":
        raise ValueError("held-out tasks come from split test or combo, not train")
    out = []
    for family in families or tuple(FAMILIES):
        rng = random.Random(f"{seed}-{family}")
        out += [generate(world, family, rng, split) for _ in range(per_family)]
    return out


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Accuracy per family and by ideal number of calls, mean calls, decline and trap rates."""
    def frac(xs: list[bool]) -> float | None:
        return round(sum(xs) / len(xs), 3) if xs else None

    by_family: dict[str, list[Outcome]] = defaultdict(list)
    by_calls: dict[int, list[bool]] = defaultdict(list)
    for o in outcomes:
        by_family[o.family].append(o)
        by_calls[o.ideal_calls].append(o.correct)
    in_scope = [o.declined for o in outcomes if o.family != "decline"]
    return {
        "tasks": len(outcomes),
        "correct": frac([o.correct for o in outcomes]),
        "families": {f: {"tasks": len(os), "correct": frac([o.correct for o in os]),
                         "mean_calls": round(sum(o.calls for o in os) / len(os), 2)}
                     for f, os in by_family.items()},
        "by_ideal_calls": {n: frac(v) for n, v in sorted(by_calls.items())},
        "traps_caught": frac([o.correct for o in outcomes if o.trap]),
        "out_of_scope_declined": frac([o.declined for o in outcomes if o.family == "decline"]),
        "in_scope_declined": frac(in_scope),
    }


def evaluate_backend(backend: Any, per_family: int = 3, seed: int = 10_000,
                     families: tuple[str, ...] | None = None, split: Split = "test"
                     ) -> dict[str, Any]:
    """Run the held-out tasks through the agent loop on ``backend``; :func:`summarize`."""
    with WorldTools() as world:
        tasks = held_out(world, per_family, seed, families, split)
        outcomes = [run_task(backend, world, tr) for tr in tasks]
    return summarize(outcomes)


def evaluate_agent(model: Any, tok: K2Tokenizer, fmt: ChatFormat, per_family: int = 3,
                   seed: int = 10_000, families: tuple[str, ...] | None = None,
                   split: Split = "test") -> dict[str, Any]:
    """:func:`evaluate_backend` with ``model`` greedy in a local backend (JSON guard on)."""
    from thinkact.backends.local import LocalBackend

    backend = LocalBackend(model, tok, fmt=fmt, temperature=0.0, max_seq_len=4096,
                           json_guard=True)
    return evaluate_backend(backend, per_family, seed, families, split)
