"""Basic: the one-call questions of :mod:`thinkact.train.tasks` (arithmetic, counting,
lengths, sorting, sums, reversals), with the real python tool's output."""

from __future__ import annotations

import random

from thinkact.train.tasks import random_task
from thinkact.train.trajectory import Builder, Split, Trajectory
from thinkact.train.world import WorldTools

THINK_BEFORE = ("The user wants {s}. I will compute it with the python tool to be exact.",
                "I need {s}. Let me run it in python rather than guess.")
THINK_AFTER = ("The python tool printed {r}. So the answer is {r}.",
               "Python returned {r}, which is {s}.")


def basic(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    task = random_task(rng)
    b = Builder(world, "basic", task.question)
    r = b.call(rng.choice(THINK_BEFORE).format(s=task.subject), "python", code=task.code)
    return b.finish(rng.choice(THINK_AFTER).format(s=task.subject, r=r),
                    f"The answer is {r}." if task.kind != "arithmetic"
                    else f"{task.subject} = {r}", r)
