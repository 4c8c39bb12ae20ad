"""Heavy mode: N trajectories of one task run in parallel, then one aggregation.

K2 Thinking's heavy mode rolls out 8 trajectories in parallel and reflectively aggregates them
into the final answer (K2 Thinking blog; docs/k2.md). The aggregation procedure is unpublished,
so N and the aggregator are choices: ``Reflect`` (default) asks the model, without tools, to
weigh the candidates' answers and evidence and write one answer; ``Vote`` picks the most common
answer without a model call.

Every trajectory is an ordinary run ``G.k`` (own tools, own workspace, resumable alone) and the
aggregation is the ordinary run ``G``, so traces, views and resume need nothing new: each run's
config carries ``heavy = {"group": G, ...}``. ``resume_events(G)`` reuses the finished
trajectories, resumes the cut ones, starts the missing ones, and then aggregates.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace

from thinkact.agent.agent import Agent, new_run_id, run_then_close
from thinkact.agent.budget import Budget
from thinkact.agent.config import AgentConfig, HeavyConfig, ToolsConfig
from thinkact.agent.loop import Run
from thinkact.events import Event, FinalAnswer, Notice, RunFinished, RunStarted, RunStatus
from thinkact.messages import Message

REFLECT_PROMPT = """\
{n} independent attempts worked on the task below, each with its own tools. Their answers and \
the tool evidence they gathered follow. Attempts can be wrong, incomplete or cut off.

Compare them. Check each answer against the evidence and against the others, find the \
mistakes, and decide what is actually correct; where they disagree, work out which one is \
right instead of counting votes. Then write the single best final answer to the task, complete \
and self-contained, in the form the task asks for. Do not mention the attempts.

<task>
{task}
</task>

{candidates}"""


@dataclass
class Candidate:
    """What one trajectory produced, as the aggregator sees it."""

    index: int
    run_id: str
    answer: str | None
    status: RunStatus
    reason: str
    steps: int
    tool_calls: int
    evidence: list[str] = field(default_factory=list)  # "tool(args) -> result", in order

    @classmethod
    def of(cls, index: int, run_id: str, messages: list[Message], finished: RunFinished,
           answer: str | None) -> Candidate:
        results = {m.tool_call_id: m.content or "" for m in messages if m.role == "tool"}
        evidence = [
            f"{c.name}({c.arguments}) -> {results.get(c.id, '(no result)')}"
            for m in messages if m.role == "assistant" for c in m.tool_calls
        ]
        return cls(index, run_id, answer, finished.status, finished.reason, finished.steps,
                   finished.tool_calls, evidence)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " [... cut ...]"


class Reflect:
    """The model reads every candidate (answer plus its latest tool evidence, within
    ``chars`` per candidate) and writes the answer; ``prompt`` has {n}, {task}, {candidates}."""

    name = "reflect"

    def __init__(self, prompt: str = REFLECT_PROMPT, chars: int | None = None) -> None:
        self.prompt = prompt
        self.chars = chars

    def render(self, task: str, candidates: list[Candidate], context_window: int) -> str:
        # ~3 characters a token; half the window for the candidates, the rest for the reply
        per = self.chars or max(600, context_window * 3 // 2 // max(len(candidates), 1))
        blocks = []
        for c in candidates:
            head = (f"<attempt {c.index}: {c.status}, {c.steps} steps, {c.tool_calls} tool "
                    f"calls>")
            answer = _clip(c.answer or "(no answer)", per // 2)
            room, lines = per - len(answer), list[str]()
            for line in reversed(c.evidence):  # the latest evidence first, within the room
                line = _clip(line.replace("\n", " "), 400)
                if room - len(line) < 0:
                    break
                lines.insert(0, f"- {line}")
                room -= len(line) + 3
            skipped = len(c.evidence) - len(lines)
            evidence = "\n".join(([f"- ({skipped} earlier tool calls not shown)"]
                                  if skipped else []) + lines) or "(no tool calls)"
            blocks.append(f"{head}\nEvidence:\n{evidence}\nAnswer:\n{answer}\n</attempt>")
        return self.prompt.format(n=len(candidates), task=task, candidates="\n\n".join(blocks))


def _normal(answer: str) -> str:
    """Answers that differ only in case, spacing or trailing punctuation vote together."""
    return re.sub(r"\s+", " ", answer.strip().lower()).rstrip(".!")


class Vote:
    """The most common answer (normalised) wins; ties go to the earliest trajectory."""

    name = "vote"

    def pick(self, candidates: list[Candidate]) -> tuple[Candidate, str]:
        answered = [c for c in candidates if c.answer]
        counts = Counter(_normal(c.answer or "") for c in answered)
        best = max(answered, key=lambda c: (counts[_normal(c.answer or "")], -c.index))
        tally = ", ".join(f"{n} x {a[:60]!r}" for a, n in counts.most_common())
        return best, f"vote over {len(answered)} answers: {tally}; chose attempt {best.index}"


@dataclass
class HeavyResult:
    run_id: str
    answer: str | None
    status: RunStatus
    reason: str
    candidates: list[Candidate]


class Heavy:
    """``n`` trajectories from ``agent_for(k)`` (k = 1..n: give each its own tools and
    workspace), then ``aggregator``. Events come as ``(run_id, event)``."""

    def __init__(
        self, agent_for: Callable[[int], Agent], n: int = 8,
        aggregator: Reflect | Vote | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"heavy mode needs at least one trajectory, not {n}")
        self.agent_for = agent_for
        self.n = n
        self.aggregator = aggregator or Reflect()
        self.agents: dict[tuple[str, int], Agent] = {}  # (group, k): each its own tools
        self.candidates: list[Candidate] = []  # of the latest group, once its trajectories end
        self.conversation = ""  # earlier turns the judge should see (set by events())

    def _agent(self, k: int, group: str) -> Agent:
        if (group, k) not in self.agents:
            agent = self.agent_for(k)
            seed = agent.config.options.seed
            # distinct seeds, so sampled trajectories differ even where the seed is fixed
            agent.config = agent.config.replace(
                options=replace(agent.config.options, seed=None if seed is None else seed + k),
                heavy=HeavyConfig(of=self.n, aggregator=self.aggregator.name, group=group,
                                  index=k))
            self.agents[group, k] = agent
        return self.agents[group, k]

    async def events(self, task: str, run_id: str | None = None,
                     messages: list[Message] | None = None
                     ) -> AsyncGenerator[tuple[str, Event], None]:
        """``messages``: the trajectories' opening conversation (default: system prompt and
        task), as for ``Agent.events``."""
        group = run_id or new_run_id()
        self.conversation = _earlier_turns(messages or [])
        runs = {k: self._agent(k, group).start(task, f"{group}.{k}", messages)
                for k in range(1, self.n + 1)}
        async with aclosing(self._trajectories_then_aggregate(group, task, runs, {})) as items:
            async for item in items:
                yield item

    async def resume_events(self, group: str) -> AsyncGenerator[tuple[str, Event], None]:
        """Finish group ``group``: finished trajectories are reused, cut ones resumed, missing
        ones started; then the aggregation runs (or resumes, if it was cut)."""
        store = self._agent(1, group).trace
        if store is None:
            raise ValueError("resume needs a trace store: give the agents trace=...")
        records: dict[int, list[Event]] = {}
        for k in range(1, self.n + 1):
            with suppress(KeyError):  # a trajectory not started yet
                records[k] = list(store.events(f"{group}.{k}"))
        if 1 not in records:
            raise KeyError(f"no heavy run {group!r} (no trajectory {group}.1)")
        first = next(e for e in records[1] if isinstance(e, RunStarted))
        task, opening = first.task, first.messages
        self.conversation = _earlier_turns(opening)
        runs: dict[int, Run] = {}
        done: dict[int, Candidate] = {}
        for k in range(1, self.n + 1):
            rid, agent = f"{group}.{k}", self._agent(k, group)
            ended = _ended(records[k]) if k in records else None
            if k not in records:
                runs[k] = agent.start(task, rid, opening)
            elif ended is None:
                runs[k] = agent.resume(rid)
            else:
                done[k] = Candidate.of(k, rid, store.load_state(rid).messages, *ended)
        async with aclosing(self._trajectories_then_aggregate(group, task, runs, done)) as items:
            async for item in items:
                yield item

    async def atrajectory(self, task: str, group: str, k: int) -> None:
        """Run trajectory ``k`` of ``group`` alone, to its end, as ``events`` would start it
        (a worker elsewhere can then ``aresume`` the group: it reuses what ended here)."""
        async for _ in self._agent(k, group).start(task, f"{group}.{k}").events():
            pass

    async def arun(self, task: str, run_id: str | None = None) -> HeavyResult:
        group = run_id or new_run_id()
        return await self._result(group, self.events(task, group))

    async def aresume(self, group: str) -> HeavyResult:
        return await self._result(group, self.resume_events(group))

    def run(self, task: str, run_id: str | None = None) -> HeavyResult:
        """Synchronous ``arun``; every trajectory's tools are closed at the end."""
        return run_then_close(lambda: self.arun(task, run_id), self.aclose)

    async def aclose(self) -> None:
        for agent in self.agents.values():
            await agent.aclose()

    async def _result(self, group: str, stream: AsyncIterator[tuple[str, Event]]
                      ) -> HeavyResult:
        answer, finished = None, None
        async for rid, event in stream:
            if rid == group and isinstance(event, FinalAnswer):
                answer = event.content
            if rid == group and isinstance(event, RunFinished):
                finished = event
        assert finished is not None
        return HeavyResult(group, answer, finished.status, finished.reason, self.candidates)

    async def _trajectories_then_aggregate(
        self, group: str, task: str, runs: dict[int, Run], done: dict[int, Candidate],
    ) -> AsyncGenerator[tuple[str, Event], None]:
        started, finished = time.monotonic(), dict[int, RunFinished]()
        streams = {run.run_id: run.events() for run in runs.values()}
        # aclosing: a consumer that stops (Ctrl-C, a closed pipe) cancels the trajectories
        # now, not when the abandoned generators are finalized later
        async with aclosing(_merge(streams)) as merged:
            async for rid, event in merged:
                if isinstance(event, RunFinished):
                    finished[int(rid.rsplit(".", 1)[1])] = event
                yield rid, event
        for k, run in runs.items():
            done[k] = Candidate.of(k, run.run_id, run.history, finished[k], run.answer)
        self.candidates = [done[k] for k in sorted(done)]
        async with aclosing(self._aggregate(group, task, started)) as judged:
            async for event in judged:
                yield group, event

    async def _aggregate(self, group: str, task: str, started: float
                         ) -> AsyncGenerator[Event, None]:
        base = self._agent(1, group)
        config = base.config.replace(tools=ToolsConfig(names=[]), heavy=HeavyConfig(
            of=self.n, aggregator=self.aggregator.name, group=group,
            trajectories=[c.run_id for c in self.candidates]))
        answered = [c for c in self.candidates if c.answer]
        if isinstance(self.aggregator, Vote) or not answered:
            async for event in self._record_choice(base, config, group, task, answered):
                yield event
            return
        # (no answer at all is reported, not recorded: run GROUP stays free for an
        # aggregation once a resume has made some trajectory answer)
        budget = base.config.budget
        limit = budget.max_wall_time_s
        if limit is not None:  # the deadline bounds the group: the aggregation gets what is
            # left of it, and at least the final-answer grace
            limit = max(limit - (time.monotonic() - started), budget.final_answer_grace_s, 1.0)
        judge = Agent(base.backend, config=config.replace(budget=Budget(
            max_steps=2, max_thinking_tokens_per_step=budget.max_thinking_tokens_per_step,
            max_wall_time_s=limit, final_answer_grace_s=budget.final_answer_grace_s)),
            trace=base.trace)
        store = base.trace
        if store is not None and store.has_run(group):  # a resumed group, cut in aggregation
            run = judge.resume(group)
        else:
            shown = f"{self.conversation}\n\n{task}" if self.conversation else task
            prompt = self.aggregator.render(shown, answered, base.backend.context_window)
            run = judge.start(task, run_id=group, messages=[Message.user(prompt)])
        async for event in run.events():
            yield event

    async def _record_choice(self, base: Agent, config: AgentConfig, group: str, task: str,
                             answered: list[Candidate]) -> AsyncGenerator[Event, None]:
        """A run without a model call: the vote (or the failure when nothing answered)."""
        start = time.monotonic()
        events: list[Event] = [RunStarted(run_id=group, task=task, model=base.backend.model_name,
                                          config=config.record())]
        status: RunStatus = "failed"
        reason = "no trajectory produced an answer"
        if answered:
            best, tally = Vote().pick(answered)
            events += [Notice(kind="vote", text=tally), FinalAnswer(content=best.answer or "")]
            status, reason = "completed", f"vote: attempt {best.index}"
        events.append(RunFinished(status=status, reason=reason, steps=0, tool_calls=0,
                                  duration_s=time.monotonic() - start))
        for event in events:
            if base.trace is not None and answered:
                base.trace.append(group, event)
            yield event


def _earlier_turns(messages: list[Message]) -> str:
    """The conversation before its last user message, as text for the judge ("" if none):
    a follow-up question means little without it."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    earlier = [m for m in messages[:last_user] if m.role in ("user", "assistant")
               and isinstance(m.content, str) and m.content.strip()]
    if not earlier:
        return ""
    lines = "\n\n".join(f"{m.role}: {m.content}" for m in earlier)
    return f"<conversation so far>\n{lines}\n</conversation so far>"


def _ended(events: list[Event]) -> tuple[RunFinished, str | None] | None:
    """How a recorded trajectory ended, if for good: completed, or stopped by its budget or
    repeat rule with a best answer. Failed, interrupted and answerless runs are resumed."""
    start = max(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    segment = events[start:]
    finished = next((e for e in segment if isinstance(e, RunFinished)), None)
    if finished is None or finished.status == "failed" or finished.reason == "interrupted":
        return None
    answer = next((e.content for e in segment if isinstance(e, FinalAnswer)), None)
    if finished.status == "stopped" and not answer:
        return None  # stopped with nothing to show: another segment may still answer
    return finished, answer


async def _merge(streams: dict[str, AsyncIterator[Event]]
                 ) -> AsyncGenerator[tuple[str, Event], None]:
    """Every stream's events as they come, tagged with the stream's key; cancelling the
    consumer cancels every producer."""
    queue: asyncio.Queue[tuple[str, Event | None]] = asyncio.Queue()

    async def pump(key: str, stream: AsyncIterator[Event]) -> None:
        try:
            async for event in stream:
                queue.put_nowait((key, event))
        finally:
            queue.put_nowait((key, None))

    tasks = [asyncio.ensure_future(pump(k, s)) for k, s in streams.items()]
    try:
        left = len(tasks)
        while left:
            key, event = await queue.get()
            if event is None:
                left -= 1
            else:
                yield key, event
        for t in tasks:
            t.result()  # a producer's own failure (the trace store, say) is not swallowed
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

