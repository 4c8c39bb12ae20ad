"""Ideal trajectories built by running the real tools: one assistant step per tool call.

A family writes the reasoning and chooses each call; :class:`Builder` runs the call through
the real toolset (:class:`~thinkact.train.world.WorldTools`) and records the assistant step and
the tool's actual result, so every observation in a trajectory is what the tool returned.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from thinkact.messages import Message, ToolCall, ToolResult
from thinkact.train.world import WORLD_TOOLS, WorldTools
from thinkact.untrusted import unmarked

# train: what training sees. test: held out by template, value range and entity. combo: held-out
# values and entities in training's templates, worded in combinations training never draws
# (thinkact.train.phrasing).
Split = Literal["train", "test", "combo"]


@dataclass(frozen=True)
class Trajectory:
    """A question and its ideal run. ``expect``: what a correct final answer must contain
    (``DECLINE`` for a refusal); ``trap``: the question carries a claim that is wrong."""

    family: str
    messages: list[Message]
    expect: str
    tools: tuple[str, ...] = WORLD_TOOLS
    trap: bool = False

    @property
    def question(self) -> str:
        return self.messages[0].content or ""

    @property
    def calls(self) -> int:
        return sum(len(m.tool_calls) for m in self.messages)


# Every refusal says this, so "declined" is one substring test.
DECLINE = "I can't do that"


class Builder:
    """Accumulates one trajectory: ``call`` steps, then ``finish``."""

    def __init__(self, world: WorldTools, family: str, question: str,
                 fresh_kernel: bool = False) -> None:
        world.new_run(fresh_kernel)  # fresh: what the kernel prints depends on no earlier call
        self.world = world
        self.family = family
        self.messages: list[Message] = [Message(role="user", content=question)]
        self.results: list[ToolResult] = []

    def call(self, reasoning: str, name: str, **arguments: Any) -> str:
        """One assistant step that calls ``name``; returns the real output (inside its
        untrusted-data envelope, if any), stripped."""
        call_id = f"functions.{name}:{len(self.results)}"
        call = ToolCall(id=call_id, name=name,
                        arguments=json.dumps(arguments, ensure_ascii=False))
        self.messages.append(Message(role="assistant", content="", reasoning=reasoning,
                                     tool_calls=[call]))
        result = self.world.call(call_id, name, arguments)
        self.messages.append(Message.tool(result))
        self.results.append(result)
        return unmarked(result.content).strip()

    def finish(self, reasoning: str, answer: str, expect: str, trap: bool = False
               ) -> Trajectory:
        if expect not in answer:
            raise ValueError(f"{self.family}: the answer {answer!r} lacks {expect!r}")
        self.messages.append(Message(role="assistant", content=answer, reasoning=reasoning))
        return Trajectory(self.family, self.messages, expect, trap=trap)


def pick(rng: random.Random, split: Split, train: Sequence[str], test: Sequence[str]) -> str:
    """A wording for the split: ``test`` questions never use a training template; ``train``
    and ``combo`` use training's."""
    return rng.choice(test if split == "test" else train)


def values(split: Split) -> Literal["train", "test"]:
    """Whose values, names and entities a split draws (combo: the held-out ones)."""
    return "train" if split == "train" else "test"


E = TypeVar("E")


def entities(split: Split, site: int, names: Sequence[E], held: Sequence[str],
             name: Callable[[E], str]) -> list[E]:
    """The entities a question at ``site`` may name (its index among the questions that draw
    from ``names``; ``names``: those this question can use). One rule: of the held-out
    entities among ``names``, every other one is held out here (which half alternates with the
    site), so training still writes each at other sites; ``combo`` draws just those held-out
    pairs, ``test`` every held-out entity."""
    here = [e for e in names if name(e) in held]
    if split == "test":
        return here
    pairs = [e for i, e in enumerate(here) if (i + site) % 2 == 0]
    return pairs if split == "combo" else [e for e in names if e not in pairs]


TRAIN_DISTRACTORS = (
    "", "", "", "", "It is for my homework. ", "Quick question. ", "I am on my lunch break. ",
    "No rush. ", "My cat is asleep on the keyboard. ",
)
TEST_DISTRACTORS = (
    "", "", "", "I was asked this at work today. ", "Please be careful. ",
    "A friend told me a different answer. ", "The train is late again. ",
)


def distractor(rng: random.Random, split: Split) -> str:
    return pick(rng, split, TRAIN_DISTRACTORS, TEST_DISTRACTORS)
