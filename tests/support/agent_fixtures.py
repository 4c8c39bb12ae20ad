"""Fixtures for tests that drive a backend or an agent: a loopback K2 server factory, both
trace stores, and closing the HTTP clients after each test. Imported by the conftest.py of
the folders that use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.agent_kit import close_backends
from support.k2_server import K2Server, Policy, ToolLoop
from support.memory_trace import MemoryTraceStore
from thinkact.traces.sqlite import SQLiteTraceStore


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_backends()


@pytest.fixture
def k2() -> Iterator[Callable[..., K2Server]]:
    """Factory: ``k2(policy, **server_kwargs)`` -> a started server, stopped after the test."""
    servers: list[K2Server] = []

    def start(policy: Policy | None = None, **kw: Any) -> K2Server:
        server = K2Server(policy or ToolLoop(3), **kw)
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.__exit__(None, None, None)


@pytest.fixture(params=["memory", "sqlite"])
def trace_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each trace-using test runs against the in-memory reference and the real SQLite store."""
    store: Any = (MemoryTraceStore() if request.param == "memory"
                  else SQLiteTraceStore(tmp_path / "traces.sqlite"))
    yield store
    store.close()
