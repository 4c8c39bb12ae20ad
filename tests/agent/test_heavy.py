"""Heavy mode: N trajectories in parallel against the real client and a loopback K2 server,
then one aggregation (reflective or vote); every run recorded and the group resumable."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from support.agent_kit import agent_for, close_backends, echo
from support.k2_server import Fault, K2Server, Turn, reasoning_for
from thinkact.agent import Agent, Budget, GenerationOptions
from thinkact.agent.heavy import Candidate, Heavy, Reflect, Vote
from thinkact.events import Event, FinalAnswer, RunFinished
from thinkact.messages import Message
from thinkact.tools import tool
from thinkact.traces.sqlite import SQLiteTraceStore

TASK = "What is six times seven? Check with the echo tool."
ANSWERS = {1: "42", 2: "42.", 3: "41", 4: " 42 "}  # by trajectory (seed 100 + k)


def policy(step: int, request: dict[str, Any]) -> Turn:
    """Trajectory k (seed 100+k) echoes once, then answers ANSWERS[k]; the tool-less
    aggregation request is answered with the candidate answers it was shown."""
    if not request.get("tools"):
        prompt = request["messages"][-1]["content"]
        shown = [a for a in ("41", "42") if f"Answer:\n{a}" in prompt]
        return Turn("Weighing the attempts.", content=f"Final: 42 (saw {'/'.join(shown)})")
    k = request["seed"] - 100
    if step == 0:  # the number of assistant turns already in the request
        return Turn(reasoning_for(step), tool_calls=[("echo", json.dumps({"text": f"t{k}"}))])
    return Turn(reasoning_for(step), content=ANSWERS[k])


def heavy_on(server: K2Server, trace: Any, n: int = 4, tools: Any = (echo,),
             aggregator: Reflect | Vote | None = None) -> Heavy:
    def make(k: int) -> Agent:
        return agent_for(server, tools=tools, trace=trace, options=GenerationOptions(seed=100))

    return Heavy(make, n=n, aggregator=aggregator)


async def collect(stream: Any) -> list[tuple[str, Event]]:
    return [item async for item in stream]


async def test_trajectories_run_concurrently_and_the_model_aggregates(tmp_path: Path) -> None:
    arrived: set[int] = set()
    everyone = asyncio.Event()

    @tool
    async def echo_all(text: str) -> str:
        """Echo once every trajectory has called (proves they run at the same time)."""
        arrived.add(int(text[1:]))
        if len(arrived) == 4:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 20)
        return f"echo: {text}"

    echo_all.spec.name = "echo"
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    with K2Server(policy) as server:
        heavy = heavy_on(server, store, tools=(echo_all,))
        items = await collect(heavy.events(TASK, run_id="g1"))
        await close_backends()
    assert arrived == {1, 2, 3, 4}
    runs = {rid for rid, _ in items}
    assert runs == {"g1", "g1.1", "g1.2", "g1.3", "g1.4"}
    assert [rid for rid, _ in items][-1] == "g1"  # the aggregation comes after every trajectory
    final = [e for rid, e in items if rid == "g1" and isinstance(e, FinalAnswer)]
    assert [f.content for f in final] == ["Final: 42 (saw 41/42)"]
    aggregation = [r for r in server.requests if not r.get("tools")]
    assert len(aggregation) == 1 and len(aggregation[0]["messages"]) == 1
    prompt = aggregation[0]["messages"][0]["content"]
    assert TASK in prompt and "4 independent attempts" in prompt
    for k in range(1, 5):
        assert f'echo({{"text": "t{k}"}}) -> echo: t{k}' in prompt
        assert f"<attempt {k}: completed, 2 steps, 1 tool calls>" in prompt
    assert {store.run_info(f"g1.{k}")["config"]["heavy"]["index"] for k in range(1, 5)} == {
        1, 2, 3, 4}
    group = store.run_info("g1")
    assert group["status"] == "completed" and group["task"] == TASK
    assert group["config"]["heavy"]["trajectories"] == [f"g1.{k}" for k in range(1, 5)]
    assert group["config"]["tools"]["names"] == []
    store.close()


async def test_vote_picks_the_common_answer_without_a_model_call() -> None:
    with K2Server(policy) as server:
        heavy = heavy_on(server, None, aggregator=Vote())
        result = await heavy.arun(TASK, run_id="g2")
        await close_backends()
    assert (result.answer, result.status) == ("42", "completed")
    assert all(r.get("tools") for r in server.requests)  # no aggregation call
    assert [c.answer for c in result.candidates] == ["42", "42.", "41", " 42 "]


async def test_no_answer_anywhere_fails_the_group() -> None:
    def broken(step: int, request: dict[str, Any]) -> Turn:
        return Turn("Looping.", tool_calls=[("missing_tool", "{}")])

    with K2Server(broken) as server:
        def make(k: int) -> Agent:
            return agent_for(server, budget=Budget(max_steps=1, max_tool_calls=0))

        heavy = Heavy(make, n=2)
        result = await heavy.arun(TASK, run_id="g3")
        await close_backends()
    # each trajectory's wrap-up call answered with a tool call again: no answer text
    assert [c.answer for c in result.candidates] == ["", ""]
    assert (result.status, result.reason) == ("failed", "no trajectory produced an answer")


async def test_a_cut_group_resumes_without_redoing_finished_work(tmp_path: Path) -> None:
    gate = asyncio.Event()

    @tool
    async def echo_gated(text: str) -> str:
        """Trajectory 1 passes; the others wait for the gate."""
        if text != "t1":
            await gate.wait()
        return f"echo: {text}"

    echo_gated.spec.name = "echo"
    db = tmp_path / "t.sqlite"
    store = SQLiteTraceStore(db)
    with K2Server(policy) as server:
        heavy = heavy_on(server, store, tools=(echo_gated,))
        async with contextlib.aclosing(heavy.events(TASK, run_id="g4")) as stream:
            async for rid, event in stream:
                if rid == "g4.1" and isinstance(event, RunFinished):
                    break  # the consumer goes away (Ctrl-C): the other three are cut
        await heavy.aclose()
        assert store.run_info("g4.1")["status"] == "completed"
        assert {store.run_info(f"g4.{k}")["status"] for k in (2, 3, 4)} == {"running"}
        first_seed_calls = sum(r["seed"] == 101 for r in server.requests if r.get("tools"))
        gate.set()
        resumed = heavy_on(server, store, tools=(echo_gated,))
        items = await collect(resumed.resume_events("g4"))
        await close_backends()
    assert sum(r["seed"] == 101 for r in server.requests if r.get("tools")) == first_seed_calls
    assert {rid for rid, _ in items} == {"g4", "g4.2", "g4.3", "g4.4"}
    assert [e.content for rid, e in items if isinstance(e, FinalAnswer) and rid == "g4"] == [
        "Final: 42 (saw 41/42)"]
    for k in (2, 3, 4):  # the cut step is redone once; the conversation holds each step once
        state = store.load_state(f"g4.{k}")
        assert state.finished and state.steps_done == 2
        assert [m.role for m in state.messages] == ["user", "assistant", "tool", "assistant"]
    assert store.run_info("g4")["status"] == "completed"
    store.close()


def test_reflect_keeps_the_latest_evidence_within_its_budget() -> None:
    evidence = [f"search({{\"q\": \"{i}\"}}) -> " + "x" * 150 for i in range(40)]
    cands = [Candidate(k, f"g.{k}", f"answer {k} " + "y" * 2000, "completed", "answered", 41,
                       40, evidence) for k in (1, 2)]
    text = Reflect(chars=1500).render("the task", cands, context_window=262144)
    for k in (1, 2):
        block = text.split(f"<attempt {k}:")[1].split("</attempt>")[0]
        assert len(block) < 1700
        assert '"q": "39"' in block and '"q": "0"' not in block
        assert "earlier tool calls not shown" in block and "[... cut ...]" in block
    small = Reflect().render("t", cands, context_window=8000)  # the window sets the budget
    assert len(small) < 8000 * 3 // 2 + 2000


def test_heavy_vote_notice_names_the_tally() -> None:
    cands = [Candidate(k, f"g.{k}", a, "completed", "", 1, 0) for k, a in ANSWERS.items()]
    best, tally = Vote().pick(cands)
    assert best.index == 1 and "3 x '42'" in tally and "1 x '41'" in tally
    assert tally.startswith("vote over 4 answers") and tally.endswith("chose attempt 1")


async def test_the_deadline_bounds_the_whole_group(tmp_path: Path) -> None:
    """With --timeout, the aggregation gets what the trajectories left of it (at least the
    final-answer grace), not a fresh full budget."""

    @tool
    async def echo_slowly(text: str) -> str:
        """Takes 2 s."""
        await asyncio.sleep(2)
        return f"echo: {text}"

    echo_slowly.spec.name = "echo"
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    with K2Server(policy) as server:
        def make(k: int) -> Agent:
            return agent_for(server, tools=(echo_slowly,), trace=store,
                             options=GenerationOptions(seed=100),
                             budget=Budget(max_wall_time_s=5, final_answer_grace_s=0.2))

        result = await Heavy(make, n=2).arun(TASK, run_id="g5")
        await close_backends()
    assert result.status == "completed"
    left = store.run_config("g5")["budget"]["max_wall_time_s"]
    assert 0.2 <= left <= 3.0  # at least 2 s went to the trajectories
    store.close()


async def test_one_heavy_serves_several_groups_each_with_its_own_agents() -> None:
    made: list[int] = []
    with K2Server(policy) as server:
        def make(k: int) -> Agent:
            made.append(k)
            return agent_for(server, options=GenerationOptions(seed=100))

        heavy = Heavy(make, n=2)
        await heavy.arun(TASK, run_id="ga")
        await heavy.arun(TASK, run_id="gb")
        await close_backends()
    assert made == [1, 2, 1, 2]
    groups = {g: heavy.agents[g, 1].config.heavy for g in ("ga", "gb")}
    assert {g: h.group if h else None for g, h in groups.items()} == {"ga": "ga", "gb": "gb"}


async def test_a_group_where_nothing_answered_aggregates_after_resume(tmp_path: Path) -> None:
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    with K2Server(policy) as server:
        server.faults.append(Fault("500", times=1000))  # every model call fails for now

        def make(k: int) -> Agent:
            return agent_for(server, trace=store, options=GenerationOptions(seed=100),
                             backend_overrides={"max_attempts": 1})

        failed = await Heavy(make, n=2).arun(TASK, run_id="gf")
        assert (failed.status, failed.reason) == ("failed", "no trajectory produced an answer")
        assert not store.has_run("gf")  # reported, not recorded: the id stays free
        server.faults.clear()
        done = await Heavy(make, n=2).aresume("gf")
        await close_backends()
    assert (done.status, done.answer) == ("completed", "Final: 42 (saw 42)")
    assert store.run_info("gf")["status"] == "completed"
    store.close()


async def test_the_judge_sees_the_earlier_conversation() -> None:
    opening = [Message.user("Which number is the answer to everything?"),
               Message(role="assistant", content="42, famously."),
               Message.user(TASK)]
    with K2Server(policy) as server:
        heavy = Heavy(lambda k: agent_for(server, options=GenerationOptions(seed=100)), n=2)
        [item async for item in heavy.events(TASK, run_id="gc", messages=opening)]
        await close_backends()
    (judged,) = [r for r in server.requests if not r.get("tools")]
    prompt = judged["messages"][0]["content"]
    assert "<conversation so far>" in prompt and "assistant: 42, famously." in prompt
    first = next(r for r in server.requests if r.get("tools"))
    assert [m["content"] for m in first["messages"]][:2] == [
        "Which number is the answer to everything?", "42, famously."]
