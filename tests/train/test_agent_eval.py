"""The held-out evaluator runs each question through the real agent loop and real tools.

A scripted model that plays the ideal trajectories must score 100% everywhere (every call it
makes runs for real, and the answers hold what the tools returned); one that declines
everything must be counted as declining; one that answers without the result scores 0."""

from __future__ import annotations

from collections.abc import Sequence

from thinkact.backends.scripted import ScriptedBackend
from thinkact.messages import Message
from thinkact.train.agent_eval import evaluate_backend, held_out
from thinkact.train.world import WorldTools

FAMILIES = ("chain", "facts", "search", "files", "verify", "recover", "decline")


def _ideal_policy(seed: int) -> ScriptedBackend:
    with WorldTools() as world:
        tasks = {tr.question: tr for tr in held_out(world, 1, seed, FAMILIES)}

    def next_turn(messages: Sequence[Message]) -> Message:
        tr = tasks[next(m.content for m in messages if m.role == "user") or ""]
        done = sum(1 for m in messages if m.role == "assistant")
        return [m for m in tr.messages if m.role == "assistant"][done]

    return ScriptedBackend(next_turn)


def test_the_ideal_trajectories_score_full_marks_through_the_agent_loop() -> None:
    result = evaluate_backend(_ideal_policy(7), per_family=1, seed=7, families=FAMILIES)
    assert result["tasks"] == len(FAMILIES) and result["correct"] == 1.0, result
    assert result["out_of_scope_declined"] == 1.0 and result["in_scope_declined"] == 0.0
    assert result["families"]["decline"]["mean_calls"] == 0
    assert result["families"]["chain"]["mean_calls"] >= 3  # a chain makes several calls
    assert set(result["by_ideal_calls"].values()) == {1.0}


def test_declining_everything_and_answering_nonsense_both_score_zero() -> None:
    decline = ScriptedBackend(lambda m: Message(role="assistant", reasoning="no",
                                                content="I can't do that: out of scope."))
    result = evaluate_backend(decline, per_family=1, seed=3, families=("chain", "decline"))
    assert result["in_scope_declined"] == 1.0 and result["families"]["chain"]["correct"] == 0
    assert result["families"]["decline"]["correct"] == 1.0
    nonsense = ScriptedBackend(lambda m: Message(role="assistant", reasoning="guess",
                                                 content="It is forty-two."))
    result = evaluate_backend(nonsense, per_family=1, seed=3, families=("facts", "decline"))
    assert result["correct"] == 0.0 and result["out_of_scope_declined"] == 0.0
