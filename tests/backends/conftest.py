"""Fixtures shared with the other backend- and agent-driving test folders."""

from support.agent_fixtures import _close_clients, k2, trace_store

__all__ = ["_close_clients", "k2", "trace_store"]
