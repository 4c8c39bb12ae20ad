"""BFCL multi-turn through the real runner: the package's simulators as tools, turn by turn.

A model that replays the ground-truth calls of each turn scores 100% on every multi-turn
category; one that makes the same calls with wrong values scores 0%. A conversation cut in
the middle of a turn resumes there, with the simulators' state rebuilt from the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from support.eval_kit import evaluate
from thinkact.backends.base import GenerationOptions
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import EvalSettings, EvalStore, Item, agent_maker, load_suite, run_eval
from thinkact.eval.suites.bfcl_multi import CATEGORIES, gt_arguments
from thinkact.events import BackendEvent
from thinkact.messages import Message, ToolCall
from thinkact.tools.base import ToolSpec
from thinkact.traces.sqlite import SQLiteTraceStore

pytest.importorskip("bfcl_eval", reason="the eval extra is not installed")

PER_CATEGORY = 10


def wrong_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 7
    if isinstance(value, str):
        return value + "-wrong"
    if isinstance(value, list):
        return [*value, "wrong"]
    return {"wrong": True}


def position(item: Item, msgs: Sequence[Message]) -> tuple[int, int]:
    """(the turn now played, how many model steps it has taken so far)."""
    turn, steps = -1, 0
    for m in msgs:
        if m.role == "user" and turn + 1 < len(item.meta["turns"]) and \
                m.content == item.meta["turns"][turn + 1]:
            turn, steps = turn + 1, 0
        elif m.role == "assistant":
            steps += 1
    return turn, steps


def replier(items: Sequence[Item], wrong: bool):  # type: ignore[no-untyped-def]
    by_input = {i.input: i for i in items}
    assert len(by_input) == len(items), "the sample's first turns must tell its items apart"

    def reply(msgs: Sequence[Message]) -> Message:
        item = by_input[next(str(m.content) for m in msgs if m.role == "user")]
        turn, steps = position(item, msgs)
        truth = item.target[turn]
        if steps or not truth:
            return Message(role="assistant", content="Done.")
        calls = []
        for n, text in enumerate(truth):
            name, args = gt_arguments(item, text)
            if wrong:
                args = {k: wrong_value(v) for k, v in args.items()} or {"unexpected": 1}
            calls.append(ToolCall(id=f"t{turn}c{n}", name=name, arguments=json.dumps(args)))
        return Message(role="assistant", content=None, tool_calls=calls)

    return reply


@pytest.fixture(scope="module")
def suite() -> Any:
    return load_suite("bfcl", {"categories": ",".join(CATEGORIES)})


def sample(suite: Any, category: str) -> list[Item]:
    items = [i for i in suite.items() if i.category == category]
    picked: dict[str, Item] = {}
    for i in range(len(items)):  # a spread over the category; first turns told apart
        item = items[(i * 37) % len(items)]
        picked.setdefault(item.input, item)
        if len(picked) == PER_CATEGORY:
            break
    return list(picked.values())


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("wrong", [False, True])
def test_ground_truth_replay_scores_100_and_wrong_calls_0(suite: Any, tmp_path: Path,
                                                          category: str, wrong: bool) -> None:
    items = sample(suite, category)
    backend = ScriptedBackend(replier(items, wrong), record=False)
    report = evaluate(suite, backend, tmp_path, items=items, concurrency=2)
    assert report["n"] == PER_CATEGORY
    assert report["categories"][category]["accuracy"] == (0.0 if wrong else 1.0)


def test_held_out_functions_join_at_the_turn_bfcl_names(suite: Any) -> None:
    item = next(i for i in suite.items() if i.category == "multi_turn_miss_func")
    (turn, docs), = item.meta["missed_function"].items()
    convo = suite.conversation(item)
    names = [{t.spec.name for t in turn_.tools} for turn_ in convo.turns]
    held = {d["name"] for d in docs}
    assert all(not held & n for n in names[:int(turn)])
    assert all(held <= n for n in names[int(turn):])
    assert convo.turns[int(turn)].message.startswith("I have updated some more functions")


class Stalling(ScriptedBackend):
    """Hangs at the first model call after tool results in turn ``at`` (as a kill would)."""

    def __init__(self, item: Item, at: int, **kw: Any) -> None:
        super().__init__(replier([item], False), **kw)
        self.item, self.at, self.stalled = item, at, asyncio.Event()

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        turn, steps = position(self.item, messages)
        if turn == self.at and steps:
            self.stalled.set()
            await asyncio.Event().wait()
        async for event in super().stream(messages, tools, options):
            yield event


def _tool_results(trace: SQLiteTraceStore, run_id: str) -> list[str]:
    return [str(m.content) for m in trace.load_state(run_id).messages if m.role == "tool"]


def test_cut_conversation_resumes_with_the_simulators_rebuilt(suite: Any,
                                                              tmp_path: Path) -> None:
    item = next(i for i in suite.items() if i.id == "multi_turn_base_0")
    assert len(item.target) >= 4 and all(item.target[:4])

    def run(folder: Path, backend: ScriptedBackend, cut: asyncio.Event | None) -> list[str]:
        with EvalStore(folder / "e.sqlite") as store, \
                SQLiteTraceStore(folder / "t.sqlite") as trace:
            if not store.evals():
                store.create("ev", "bfcl", {})
            make = agent_maker({"workspace": str(folder / "ws"), "tools": "none"}, backend,
                               trace)

            async def main() -> None:
                job = asyncio.create_task(run_eval(store, trace, "ev", suite, [item], make,
                                                   EvalSettings()))
                if cut is not None:
                    await cut.wait()
                    job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job

            asyncio.run(main())
            rows = store.results("ev")
            run_id = rows[0].run_id
            done = rows[0].status == "done"
            return [*_tool_results(trace, run_id), f"score={rows[0].score}"] if done else []

    uncut = run(tmp_path / "a", ScriptedBackend(replier([item], False), record=False), None)
    stalling = Stalling(item, at=2, record=False)
    assert run(tmp_path / "b", stalling, stalling.stalled) == []  # cut in turn 2
    with SQLiteTraceStore(tmp_path / "b" / "t.sqlite") as trace:
        assert trace.has_run("ev-i00000-e0.t1") and trace.has_run("ev-i00000-e0.t2")
        assert not trace.load_state("ev-i00000-e0.t2").finished
    resumed = run(tmp_path / "b", ScriptedBackend(replier([item], False), record=False), None)
    # the same tool results as the uncut run: the state before the cut was rebuilt, and no
    # call of the cut turn ran twice
    assert resumed == uncut and uncut[-1] == "score=1.0"
