"""``thinkact serve``'s backend: the whole agent behind the OpenAI-compatible app, driven by
the real ``openai`` client; the agent's own model is a loopback K2 server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from support.agent_kit import echo
from support.k2_server import K2Server, ToolLoop, reasoning_for
from support.loopback_server import LoopbackServer
from thinkact.agent import Agent, Reflect
from thinkact.backends import resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.server.agent_backend import AgentBackend
from thinkact.server.openai_app import Access, create_app
from thinkact.traces import SQLiteTraceStore

Served = tuple[LoopbackServer, K2Server, SQLiteTraceStore]


@contextmanager
def serving(tmp_path: Path, access: Access | None = None, **heavy: Any) -> Iterator[Served]:
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    with K2Server(ToolLoop(steps=2, answer="Two items echoed.")) as model:
        config = resolve_backend_config("custom", model="kimi-k2-thinking",
                                        base_url=model.base_url, env={})
        shared: dict[str, OpenAIBackend] = {}

        def make(run_id: str) -> Agent:  # called inside the server's event loop
            backend = shared.setdefault("b", OpenAIBackend(config))
            return Agent(backend, tools=[echo], trace=store, system_prompt="Be brief.")

        app = create_app(AgentBackend(make, "thinkact-agent", 262144, **heavy), access=access)
        server = LoopbackServer(app)
        try:
            yield server, model, store
        finally:
            server.close()
    store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        yield s


def client(server: LoopbackServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)


async def test_streamed_run_reasoning_then_answer(served: Served) -> None:
    server, model, store = served
    reasoning, content = [], []
    async with client(server) as c:
        stream = await c.chat.completions.create(
            model="thinkact-agent", stream=True,
            messages=[{"role": "user", "content": "Echo two items."}])
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is None:
                continue
            extra = delta.model_extra or {}
            reasoning.append(extra.get("reasoning_content") or "")
            content.append(delta.content or "")
    thought = "".join(reasoning)
    assert "".join(content) == "Two items echoed."
    assert reasoning_for(0).strip() in thought and reasoning_for(2).strip() in thought
    assert '→ echo {"text": "item 0"}' in thought and "← echo ok: echo: item 0" in thought
    assert thought.index("item 0") < thought.index(reasoning_for(1).strip())
    run = store.list_runs()[0]
    assert (run.status, run.steps, run.tool_calls) == ("completed", 3, 2)
    first = model.requests[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user"]  # the agent's system prompt added
    assert not model.reasoning_mismatches


async def test_concurrent_requests_are_separate_runs(served: Served) -> None:
    server, _, store = served

    async def ask(text: str) -> Any:
        async with client(server) as c:
            return await c.chat.completions.create(
                model="thinkact-agent", messages=[{"role": "user", "content": text}])

    one, two = await asyncio.gather(ask("first"), ask("second"))
    for resp in (one, two):
        msg = resp.choices[0].message
        assert msg.content == "Two items echoed."
        assert "← echo ok" in (msg.model_extra or {})["reasoning_content"]
        assert resp.usage is not None and resp.usage.prompt_tokens > 0
    runs = store.list_runs()
    assert len(runs) == 2 and {r.task for r in runs} == {"first", "second"}
    assert all(r.status == "completed" for r in runs)


async def test_a_conversation_without_a_user_message_is_refused(served: Served) -> None:
    server, _, _ = served
    async with client(server) as c:
        with pytest.raises(openai.BadRequestError, match="no user message"):
            await c.chat.completions.create(
                model="thinkact-agent", messages=[{"role": "system", "content": "hi"}])


async def test_heavy_requests_narrate_each_trajectory_then_aggregate(tmp_path: Path) -> None:
    with serving(tmp_path, heavy=3, aggregator=Reflect()) as (server, model, store):
        async with client(server) as c:
            resp = await c.chat.completions.create(
                model="thinkact-agent", messages=[{"role": "user", "content": "Echo."}])
        runs = {r.run_id for r in store.list_runs()}
    msg = resp.choices[0].message
    thought = (msg.model_extra or {})["reasoning_content"]
    assert msg.content == "Two items echoed. (wrap-up)"  # the tool-less aggregation call
    for k in (1, 2, 3):
        assert f'[{k}] → echo {{"text": "item 0"}}' in thought
        assert f"[{k}] answer: Two items echoed." in thought
    group = next(r for r in runs if "." not in r)
    assert runs == {group} | {f"{group}.{k}" for k in (1, 2, 3)}
    aggregation = [r for r in model.requests if not r.get("tools")]
    assert len(aggregation) == 1 and "3 independent attempts" in json.dumps(aggregation[0])


def test_browser_pages_and_foreign_hosts_cannot_drive_the_agent(tmp_path: Path) -> None:
    """A page the user has open can POST text/plain to a loopback port without a preflight,
    or rebind a name to 127.0.0.1: neither reaches the agent."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "run code"}]})
    url_json = {"content-type": "application/json"}
    with serving(tmp_path) as (server, model, _):
        url = server.base_url + "/chat/completions"
        simple = httpx.post(url, content=body, headers={"content-type": "text/plain"})
        foreign = httpx.post(url, content=body, headers={
            **url_json, "origin": "https://evil.example"})
        rebound = httpx.post(url, content=body, headers={**url_json, "host": "evil.example"})
        assert (simple.status_code, foreign.status_code, rebound.status_code) == (415, 403, 403)
        assert "evil.example" in rebound.text and not model.requests
        assert httpx.post(url, content=body, headers=url_json).status_code == 200
    with serving(tmp_path, access=Access(api_key="sekrit")) as (server, model, _):
        url = server.base_url + "/chat/completions"
        assert httpx.post(url, content=body, headers=url_json).status_code == 401
        assert httpx.get(server.base_url + "/models").status_code == 401
        odd = httpx.get(server.base_url + "/models", headers={"authorization": b"Bearer \xe9"})
        assert odd.status_code == 401  # not a 500 from comparing non-ASCII text
        assert httpx.get(server.base_url.removesuffix("/v1") + "/docs").status_code == 404
        ok = openai.OpenAI(base_url=server.base_url, api_key="sekrit", max_retries=0)
        reply = ok.chat.completions.create(model="m", messages=[{"role": "user",
                                                                 "content": "hi"}])
        assert reply.choices[0].message.content == "Two items echoed."


async def test_a_client_that_disconnects_leaves_a_run_resumable_at_once(tmp_path: Path) -> None:
    from thinkact.tools import tool

    calls: list[str] = []

    @tool
    async def hold(text: str) -> str:
        """Holds its first call for a minute."""
        calls.append(text)
        if len(calls) == 1:
            await asyncio.sleep(60)
        return f"held: {text}"

    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    with K2Server(ToolLoop(steps=2, tool="hold", answer="Done.")) as model:
        config = resolve_backend_config("custom", model="kimi-k2-thinking",
                                        base_url=model.base_url, env={})

        def make(run_id: str) -> Agent:
            return Agent(OpenAIBackend(config), tools=[hold], trace=store)

        server = LoopbackServer(create_app(AgentBackend(make, "thinkact-agent", 262144)))
        try:
            async with httpx.AsyncClient(timeout=30) as http, http.stream(
                    "POST", f"{server.base_url}/chat/completions", json={
                        "model": "thinkact-agent", "stream": True,
                        "messages": [{"role": "user", "content": "Hold on."}]}) as response:
                async for line in response.aiter_lines():
                    if "held" in line or "→ hold" in line:
                        break  # the tool call is under way: leave
            (run,) = store.list_runs()
            for _ in range(200):  # the server notices the closed connection
                if store.run_info(run.run_id)["status"] != "running":
                    break
                await asyncio.sleep(0.05)
            info = store.run_info(run.run_id)
            assert (info["status"], store.writer_alive(run.run_id)) == ("stopped", False)
            # resumed while the server that wrote it still runs
            backend = OpenAIBackend(config)
            resumed = await Agent(backend, tools=[hold], trace=store).aresume(run.run_id)
            await backend.aclose()
            assert resumed.status == "completed" and resumed.answer == "Done."
            assert calls == ["item 0", "item 0", "item 1"]  # the cut call was made again
        finally:
            server.close()
    store.close()
