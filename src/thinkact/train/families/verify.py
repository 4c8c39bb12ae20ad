"""Verification: compute, then recompute a different way before answering.

Half the tasks quote a claimed result; in a trap the claim is wrong by construction (off by a
small amount) and the answer must say so and give the right value.
"""

from __future__ import annotations

import random

from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, pick
from thinkact.train.world import WorldTools

# (question wording, first code, check code, what the check does); {a} {b} operands
WAYS = (
    ("{a} * {b}", "print({a} * {b})", "print(sum([{a}] * {b}))", "add {a} to itself {b} times"),
    ("{a} * {b}", "print({a} * {b})", "print({b} * {a})", "multiply in the other order"),
    ("{a} + {b}", "print({a} + {b})", "print({a} - (-{b}))", "subtract the negative"),
    ("{a} ** 2", "print({a} ** 2)", "print({a} * {a})", "multiply {a} by itself"),
)
CLAIMS = {"train": ("A worksheet says {e} = {c}. Is that right? Give the correct value.",
                    "My notes claim {e} is {c}. Check it."),
          "test": ("Someone told me {e} equals {c}. Verify that and tell me the true value.",)}
PLAIN = {"train": ("What is {e}? Double-check your answer.",
                   "Compute {e} and verify the result another way."),
         "test": ("Work out {e}, and make sure it is right before you answer.",)}


def verify(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    expr, first, check, how = rng.choice(WAYS)
    lo, hi = (11, 89) if split == "train" else (90, 199)
    a, b_ = rng.randint(lo, hi), rng.randint(2, 40)
    e, first, check, how = (s.format(a=a, b=b_) for s in (expr, first, check, how))
    claim = rng.random() < 0.5
    trap = claim and rng.random() < 0.6
    right = str(eval(e))  # trusted: built from WAYS; only picks the claimed number
    claimed = str(int(right) + rng.choice((-10, -2, -1, 1, 2, 10))) if trap else right
    ways = CLAIMS if claim else PLAIN
    q = pick(rng, split, ways["train"], ways["test"]).format(e=e, c=claimed)
    b = Builder(world, "verify", distractor(rng, split) + q)
    plan = f"Plan: compute it in python, then check it another way ({how})"
    if claim:
        plan += f", and compare with the claimed {claimed}"
    got = b.call(plan + ".", "python", code=first)
    again = b.call(f"Python gives {got}. Check: {how}.", "python", code=check)
    if again != got or got != right:
        raise ValueError(f"the two ways disagree for {e}")
    if not claim:
        return b.finish(f"Both ways give {got}. The answer is {got}.",
                        f"{e} = {got} (checked two ways).", got)
    if trap:
        return b.finish(f"Both ways give {got}, not {claimed}. The claim is wrong.",
                        f"That is wrong: {e} = {got}, not {claimed}.", got, trap=True)
    return b.finish(f"Both ways give {got}, the same as the claim. It is correct.",
                    f"Yes, that is correct: {e} = {got}.", got)


TRAP_WORD = "wrong"  # a caught trap's answer says the claim is wrong
