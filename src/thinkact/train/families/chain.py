"""Chained computation: 2 to 14 dependent steps, one python call each, then a one-line check.

Each step's code holds the previous step's printed result, so the chain only works if the
model reads every observation. The check recomputes the whole chain as one nested expression.
Held-out questions use other wordings, start values and operands than training.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, pick
from thinkact.train.world import WorldTools


@dataclass(frozen=True)
class Op:
    train: tuple[str, ...]  # wordings, {n} is the operand
    test: tuple[str, ...]
    code: str  # {x}: the current value, {n}: the operand
    takes_operand: bool
    fits: Callable[[int, int], bool]  # (value, operand) -> whether the step stays small


OPS = {
    "add": Op(("add {n}", "plus {n}", "increase it by {n}"),
              ("put {n} on top", "add on {n}"), "{x} + {n}", True, lambda x, n: True),
    "sub": Op(("subtract {n}", "take away {n}"), ("minus {n}", "reduce it by {n}"),
              "{x} - {n}", True, lambda x, n: x - n > 0),
    "mul": Op(("multiply by {n}", "times {n}"), ("scale it by {n}", "multiply the result by {n}"),
              "{x} * {n}", True, lambda x, n: x * n < 10**7),
    "div": Op(("divide by {n}",), ("split it into {n} equal parts",), "{x} // {n}", True,
              lambda x, n: x % n == 0 and x > n),
    "mod": Op(("take the remainder mod {n}",), ("keep what is left after dividing by {n}",),
              "{x} % {n}", True, lambda x, n: x > n),
    "square": Op(("square it",), ("raise it to the power 2",), "{x} ** 2", False,
                 lambda x, n: x < 3000),
    "double": Op(("double it",), ("make it twice as big",), "{x} * 2", False,
                 lambda x, n: x < 10**6),
    "digits": Op(("sum its digits",), ("add up its digits",), "sum(int(d) for d in str({x}))",
                 False, lambda x, n: x >= 10),
    "reverse": Op(("reverse its digits",), ("write its digits backwards",),
                  "int(str({x})[::-1])", False, lambda x, n: x >= 10 and x % 10 != 0),
}
CONNECTORS = {"train": (", then ", ", then ", "; next ", ", after that "),
              "test": (", and then ", "; afterwards ", ", following that ")}
QUESTIONS = {
    "train": ("Start with {x}. {steps}. What is the result?",
              "Take {x}, {steps}. What number do you end up with?",
              "{x}: {steps}. Use python for each step.",
              "Begin with the number {x}; {steps}. What do you get?"),
    "test": ("Begin at {x}; {steps}. Report the final number.",
             "Here is a puzzle: from {x}, {steps}. What comes out?",
             "Let me give you {x}. Please {steps}. Which number results?"),
}
FIRST = ("Plan: do the {k} steps one at a time in python, each on the last result, then check "
         "the whole chain in one expression. Step 1: {what}.",
         "There are {k} steps. I will run each in python and feed its result into the next, "
         "then recompute everything at once to check. First: {what}.")
NEXT = ("Got {v}. Step {i}: {what}.", "The result is {v}. Next, step {i}: {what}.",
        "{v}. Now step {i}, {what}.")
CHECK = ("All {k} steps are done and the last printed {v}. Check: the whole chain as one "
         "expression.", "Step {k} gave {v}. To check, I compute the full chain in one go.")
DONE = ("The check printed {c}, the same as step by step. The answer is {v}.",
        "Both ways give {v}, so the result is {v}.")
ANSWERS = ("The result is {v}.", "You end up with {v}.", "{v}", "The final number is {v}.")


def _steps(rng: random.Random, x: int, k: int, split: Split) -> list[tuple[str, int]]:
    lo, hi = (2, 15) if split == "train" else (16, 25)
    out: list[tuple[str, int]] = []
    while len(out) < k:
        name = rng.choice(list(OPS))
        n = rng.randint(lo, hi)
        if OPS[name].fits(x, n):
            out.append((name, n))
            x = eval(OPS[name].code.format(x=x, n=n))  # trusted: built from the table
    return out


def chain(world: WorldTools, rng: random.Random, split: Split,
          k: int | None = None) -> Trajectory:
    """A chain of ``k`` steps (drawn when not given: 2-12 for training, 2-14 held out)."""
    k = k or rng.randint(2, 12 if split == "train" else 14)
    x = rng.randint(2, 49) if split == "train" else rng.randint(50, 99)
    steps = _steps(rng, x, k, split)
    words = [pick(rng, split, OPS[o].train, OPS[o].test).format(n=n) for o, n in steps]
    joined = words[0]
    for w in words[1:]:
        joined += pick(rng, split, CONNECTORS["train"], CONNECTORS["test"]) + w
    lead = distractor(rng, split)  # drawn first: the test split's draws stay as they were
    question = lead + pick(rng, split, QUESTIONS["train"], QUESTIONS["test"]).format(
        x=x, steps=joined)
    b = Builder(world, "chain", question)
    value, nested = str(x), str(x)
    for i, ((o, n), what) in enumerate(zip(steps, words, strict=True), 1):
        op = OPS[o]
        text = (rng.choice(FIRST).format(k=k, what=what) if i == 1
                else rng.choice(NEXT).format(v=value, i=i, what=what))
        value = b.call(text, "python", code=f"print({op.code.format(x=value, n=n)})")
        nested = op.code.format(x=f"({nested})" if " " in nested else nested, n=n)
    check = b.call(rng.choice(CHECK).format(k=k, v=value), "python", code=f"print({nested})")
    if check != value:
        raise ValueError(f"chain check disagrees: {check!r} vs {value!r} for {question!r}")
    return b.finish(rng.choice(DONE).format(c=check, v=value),
                    rng.choice(ANSWERS).format(v=value), value)
