"""``tiny``: the bundled model's held-out task families (``thinkact.train.tasks``), drawn with
the seed its training evaluation holds out (10000). Passed when the answer contains what the
task's python code prints. Options: ``n`` (default 60), ``seed``, ``families`` (comma list)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from thinkact.eval.suite import Attempt, Item, ListSuite, Score
from thinkact.eval.suites.package import no_more, pick
from thinkact.train.tasks import GENERATORS

HELD_OUT_SEED = 10_000  # thinkact.train.evaluate's held-out draw


@dataclass
class TinySuite(ListSuite):

    def score(self, item: Item, attempt: Attempt) -> Score:
        ok = attempt.answer is not None and str(item.target) in attempt.answer
        return Score(float(ok))


def load(options: dict[str, str]) -> TinySuite:
    n, seed = int(options.pop("n", 60)), int(options.pop("seed", HELD_OUT_SEED))
    families = pick(options, "families", list(GENERATORS), "tiny families")
    no_more(options, "tiny", "n, seed and families")
    rng = random.Random(seed)
    rows = []
    for i in range(n):  # families in turn, so every one is covered at small n
        task = GENERATORS[families[i % len(families)]][1](rng)
        rows.append(Item(id=f"{task.kind}-{i}", input=task.question, target=task.result,
                         category=task.kind, tools=("python",)))
    return TinySuite(rows, "tiny", "thinkact.train.tasks (held-out seed)")
