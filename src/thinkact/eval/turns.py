"""Play a conversation item: one recorded run per user turn, each opening with the last.

Turn ``k`` of ``n`` runs as ``RUN.t<k>``, the last one as ``RUN`` itself, so the item's run
id holds the whole conversation when it is done and a resume finds every turn: finished
turns are kept, the first unfinished one is resumed (or started) after the tools are brought
to the recorded state by replaying its calls. A turn that does not complete (budget, error)
ends the conversation there, as BFCL ends a force-terminated entry.
"""

from __future__ import annotations

from thinkact.agent import Agent
from thinkact.eval.agents import MakeAgent
from thinkact.eval.recorded import Ended, recorded_end
from thinkact.eval.suite import Conversation, Item, ran_calls
from thinkact.events import FinalAnswer, RunFinished
from thinkact.messages import Message, ToolResult
from thinkact.traces.sqlite import SQLiteTraceStore


def turn_run_ids(run_id: str, n: int) -> list[str]:
    return [f"{run_id}.t{k}" for k in range(n - 1)] + [run_id]


def last_turn_run(trace: SQLiteTraceStore, run_id: str) -> str:
    """``run_id`` itself unless only earlier turns of it were recorded: then the latest of
    those (it holds the conversation so far)."""
    if trace.has_run(run_id):
        return run_id
    turns = _turns(trace, run_id)
    return f"{run_id}.t{turns[-1]}" if turns else run_id


def _turns(trace: SQLiteTraceStore, run_id: str) -> list[int]:
    """The numbers of ``run_id``'s recorded turn runs ``RUN.t<k>``, ascending."""
    prefix = f"{run_id}.t"
    rows = trace.query("SELECT id FROM runs WHERE substr(id, 1, ?) = ?",
                       (len(prefix), prefix))
    return sorted(int(k) for (rid,) in rows if (k := str(rid)[len(prefix):]).isdigit())


def turn_results(trace: SQLiteTraceStore, run_id: str, upto: str) -> list[ToolResult]:
    """The tool results of ``run_id``'s turns up to turn run ``upto``, in order: they line
    up with the tool messages of ``upto``'s conversation (each turn opens with the last)."""
    last = int(upto.rsplit(".t", 1)[1]) if upto != run_id else None
    runs = [f"{run_id}.t{k}" for k in _turns(trace, run_id) if last is None or k < last]
    return [r for rid in [*runs, upto] if trace.has_run(rid)
            for r in trace.load_state(rid).results]


async def converse(trace: SQLiteTraceStore, convo: Conversation, item: Item, epoch: int,
                   run_id: str, make_agent: MakeAgent) -> Ended:
    history: list[Message] = []
    results: list[ToolResult] = []  # behind history's tool messages
    replayed = False
    ended: Ended | None = None
    for turn, rid in zip(convo.turns, turn_run_ids(run_id, len(convo.turns)), strict=True):
        ended = recorded_end(trace, rid)
        if ended is None:
            resume = trace.has_run(rid)
            if not replayed:  # the tools' state lives in memory: rebuild it once
                cut = trace.load_state(rid) if resume else None
                await convo.replay(ran_calls(cut.messages, results + cut.results)
                                   if cut is not None else ran_calls(history, results))
                replayed = True
            agent = make_agent(rid, item, epoch, turn.tools)
            try:
                ended = await _play(agent, rid, turn.message, history, resume)
            finally:
                await agent.aclose()
        state = trace.load_state(rid)
        history, results = state.messages, results + state.results
        if ended.finished.status != "completed":
            break
    assert ended is not None, "a conversation has at least one turn"
    return ended


async def _play(agent: Agent, rid: str, message: str, history: list[Message],
                resume: bool) -> Ended:
    run = agent.resume(rid) if resume else agent.start(
        message, rid, messages=[*history, Message.user(message)])
    answer, finished = None, None
    async for event in run.events():
        if isinstance(event, FinalAnswer):
            answer = event.content
        elif isinstance(event, RunFinished):
            finished = event
    assert finished is not None
    return Ended(answer, finished)
