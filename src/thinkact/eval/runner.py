"""Run an eval: every (item, epoch) as an ordinary recorded agent run, scored once.

``run_eval`` claims a result row before an item's run starts (its run id is fixed by the
eval id, item position and epoch), so after a kill a resume finds each row: ``done`` rows are
kept, a ``running`` row whose run ended is scored from its trace, one whose run was cut is
resumed from its last complete step, and one whose run never started is started.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from thinkact.agent import Agent, Heavy, Reflect, Vote
from thinkact.eval.agents import MakeAgent
from thinkact.eval.recorded import Ended, recorded_end
from thinkact.eval.store import EvalStore, Result
from thinkact.eval.suite import (
    Attempt,
    Item,
    Score,
    Suite,
    check_ready,
    item_conversation,
    item_tools,
    serving,
)
from thinkact.eval.turns import converse, last_turn_run, turn_results
from thinkact.events import RunFinished
from thinkact.traces.sqlite import SQLiteTraceStore


@dataclass
class EvalSettings:
    """How items run: ``epochs`` samples each, ``concurrency`` at a time, ``item_timeout``
    seconds each at most (a hard cut, scored as a timeout), ``heavy`` trajectories each."""

    epochs: int = 1
    concurrency: int = 1
    item_timeout: float | None = None
    heavy: int | None = None
    aggregate: str = "vote"  # vote | reflect


def run_id_of(eval_id: str, index: int, epoch: int) -> str:
    """The run of item ``index`` (0-based) in ``epoch``: fixed, so a resume finds it."""
    return f"{eval_id}-i{index:05d}-e{epoch}"


async def run_eval(store: EvalStore, trace: SQLiteTraceStore, eval_id: str, suite: Suite,
                   items: Sequence[Item], make_agent: MakeAgent, settings: EvalSettings,
                   on_result: Callable[[Result], None] | None = None,
                   price: Any = None) -> list[Result]:
    """Run what is left of ``eval_id`` and return all of its rows (nothing runs when the
    suite's ``check`` refuses)."""
    check_ready(suite)
    gate = asyncio.Semaphore(max(1, settings.concurrency))
    done = {(r.item_id, r.epoch) for r in store.results(eval_id) if r.status == "done"}

    async def one(index: int, item: Item, epoch: int) -> None:
        async with gate:
            row = store.claim(eval_id, item.id, epoch, item.category,
                              run_id_of(eval_id, index, epoch))
            if row.status == "done":
                return
            finished = await attempt(trace, suite, item, epoch, row, make_agent, settings,
                                      price)
            if store.finish(finished) and on_result is not None:
                on_result(finished)

    jobs = [one(i, item, e) for i, item in enumerate(items) for e in range(settings.epochs)
            if (item.id, e) not in done]
    with serving(suite):  # e.g. the docs suites' corpus on loopback, for this eval only
        await asyncio.gather(*jobs)
    return store.results(eval_id)


async def attempt(trace: SQLiteTraceStore, suite: Suite, item: Item, epoch: int, row: Result,
                   make_agent: MakeAgent, settings: EvalSettings, price: Any) -> Result:
    """Run (or resume, or read back) ``row``'s run and fill in its score and metrics."""
    started = time.monotonic()
    ended, timed_out, error = recorded_end(trace, row.run_id), False, ""
    if ended is None:
        try:
            async with asyncio.timeout(settings.item_timeout):
                ended = await _execute(trace, suite, item, epoch, row.run_id, make_agent,
                                       settings)
        except TimeoutError:
            timed_out = True
            stamp_interrupted(trace, last_turn_run(trace, row.run_id), started)
        except Exception as exc:  # a failing item is a result, not the end of the eval
            error = f"{type(exc).__name__}: {exc}"
    answer = ended.answer if ended is not None else None
    try:
        score = await asyncio.to_thread(suite.score, item, _attempt(trace, row.run_id, answer))
    except Exception as exc:  # a scorer's crash is this item's error, not the eval's end
        score = Score(0.0)
        error = error or f"scoring failed: {type(exc).__name__}: {exc}"
    row.outcome = _outcome(score.passed, ended, timed_out, error)
    row.score, row.answer = score.value, answer
    row.marks = json.dumps(score.marks, sort_keys=True) if score.marks else None
    reason = ended.finished.reason if ended is not None and not score.passed else ""
    row.detail = error or score.detail or reason
    row.wall_s = time.monotonic() - started
    _metrics(trace, row, price)
    return row


async def _execute(trace: SQLiteTraceStore, suite: Suite, item: Item, epoch: int,
                   run_id: str, make_agent: MakeAgent, settings: EvalSettings) -> Ended:
    convo = item_conversation(suite, item)
    if convo is not None:
        if settings.heavy:
            raise ValueError(f"{item.id} is a conversation; heavy mode does not play those")
        return await converse(trace, convo, item, epoch, run_id, make_agent)
    extra = item_tools(suite, item)
    if settings.heavy:
        heavy = heavy_of(suite, item, epoch, run_id, make_agent, settings)
        try:
            resume = trace.has_run(f"{run_id}.1")
            out = await (heavy.aresume(run_id) if resume else heavy.arun(item.input, run_id))
        finally:
            await heavy.aclose()
        return recorded_end(trace, run_id) or Ended(out.answer, RunFinished(
            status=out.status, reason=out.reason, steps=0, tool_calls=0))
    agent: Agent = make_agent(run_id, item, epoch, extra)
    try:
        result = await (agent.aresume(run_id) if trace.has_run(run_id)
                        else agent.arun(item.input, run_id))
    finally:
        await agent.aclose()
    return Ended(result.answer, RunFinished(status=result.status,
                                             reason=result.reason, steps=result.steps,
                                             tool_calls=result.tool_calls,
                                             usage=result.usage))


def heavy_of(suite: Suite, item: Item, epoch: int, run_id: str, make_agent: MakeAgent,
             settings: EvalSettings) -> Heavy:
    """The heavy group ``run_id`` of an item: ``settings.heavy`` trajectories, each with
    the suite's own tools for the item, and the eval's aggregator."""
    assert settings.heavy
    extra = item_tools(suite, item)
    return Heavy(lambda k: make_agent(f"{run_id}.{k}", item, epoch, extra), n=settings.heavy,
                 aggregator=Reflect() if settings.aggregate == "reflect" else Vote())


def stamp_interrupted(trace: SQLiteTraceStore, run_id: str, started: float) -> None:
    """Record that ``run_id``, cut by a timeout, was interrupted (a resume goes on)."""
    from thinkact.cli.common import interrupted_end

    if trace.has_run(run_id) and recorded_end(trace, run_id) is None:
        stop = interrupted_end(trace, run_id, started)
        if stop is not None:
            trace.append(run_id, stop)


def _attempt(trace: SQLiteTraceStore, run_id: str, answer: str | None) -> Attempt:
    """What scorers see: the run's conversation (a conversation item's up to its last turn
    run, heavy mode's first trajectory's) and the tool results behind it."""
    last = last_turn_run(trace, run_id)
    for rid in (last, f"{last}.1"):
        if trace.has_run(rid) and trace.run_config(rid).get("tools"):
            break
    else:
        rid = last
    if not trace.has_run(rid):
        return Attempt(answer)
    results = turn_results(trace, run_id, rid) if rid == last else trace.load_state(rid).results
    return Attempt(answer, trace.load_state(rid).messages, results)


def _outcome(passed: bool, ended: Ended | None, timed_out: bool, error: str) -> str:
    if passed:
        return "passed"
    if timed_out:
        return "timeout"
    if error or ended is None or ended.finished.status == "failed":
        return "error"
    if not ended.answer:
        return "budget" if ended.finished.reason.startswith("budget") else "no_answer"
    return "failed"


def _metrics(trace: SQLiteTraceStore, row: Result, price: Any) -> None:
    """Steps, tool calls and tokens of the run (heavy: its trajectories and aggregation)."""
    sums = trace.query(
        "SELECT COALESCE(SUM(steps), 0), COALESCE(SUM(tool_calls), 0), "
        "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        "COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cached_tokens), 0) FROM runs "
        "WHERE id = ? OR substr(id, 1, ?) = ?",
        (row.run_id, len(row.run_id) + 1, row.run_id + "."))[0]
    steps, calls, prompt, completion, reasoning, cached = (int(v) for v in sums)  # type: ignore[call-overload]
    row.steps, row.tool_calls = steps, calls
    row.prompt_tokens, row.completion_tokens, row.reasoning_tokens = prompt, completion, reasoning
    row.cost_usd = price.cost(prompt, completion, cached) if price is not None else 0.0
