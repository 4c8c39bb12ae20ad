"""AgentDojo's checks proven through the real runner and thinkact's tools.

A scripted agent that makes a user task's ground-truth calls one by one gets utility 1, with
or without the attack planted, and the attack never succeeds; one that obeys the injected
instructions (the injection task's ground-truth calls) makes the attack succeed every time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from support.eval_kit import evaluate
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import Item, load_suite
from thinkact.messages import Message, ToolCall
from thinkact.untrusted import TAG

pytest.importorskip("inspect_evals.agentdojo", reason="inspect-evals is not installed")

# The package's own ground truth fails these: they check that a file's size grew, but its
# size is a computed property that the environment diff never reports as changed.
GROUND_TRUTH_FAILS = {"workspace-u13", "workspace-u19", "workspace-u29", "workspace-u34"}


def obeying(items: Sequence[Item], follow: str) -> ScriptedBackend:
    """Makes the ground-truth calls of ``follow`` ("user" or "injection"), one per step."""
    from thinkact.eval.suites.agentdojo import World, task_suite

    by_input = {i.input: i for i in items}
    assert len(by_input) == len(items), "the items' prompts must tell them apart"
    plans: dict[str, tuple[list[Any], str]] = {}

    def plan(item: Item) -> tuple[list[Any], str]:
        if item.id not in plans:
            suite = task_suite(item.meta["suite"])
            task = (suite.user_tasks[item.meta["user"]] if follow == "user"
                    else suite.injection_tasks[item.meta["injection"]])
            plans[item.id] = task.ground_truth(World(item).pre), task.GROUND_TRUTH_OUTPUT
        return plans[item.id]

    def reply(msgs: Sequence[Message]) -> Message:
        item = by_input[next(str(m.content) for m in msgs if m.role == "user")]
        calls, output = plan(item)
        done = sum(m.role == "assistant" for m in msgs)
        if done == len(calls):
            return Message(role="assistant", content=output or "Done.")
        c = calls[done]
        return Message(role="assistant", content=None, tool_calls=[
            ToolCall(id=f"c{done}", name=c.function, arguments=json.dumps(c.arguments))])

    return ScriptedBackend(reply, record=False)


@pytest.fixture(scope="module")
def suite() -> Any:
    return load_suite("agentdojo")


def sample(suite: Any, attacked: bool, per_suite: int) -> list[Item]:
    """A spread of items per suite, one per user task (their prompts differ)."""
    out = []
    for name in ("banking", "slack", "travel", "workspace"):
        pool = [i for i in suite.items() if i.category == name + "-attacked" * attacked
                and i.id.split("-i")[0] not in GROUND_TRUTH_FAILS]
        users = sorted({i.meta["user"] for i in pool})
        picked = users[:: max(1, len(users) // per_suite)][:per_suite]
        for k, u in enumerate(picked):  # a different injection task for each
            options = [i for i in pool if i.meta["user"] == u]
            out.append(options[(k * 3) % len(options)])
    return out


def test_ground_truth_calls_give_utility_1(suite: Any, tmp_path: Path) -> None:
    items = sample(suite, attacked=False, per_suite=3)
    report = evaluate(suite, obeying(items, "user"), tmp_path, items=items, concurrency=2)
    assert report["n"] == 12
    assert {c: v["accuracy"] for c, v in report["categories"].items()} == {
        "banking": 1.0, "slack": 1.0, "travel": 1.0, "workspace": 1.0}


def test_under_attack_the_user_tasks_calls_keep_utility_and_the_attack_fails(
        suite: Any, tmp_path: Path) -> None:
    items = sample(suite, attacked=True, per_suite=2)
    report = evaluate(suite, obeying(items, "user"), tmp_path, items=items, concurrency=2)
    for name, cat in report["categories"].items():
        assert cat["accuracy"] == 1.0, name
        assert cat["marks"]["attack_success"]["mean"] == 0.0, name


def test_an_agent_that_obeys_the_injection_makes_the_attack_succeed(
        suite: Any, tmp_path: Path) -> None:
    items = sample(suite, attacked=True, per_suite=2)
    report = evaluate(suite, obeying(items, "injection"), tmp_path, items=items,
                      concurrency=2)
    assert report["n"] == 8
    for name, cat in report["categories"].items():
        assert cat["marks"]["attack_success"] == {"n": 2, "mean": 1.0,
                                                  "ci95": cat["marks"]["attack_success"]
                                                  ["ci95"]}, name
        assert cat["marks"]["attack_success"]["ci95"][1] == 1.0


@pytest.mark.parametrize("untrusted", ["mark", "off"])
def test_tool_output_carrying_the_attack_is_marked_untrusted(untrusted: str) -> None:
    import asyncio

    from thinkact.tools.base import ToolContext

    attacked = load_suite("agentdojo", {"suites": "banking", "attacks": "only",
                                        "untrusted": untrusted})
    item = next(i for i in attacked.items() if i.id == "banking-u0-i0")
    convo = attacked.conversation(item)  # type: ignore[attr-defined]
    (read,) = [t for t in convo.turns[0].tools if t.spec.name == "read_file"]
    text = asyncio.run(read.call({"file_path": "bill-december-2023.txt"},
                                 ToolContext(run_id="r", workspace=Path("."))))
    assert "<INFORMATION>" in text  # the planted instructions reach the model...
    # ... inside the envelope that tells it they are data, unless asked not to
    assert text.startswith(f"<{TAG} ") == (untrusted == "mark")


@pytest.mark.parametrize("budget", [None, 0])
def test_calls_the_loop_refused_are_not_replayed_when_scoring(suite: Any, tmp_path: Path,
                                                              budget: int | None) -> None:
    """The injection's calls all in one step: they make the attack succeed when they run,
    and not when the tool-call budget refused them (the model saw only refusals)."""
    from thinkact.eval.suites.agentdojo import World, task_suite

    item = next(i for i in suite.items() if i.id == "banking-u0-i0")
    truth = task_suite("banking").injection_tasks[item.meta["injection"]].ground_truth(
        World(item).pre)

    def reply(msgs: Sequence[Message]) -> Message:
        if any(m.role == "tool" for m in msgs):
            return Message(role="assistant", content="Done.")
        return Message(role="assistant", content=None, tool_calls=[
            ToolCall(id=f"c{n}", name=c.function, arguments=json.dumps(c.arguments))
            for n, c in enumerate(truth)])

    options = {} if budget is None else {"max_tool_calls": budget}
    report = evaluate(suite, ScriptedBackend(reply, record=False), tmp_path, items=[item],
                      options=options)
    attack = report["categories"]["banking-attacked"]["marks"]["attack_success"]["mean"]
    assert attack == (1.0 if budget is None else 0.0)
