"""Task families with verifiable answers: ``generate(world, family, rng, split)``.

Each family builds ideal trajectories by running the real tools (see
:mod:`thinkact.train.trajectory`). ``split="test"`` gives held-out questions: other templates
and value ranges than ``"train"``, and the held-out entities (which training names only at
other questions). ``"combo"``: held-out values and entities in
training's templates and phrases, joined in combinations training never draws
(:mod:`thinkact.train.phrasing`, which also adds the opening and closing phrases). A held-out
entity is held out only at some of the questions that name it (``trajectory.entities``), so
training still writes it; combo asks it where training never does.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from thinkact.messages import Message
from thinkact.train.families.basic import basic
from thinkact.train.families.chain import chain
from thinkact.train.families.decline import decline
from thinkact.train.families.lookup import facts
from thinkact.train.families.notes import search
from thinkact.train.families.recover import recover
from thinkact.train.families.verify import verify
from thinkact.train.families.workspace import files
from thinkact.train.phrasing import phrase
from thinkact.train.trajectory import Split, Trajectory
from thinkact.train.world import WorldTools

Family = Callable[[WorldTools, random.Random, Split], Trajectory]
FAMILIES: dict[str, Family] = {
    "basic": basic, "chain": chain, "facts": facts, "search": search, "files": files,
    "verify": verify, "recover": recover, "decline": decline,
}
# How often each family is drawn for training (chains and facts are the long ones).
WEIGHTS = {"basic": 0.14, "chain": 0.2, "facts": 0.16, "search": 0.12, "files": 0.08,
           "verify": 0.1, "recover": 0.12, "decline": 0.08}


def generate(world: WorldTools, family: str, rng: random.Random, split: Split = "train",
             tries: int = 5) -> Trajectory:
    """One trajectory of ``family``; a draw that a family rejects (its check could not be
    made exact) is drawn again."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    for _ in range(tries - 1):
        try:
            return _worded(FAMILIES[family](world, rng, split), rng, split)
        except ValueError:
            continue
    return _worded(FAMILIES[family](world, rng, split), rng, split)


def _worded(tr: Trajectory, rng: random.Random, split: Split) -> Trajectory:
    question = Message(role="user", content=phrase(tr.question, rng, split))
    return dataclasses.replace(tr, messages=[question, *tr.messages[1:]])


def random_trajectory(world: WorldTools, rng: random.Random, split: Split = "train"
                      ) -> Trajectory:
    names = list(WEIGHTS)
    return generate(world, rng.choices(names, [WEIGHTS[n] for n in names])[0], rng, split)
