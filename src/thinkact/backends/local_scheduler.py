"""Continuous batching for the local backend: one thread decodes every running request.

Each turn of the loop (1) admits requests that arrived, up to ``max_batch`` running, each
with a session of its own from the :class:`SessionPool`; (2) prefills one chunk of at most
``prefill_chunk`` tokens for the oldest request still prefilling, so a long prompt delays
the others' next token by one chunk, not by the whole prompt; (3) runs one decode step for
every request that has a token to feed, all rows in one call (``batch_step.feed_each``).
A finished or cancelled request leaves at once and its session goes back to the pool.

Prefix sharing: a request whose prompt shares more with a request still prefilling than
with anything cached waits for that prefill, then copies the shared prefix (the pool's
rule), so eight trajectories of one heavy group prefill their opening once.

The thread runs while there is work and exits when there is none; ``submit`` starts it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch

from thinkact.backends.local_mailbox import held
from thinkact.backends.local_pool import SessionPool
from thinkact.backends.local_request import Request, next_tokens
from thinkact.model.batch_step import decoder_for, feed_each
from thinkact.model.engine import Session, common_prefix

DONE = object()  # emitted last, after the tokens (or an exception)


class _Row:
    """A running request: its session, what is left to prefill, the token to feed next."""

    def __init__(self, req: Request, session: Session, todo: list[int]) -> None:
        self.req, self.session, self.todo = req, session, todo
        self.next: int | None = None  # chosen, emitted, not yet in the cache


class Scheduler:
    def __init__(self, pool: SessionPool, max_batch: int = 8, prefill_chunk: int = 256) -> None:
        if max_batch < 1 or prefill_chunk < 1:
            raise ValueError("max_batch and prefill_chunk must be >= 1")
        self.pool = pool
        self.max_batch, self.prefill_chunk = max_batch, prefill_chunk
        self._cond = threading.Condition()
        self._arrived: list[Request] = []
        self._waiting: list[Request] = []  # arrived, not admitted yet (oldest first)
        self._rows: list[_Row] = []
        self._thread: threading.Thread | None = None
        self._decoder: Any = None
        self.steps = 0  # decode steps run (a step serves every decoding row)
        self.max_rows = 0  # the most rows one step served

    def submit(self, req: Request) -> None:
        with self._cond:
            self._arrived.append(req)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="thinkact-decode",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    self._waiting += self._arrived
                    self._arrived.clear()
                    if not self._waiting and not self._rows:
                        self._thread = None
                        return
                try:
                    with held():  # this turn's tokens reach each event loop in one wake-up
                        self._turn()
                except BaseException as exc:  # a bug here must not strand the consumers
                    for row in list(self._rows):
                        self._end(row, exc)
                    for req in self._waiting:
                        req.emit(exc)
                        req.emit(DONE)
                    self._waiting.clear()

    def _turn(self) -> None:
        for req in [r for r in self._waiting if r.cancel.is_set()]:
            self._waiting.remove(req)
            req.finish = "cancelled"
            req.emit(DONE)
        for row in [r for r in self._rows if r.req.cancel.is_set()]:
            row.req.finish = "cancelled"
            self._end(row)
        self._admit()
        self._prefill()
        self._decode()

    def _admit(self) -> None:
        for req in list(self._waiting):
            if len(self._rows) >= self.max_batch:
                return
            if self._shares_with_prefill(req):
                continue  # admitted once that prefill is in a cache it can copy
            self._waiting.remove(req)
            session, have = self.pool.acquire(req.prompt)
            req.cached = have
            if self._decoder is None or not self._rows:  # weights may have changed
                self._decoder = decoder_for(session)
            self._rows.append(_Row(req, session, req.prompt[have:]))

    def _shares_with_prefill(self, req: Request) -> bool:
        best = self.pool.best_prefix(req.prompt)
        return any(row.todo and common_prefix(row.req.prompt, req.prompt) > best
                   for row in self._rows) and self.pool.reuse_prefix

    def _prefill(self) -> None:
        row = next((r for r in self._rows if r.todo), None)
        if row is None:
            return
        chunk, row.todo = row.todo[: self.prefill_chunk], row.todo[self.prefill_chunk :]
        try:
            logits = row.session.feed(chunk)
            if not row.todo:
                self._choose(row, logits)
        except Exception as exc:  # this request's fault (too long, bad id): its error
            self._end(row, exc)

    def _decode(self) -> None:
        rows = [r for r in self._rows if r.next is not None]
        if not rows:
            return
        tokens = [r.next for r in rows if r.next is not None]
        try:
            logits = feed_each([r.session for r in rows], tokens, self._decoder)
        except Exception as exc:
            for row in rows:
                self._end(row, exc)
            return
        self.steps += 1
        self.max_rows = max(self.max_rows, len(rows))
        for row, tok in zip(rows, next_tokens([r.req for r in rows], logits), strict=True):
            self._take(row, tok)

    def _choose(self, row: _Row, logits: torch.Tensor) -> None:
        self._take(row, row.req.next_token(logits))

    def _take(self, row: _Row, tok: int) -> None:
        if row.req.record(tok):
            self._end(row)
        else:
            row.next = tok

    def _end(self, row: _Row, error: BaseException | None = None) -> None:
        if row in self._rows:
            self._rows.remove(row)
            self.pool.release(row.session)
        if error is not None:
            row.req.emit(error)
        row.req.emit(DONE)

    @property
    def running(self) -> Sequence[Request]:
        """Requests admitted and not finished (prefilling or decoding)."""
        return [r.req for r in self._rows]
