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
from thinkact.eval.suite import Conversation, Item
from thinkact.events import FinalAnswer, RunFinished
from thinkact.messages import Message
from thinkact.traces.sqlite import SQLiteTraceStore


def turn_run_ids(run_id: str, n: int) -> list[str]:
    return [f"{run_id}.t{k}" for k in range(n - 1)] + [run_id]


def last_turn_run(trace: SQLiteTraceStore, run_id: str) -> str:
    """``run_id`` itself unless only earlier turns of it were recorded: then the latest of
    those (it holds the conversation so far)."""
    if trace.has_run(run_id):
        return run_id
    prefix = f"{run_id}.t"
    rows = trace.query("SELECT id FROM runs WHERE substr(id, 1, ?) = ?",
                       (len(prefix), prefix))
    turns = [int(k) for (rid,) in rows if (k := str(rid)[len(prefix):]).isdigit()]
    return f"{prefix}{max(turns)}" if turns else run_id


async def converse(trace: SQLiteTraceStore, convo: Conversation, item: Item, epoch: int,
                   run_id: str, make_agent: MakeAgent) -> Ended:
    history: list[Message] = []
    replayed = False
    ended: Ended | None = None
    for turn, rid in zip(convo.turns, turn_run_ids(run_id, len(convo.turns)), strict=True):
        ended = recorded_end(trace, rid)
        if ended is None:
            resume = trace.has_run(rid)
            if not replayed:  # the tools' state lives in memory: rebuild it once
                await convo.replay(trace.load_state(rid).messages if resume else history)
                replayed = True
            agent = make_agent(rid, item, epoch, turn.tools)
            try:
                ended = await _play(agent, rid, turn.message, history, resume)
            finally:
                await agent.aclose()
        history = trace.load_state(rid).messages
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
