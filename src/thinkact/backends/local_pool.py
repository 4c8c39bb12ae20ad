"""The local backend's KV caches: a pool of batch-1 ``Session``s, one per conversation.

A request borrows a session for as long as it decodes (a busy session serves nobody else).
The rule: a prompt extends the idle cache it continues; else it gets a cache seeded with a
copy of the longest prefix any cache holds, busy ones included (prefix sharing: a common
system prompt and tools, or a heavy group's opening, is prefilled once). While more
requests run than ``size``, the pool grows; it shrinks back when they finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thinkact.model.engine import Session, common_prefix


class SessionPool:
    """``sessions``: most recently used first."""

    def __init__(self, model: Any, max_seq_len: int, size: int, reuse_prefix: bool) -> None:
        self.model, self.max_seq_len = model, max_seq_len
        self.size = max(1, size)
        self.reuse_prefix = reuse_prefix
        self.sessions = [Session(model, max_seq_len)]
        self.busy: set[int] = set()  # id() of borrowed sessions

    def best_prefix(self, prompt: Sequence[int]) -> int:
        """The longest prefix of ``prompt`` any cache holds (what a new session could copy)."""
        if not self.reuse_prefix:
            return 0
        return max(common_prefix(s.tokens, prompt) for s in self.sessions)

    def acquire(self, prompt: Sequence[int]) -> tuple[Session, int]:
        """A session for ``prompt`` and how many of its tokens it already holds; the caller
        feeds the rest. Moved to the front and marked busy."""
        idle = [s for s in self.sessions if id(s) not in self.busy]
        if not self.reuse_prefix:
            session = idle[0] if idle else self._new()
            session.truncate(0)
            return self._take(session), 0
        extends = [s for s in idle if list(prompt[: len(s.tokens)]) == s.tokens]
        if extends:
            session = max(extends, key=lambda s: len(s.tokens))
        elif idle and len(self.sessions) >= self.size:  # full: reuse the least useful
            rank = {id(s): i for i, s in enumerate(self.sessions)}
            session = max(idle, key=lambda s: (common_prefix(s.tokens, prompt), rank[id(s)]))
        else:
            session = self._new()
        have = common_prefix(session.tokens, prompt)
        source = max(self.sessions, key=lambda s: common_prefix(s.tokens, prompt))
        shared = common_prefix(source.tokens, prompt)
        if shared > have and source is not session:  # another cache holds more: copy it
            session.copy_prefix(source, shared)
            have = shared
        else:
            session.truncate(have)
        return self._take(session), have

    def release(self, session: Session) -> None:
        """Give ``session`` back; drop idle least-recently-used ones beyond ``size``."""
        self.busy.discard(id(session))
        while len(self.sessions) > self.size:
            idle = [s for s in self.sessions if id(s) not in self.busy]
            if not idle:
                return
            self.sessions.remove(idle[-1])

    def _new(self) -> Session:
        fresh = Session(self.model, self.max_seq_len)
        self.sessions.append(fresh)
        return fresh

    def _take(self, session: Session) -> Session:
        self.sessions.remove(session)
        self.sessions.insert(0, session)
        self.busy.add(id(session))
        return session

