"""A pool of trajectories from the task families, generated once with the real tools and kept
as JSON lines, so training reads the same data after a resume and never waits on a kernel.

``episode_of`` turns a trajectory into a training :class:`~thinkact.train.episodes.Episode`,
varying which tools are declared (the ones it uses are always there, in registry order).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from thinkact.messages import Message
from thinkact.train.episodes import Episode
from thinkact.train.trajectory import Split, Trajectory
from thinkact.train.world import WORLD_TOOLS

ORDER = ("python", "files", "facts", "search", "browse")


def generate_pool(n: int, seed: int, split: Split = "train") -> Iterator[Trajectory]:
    """``n`` trajectories drawn by family weight, with the real tools."""
    from thinkact.train.families import random_trajectory
    from thinkact.train.world import WorldTools

    rng = random.Random(seed)
    with WorldTools() as world:
        for _ in range(n):
            yield random_trajectory(world, rng, split)


def save_pool(trajectories: Iterator[Trajectory], path: Path) -> int:
    """Write trajectories as JSON lines (atomically); returns how many."""
    tmp = path.with_suffix(".tmp")
    count = 0
    with tmp.open("w") as f:
        for tr in trajectories:
            f.write(json.dumps({"family": tr.family, "expect": tr.expect, "trap": tr.trap,
                                "tools": list(tr.tools),
                                "messages": [m.model_dump(mode="json") for m in tr.messages]},
                               ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def load_pool(path: Path) -> list[Trajectory]:
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        out.append(Trajectory(d["family"], [Message.model_validate(m) for m in d["messages"]],
                              d["expect"], tuple(d["tools"]), d["trap"]))
    return out


def episode_of(tr: Trajectory, rng: random.Random) -> Episode:
    """The trajectory as an episode; mostly the world's tools, sometimes more or fewer."""
    used = {c.name for m in tr.messages for c in m.tool_calls}
    roll = rng.random()
    if roll < 0.6:
        names = set(WORLD_TOOLS)
    elif roll < 0.8:
        names = set(ORDER)
    else:
        names = used | {t for t in ORDER if rng.random() < 0.5} or {"python"}
    return Episode(tr.messages, [t for t in ORDER if t in names], 0)


def pool_episodes(pool: list[Trajectory], seed: int) -> Iterator[Episode]:
    """Endless episodes from ``pool``: each pass in a new order."""
    rng = random.Random(seed)
    while True:
        order = list(range(len(pool)))
        rng.shuffle(order)
        for i in order:
            yield episode_of(pool[i], rng)
