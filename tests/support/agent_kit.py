"""Shared pieces for the agent-engine tests: sample tools, agents wired to a fake K2 server."""

from __future__ import annotations

import asyncio
from typing import Any

from support.k2_server import K2Server
from support.memory_trace import MemoryTraceStore
from thinkact.agent import Agent
from thinkact.backends import resolve_backend_config
from thinkact.backends.openai_compat import OpenAIBackend
from thinkact.tools import tool


@tool
def echo(text: str) -> str:
    """Return the text, prefixed, so the model can see the call ran."""
    return f"echo: {text}"


@tool
async def slow(seconds: float) -> str:
    """Sleep (to test timeouts)."""
    await asyncio.sleep(seconds)
    return "woke up"


@tool
def boom(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"exploded because {reason}")


def backend_for(server: K2Server, **overrides: Any) -> OpenAIBackend:
    settings: dict[str, Any] = {"retry_base_delay_s": 0.001, "retry_max_delay_s": 0.01,
                                "context_window": server.context_window or 262144}
    settings.update(overrides)
    config = resolve_backend_config("custom", model="kimi-k2-thinking",
                                    base_url=server.base_url, env={}, **settings)
    backend = OpenAIBackend(config)
    OPEN_BACKENDS.append(backend)
    return backend


OPEN_BACKENDS: list[OpenAIBackend] = []


async def close_backends() -> None:
    """Close HTTP clients inside the test's event loop (not at garbage collection)."""
    while OPEN_BACKENDS:
        await OPEN_BACKENDS.pop().aclose()


def agent_for(server: K2Server, tools: Any = (echo,), trace: MemoryTraceStore | None = None,
              backend_overrides: dict[str, Any] | None = None, **kw: Any) -> Agent:
    return Agent(backend_for(server, **(backend_overrides or {})), tools=tools, trace=trace, **kw)
