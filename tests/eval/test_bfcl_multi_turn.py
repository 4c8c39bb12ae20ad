"""BFCL multi-turn through the real runner: the package's simulators as tools, turn by turn.

A model that replays the ground-truth calls of each turn scores 100% on every multi-turn
category; one that makes the same calls with wrong values scores 0%. A conversation cut in
the middle of a turn resumes there, with the simulators' state rebuilt from the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support.eval_kit import evaluate
from thinkact.backends.base import GenerationOptions
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import EvalSettings, EvalStore, Item, agent_maker, load_suite, run_eval
from thinkact.eval.suite import ran_calls
from thinkact.eval.suites.bfcl_multi import CATEGORIES, decoded_turns, gt_arguments
from thinkact.events import BackendEvent
from thinkact.messages import Message, ToolCall, ToolResult
from thinkact.tools.base import ToolContext, ToolSpec
from thinkact.tools.toolset import Toolset
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

    def __init__(self, item: Item, at: int, reply: Any = None, **kw: Any) -> None:
        super().__init__(reply or replier([item], False), **kw)
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


def run_item(suite: Any, item: Item, folder: Path, backend: ScriptedBackend,
             cut: asyncio.Event | None) -> list[str]:
    """The run's tool results and score once done (empty when ``cut`` stopped it first)."""
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


def test_cut_conversation_resumes_with_the_simulators_rebuilt(suite: Any,
                                                              tmp_path: Path) -> None:
    item = next(i for i in suite.items() if i.id == "multi_turn_base_0")
    assert len(item.target) >= 4 and all(item.target[:4])

    uncut = run_item(suite, item, tmp_path / "a",
                     ScriptedBackend(replier([item], False), record=False), None)
    stalling = Stalling(item, at=2, record=False)
    assert run_item(suite, item, tmp_path / "b", stalling, stalling.stalled) == []  # turn 2
    with SQLiteTraceStore(tmp_path / "b" / "t.sqlite") as trace:
        assert trace.has_run("ev-i00000-e0.t1") and trace.has_run("ev-i00000-e0.t2")
        assert not trace.load_state("ev-i00000-e0.t2").finished
    resumed = run_item(suite, item, tmp_path / "b",
                       ScriptedBackend(replier([item], False), record=False), None)
    # the same tool results as the uncut run: the state before the cut was rebuilt, and no
    # call of the cut turn ran twice
    assert resumed == uncut and uncut[-1] == "score=1.0"


def test_model_text_in_a_call_never_runs_on_the_host(suite: Any, tmp_path: Path) -> None:
    """BFCL's checker ``eval``s call strings: a name or key that is code must not run."""
    item = next(i for i in suite.items() if i.id == "multi_turn_base_0")
    by_name, by_key = tmp_path / "pwned_name", tmp_path / "pwned_key"
    evil_name = f"__import__('os').system('touch {by_name}') or ls"
    evil_key = f"a=__import__('os').system('touch {by_key}'),b"

    def reply(msgs: Sequence[Message]) -> Message:
        if any(m.role in ("assistant", "tool") for m in msgs):
            return Message(role="assistant", content="Done.")
        return Message(role="assistant", content=None, tool_calls=[
            ToolCall(id="c1", name=evil_name, arguments="{}"),
            ToolCall(id="c2", name="ls", arguments=json.dumps({evil_key: 1}))])

    report = evaluate(suite, ScriptedBackend(reply, record=False), tmp_path / "ev",
                      items=[item])
    assert report["categories"]["multi_turn_base"]["accuracy"] == 0.0
    assert not by_name.exists() and not by_key.exists()
    calls = [Message(role="assistant", tool_calls=[
        ToolCall(id="c", name=name, arguments=json.dumps(args))])
        for name, args in [("ls", {}), (evil_name, {}), ("ls", {evil_key: 1}),
                           ("ls", {"a": float("nan")}), ("eval", {"source": "1"})]]
    assert decoded_turns(item, [Message.user(item.meta["turns"][0]), *calls]) == [[["ls()"]]]


@pytest.mark.parametrize("error", [None, "unknown_tool", "budget", "invalid_arguments"])
def test_a_resume_replays_only_the_calls_that_ran(suite: Any, error: Any) -> None:
    """A held-out function called before BFCL offers it was refused live: rebuilding the
    simulators for a resume must not run it (and must run it when it did run)."""
    item = next(i for i in suite.items() if i.id == "multi_turn_miss_func_1")
    assert [d["name"] for d in item.meta["missed_function"]["2"]] == ["mv"]
    call = ToolCall(id="c0", name="mv",
                    arguments=json.dumps({"source": "workspace", "destination": "MOVED"}))
    result = ToolResult(call_id="c0", name="mv", content="refused or ran", error=error)
    messages = [Message.user(item.meta["turns"][0]),
                Message(role="assistant", tool_calls=[call]), Message.tool(result)]
    convo = suite.conversation(item)
    asyncio.run(convo.replay(ran_calls(messages, [result])))
    fs = next(o for o in convo.owners.values() if type(o).__name__ == "GorillaFileSystem")
    assert fs.ls()["current_directory_content"] == ["MOVED" if error is None else "workspace"]


def test_checks_on_several_threads_run_one_at_a_time(suite: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """BFCL's checker shares module globals: the runner's scoring threads must take turns."""
    from thinkact.eval.suites import bfcl_multi

    real = bfcl_multi._checker
    inside, most, guard, entered = 0, 0, threading.Lock(), threading.Event()

    def watched() -> Any:
        run, state = real()

        def checker(*args: Any) -> Any:
            nonlocal inside, most
            with guard:
                inside += 1
                most = max(most, inside)
            if inside > 1:
                entered.set()
            entered.wait(0.3)  # give another thread the chance to come in alongside
            try:
                return run(*args)
            finally:
                with guard:
                    inside -= 1

        return checker, state

    monkeypatch.setattr(bfcl_multi, "_checker", watched)
    items = [i for i in suite.items() if i.category == "multi_turn_base"][:3]
    with ThreadPoolExecutor(3) as pool:
        # each turn's ground truth as one step: BFCL's checker passes it
        scores = list(pool.map(
            lambda i: bfcl_multi.check(i, [[t] if t else [] for t in i.target]), items))
    assert [s.passed for s in scores] == [True] * 3
    assert most == 1


def test_simulator_calls_run_off_the_event_loop_one_at_a_time_in_order(suite: Any) -> None:
    """A slow simulator method must not stall the loop, and a step's calls still reach
    the simulators one by one in call order (BFCL's order)."""
    item = next(i for i in suite.items() if i.id == "multi_turn_base_0")
    convo = suite.conversation(item)
    tools = Toolset(convo.turns[0].tools)
    fs = next(o for o in convo.owners.values() if type(o).__name__ == "GorillaFileSystem")
    entered, released, seen, real_mkdir = threading.Event(), threading.Event(), [], fs.mkdir

    def slow_mkdir(dir_name: str) -> Any:
        entered.set()
        seen.append(("mkdir", released.wait(5)))  # True only if the loop ran meanwhile
        return real_mkdir(dir_name=dir_name)

    fs.mkdir = slow_mkdir
    calls = [ToolCall(id="a", name="mkdir", arguments='{"dir_name": "made"}'),
             ToolCall(id="b", name="cd", arguments='{"folder": "made"}'),
             ToolCall(id="c", name="touch", arguments='{"file_name": "inside.txt"}')]

    async def main() -> list[ToolResult]:
        step = asyncio.create_task(tools.call_many(calls, ToolContext.__new__(ToolContext)))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        released.set()
        return await step

    results = asyncio.run(main())
    assert seen == [("mkdir", True)] and [r.error for r in results] == [None] * 3
    assert fs.ls()["current_directory_content"] == ["inside.txt"]


def test_a_resume_does_not_replay_a_call_the_live_run_refused(suite: Any,
                                                              tmp_path: Path) -> None:
    """``mv`` is held out until turn 2: called in turn 0 it was refused (unknown tool), so
    rebuilding the simulators after a cut in turn 2 must not move anything."""
    item = next(i for i in suite.items() if i.id == "multi_turn_miss_func_1")
    truth = replier([item], False)
    early = ToolCall(id="early", name="mv",
                     arguments=json.dumps({"source": "workspace", "destination": "MOVED"}))

    def reply(msgs: Sequence[Message]) -> Message:
        out = truth(msgs)
        if position(item, msgs) == (0, 0):
            out.tool_calls.insert(0, early)
        return out

    uncut = run_item(suite, item, tmp_path / "a", ScriptedBackend(reply, record=False), None)
    assert uncut[0].startswith("unknown tool 'mv'") and uncut[-1] == "score=1.0"
    stalling = Stalling(item, at=2, reply=reply, record=False)
    assert run_item(suite, item, tmp_path / "b", stalling, stalling.stalled) == []
    resumed = run_item(suite, item, tmp_path / "b", ScriptedBackend(reply, record=False), None)
    assert resumed == uncut
