"""``world``: the bundled model's v2 held-out tasks (``thinkact.train.families``) over the
bundled world (``assets/world``), drawn as the training evaluator draws them (split "test",
seed 10000). Scored by ``thinkact.train.agent_eval.score``: the answer holds the result, a
trap is called wrong, ``decline`` declines with no tool call and no other family declines.

Each run gets the real tools: python and files in its own fresh workspace (python jailed as
in every eval), facts over the world's ``facts.sqlite`` and search over its notes. Options:
``per_family`` (default 10) or ``n`` (in all, families in turn), ``seed``, ``families``
(comma list), ``split``: ``test`` (other templates, values and entities than training's,
default) or ``combo`` (held-out values and entities in training's phrases, in combinations
training never draws), ``by``: ``family`` (the category, default) or ``calls`` (the category is
``family/N``, N the ideal trajectory's calls, also kept as ``meta["ideal_calls"]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from thinkact.eval.suite import Attempt, Item, ListSuite, Score
from thinkact.eval.suites.package import no_more, pick
from thinkact.tools.base import Tool
from thinkact.train.families import FAMILIES
from thinkact.train.trajectory import Trajectory
from thinkact.train.world import WORLD_DIR

HELD_OUT_SEED = 10_000  # thinkact.train.agent_eval's default held-out seed
PER_FAMILY = 10


@dataclass
class WorldSuite(ListSuite):
    """Items are held-out questions (target: what the answer must hold); ``serve()`` gives
    every run's ``search`` the notes' index (``world_index``: built once into the cache)."""

    tasks: dict[str, Trajectory] = field(default_factory=dict)
    world: Path = WORLD_DIR
    index_path: Path | None = None

    @contextmanager
    def serve(self) -> Iterator[None]:
        from thinkact.tools.world import world_index

        self.index_path = world_index(self.world / "notes")  # the folder training indexed
        try:
            yield
        finally:
            self.index_path = None

    def extra_tools(self, item: Item) -> list[Tool]:
        """facts and search over the world, after the item's python and files: the order
        the model was trained with."""
        from thinkact.tools.builtin.facts import FactsTool
        from thinkact.tools.builtin.search import SearchTool

        if self.index_path is None:
            raise RuntimeError("the world suite's search index is built by serve(): "
                               "run its items inside `with serving(suite)`")
        return [FactsTool(self.world / "facts.sqlite"), SearchTool(self.index_path)]

    def score(self, item: Item, attempt: Attempt) -> Score:
        from thinkact.train.agent_eval import score

        tr = self.tasks[item.id]
        answer = attempt.answer or ""
        calls = sum(len(m.tool_calls) for m in attempt.messages if m.role == "assistant")
        out = score(tr, answer, calls)
        return Score(float(out.correct), "" if out.correct else _why(tr, out.declined, calls),
                     marks={"declined": float(out.declined)})


def _why(tr: Trajectory, declined: bool, calls: int) -> str:
    if tr.family == "decline":
        return "did not decline" if not declined else f"declined after {calls} tool calls"
    if declined:
        return "declined an in-scope task"
    return f"the answer lacks {tr.expect!r}" + (" or does not call the claim wrong"
                                                 if tr.trap else "")


def load(options: dict[str, str]) -> WorldSuite:
    from thinkact.train.agent_eval import held_out
    from thinkact.train.world import WorldTools

    n = int(options.pop("n")) if "n" in options else None
    per_family = int(options.pop("per_family", PER_FAMILY))
    seed = int(options.pop("seed", HELD_OUT_SEED))
    families = pick(options, "families", list(FAMILIES), "world families")
    by = options.pop("by", "family")
    split = options.pop("split", "test")
    no_more(options, "world", "n, per_family, seed, families, split and by")
    if split not in ("test", "combo"):
        raise ValueError(f"world: split must be test or combo, not {split!r}")
    if by not in ("family", "calls"):
        raise ValueError(f"world: by must be family or calls, not {by!r}")
    if n is not None:
        per_family = -(-n // len(families))
    if per_family < 1 or (n is not None and n < 1):
        raise ValueError("world: n and per_family must be 1 or more")
    with WorldTools() as world:
        drawn = held_out(world, per_family, seed, tuple(families),
                         "combo" if split == "combo" else "test")
    rows, tasks = [], {}
    for k in range(per_family):  # families in turn, so a small n covers every one
        for f, family in enumerate(families):
            tr = drawn[f * per_family + k]
            item = Item(id=f"{family}-{k}", input=tr.question, target=tr.expect,
                        category=family if by == "family" else f"{family}/{tr.calls}",
                        tools=("python", "files"),
                        meta={"ideal_calls": tr.calls, "trap": tr.trap})
            rows.append(item)
            tasks[item.id] = tr
    rows = rows[:n] if n is not None else rows
    return WorldSuite(rows, "world", f"thinkact.train.families (split {split}, seed {seed})",
                      tasks={i.id: tasks[i.id] for i in rows})
