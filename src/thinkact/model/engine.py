"""KV-cached inference over a K2 model: prefill, batched decode, forced tokens, prefix reuse.

The model contract (``thinkact.model.model``)::

    cache = model.new_cache(batch_size, max_seq_len)
    logits = model(input_ids [B, T], start_pos=p, cache=cache, last_only=True)  # [B, 1, V]

All rows of a batch share ``start_pos`` (aligned batches), so a decode step feeds exactly one
token per row. Everything here is built on one object, :class:`Session`:

``Session(model, max_seq_len, batch_size=1, fast=True, native=True)``
    Owns a cache and the token history of each row (``rows[i].history``; ``tokens`` is row
    0's). ``position`` is how many tokens are in the cache; tokens chosen by
    :meth:`Session.stream` but not yet fed are *pending* and are fed lazily together with
    whatever comes next (so a tool-result chunk costs one forward). With ``fast`` the
    single-token steps of a stream run through :mod:`thinkact.model.fast_decode` (same math,
    fused weights, ~35% fewer ops), or with ``native`` (the default) through the same step
    written in C (:mod:`thinkact.model.native`, one call per token) where a C compiler is
    available; so do single-token ``feed`` calls. Prefill and chunks
    always use the model's forward. The fused weights are looked up (and rebuilt if the
    model's weights changed) at each ``sync``/``stream``, not per token.

``feed(tokens) -> logits [V]`` (batch 1; ``feed_rows([[...], ...])`` for B rows)
    Prefill or extend: one forward over the pending token(s) plus ``tokens`` at
    ``start_pos = position``. This is also the chunked injection of a tool result mid-run.

``sync(tokens) -> logits [V]`` (batch 1)
    Make the cache hold exactly ``tokens``, reusing the longest cached common prefix (the
    cache is valid up to the first differing token) and feeding only the rest. An agent
    loop calls this with the full re-rendered conversation each step.

``truncate(pos)`` / ``rollback(n)``
    Forget everything from position ``pos`` (or the last ``n`` tokens). Later writes
    overwrite the stale cache entries; attention never looks past ``start_pos + T``.

``fork(n) -> Session``
    A new session of ``n`` rows whose caches copy this one's row 0 (prefill once, then
    decode n trajectories together: heavy mode).

``stream(max_new_tokens, sampling, seeds, stop_tokens, on_step) -> Iterator[Step]``
    Decode all rows together. Each :class:`Step` has one entry per row: the chosen token
    (None once the row finished), whether it was forced, and whether the row just finished.
    Between steps the caller may call ``force(row, tokens)`` (queued tokens replace sampling
    for that row, one per step, marked forced) or, at batch 1, ``feed(chunk)`` (the chunk
    goes into the cache in one forward and the next token is sampled after it). A row
    finishes when it *samples* a stop token (forced tokens never stop a row, so spliced
    turn markers are safe) or after ``max_new_tokens`` tokens (forced ones included). Rows
    that finish while others go on are dropped from the cache (``cache.select``) so their
    compute stops; they cannot be continued later. When the stream ends, the remaining rows
    keep their cache: a batch-1 session can be fed, synced or streamed again.

``generate(...) -> Generation``
    ``stream`` run to completion: per-row tokens, forced masks and finish reasons.

Sampling (:class:`~thinkact.model.sampling.SamplingParams`): temperature 0 is greedy;
top-k / top-p filter; each row draws from its own ``torch.Generator`` (``seeds``: a list,
or one int meaning seed + row), so a row's sample does not depend on its batch neighbours.

Example (heavy mode, then an agent step with a tool result spliced in)::

    s = Session(model, max_seq_len=4096)
    s.feed(prompt_ids)
    heavy = s.fork(8).generate(512, SamplingParams(1.0, top_p=0.95), seeds=0, stop_tokens={eos})
    for step in s.stream(512, SamplingParams(1.0), seeds=[7], stop_tokens={eos}):
        if saw_tool_call(step.tokens[0]):
            s.feed(tool_result_ids)   # one forward at start_pos = s.position
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch

from thinkact.model.sampling import SamplingParams, make_generators, sample

FinishReason = Literal["stop", "length"]


class CausalLM(Protocol):
    def __call__(
        self, input_ids: torch.Tensor, start_pos: int = ..., cache: Any = ..., last_only: bool = ...
    ) -> torch.Tensor: ...

    def new_cache(self, batch_size: int, max_seq_len: int) -> Any: ...


@dataclass
class Step:
    """One decode step: entries per row of the session (None for rows already finished)."""

    index: int
    tokens: list[int | None]
    forced: list[bool]
    finished: list[bool]


@dataclass
class Generation:
    """Result of :meth:`Session.generate`: new tokens per row (prompt excluded)."""

    tokens: list[list[int]]
    forced: list[list[bool]]
    finish_reasons: list[FinishReason]


@dataclass
class _Row:
    history: list[int] = field(default_factory=list)  # tokens fed or pending, prompt included
    queue: deque[int] = field(default_factory=deque)  # forced tokens waiting to be emitted
    done: bool = False


class Session:
    """A KV cache plus per-row token history; see the module docstring for the API."""

    def __init__(
        self,
        model: CausalLM,
        max_seq_len: int,
        batch_size: int = 1,
        *,
        cache: Any = None,
        fast: bool = True,
        native: bool = True,
    ) -> None:
        if batch_size < 1 or max_seq_len < 1:
            raise ValueError("Session needs batch_size >= 1 and max_seq_len >= 1")
        self.model = model
        self.max_seq_len = max_seq_len
        self.batch_size = batch_size
        self.cache = cache if cache is not None else model.new_cache(batch_size, max_seq_len)
        self.position = 0  # tokens in the cache (same for every row)
        self.fast = fast
        self.native = native  # with fast: the C step where it can run (thinkact.model.native)
        self._decoder: Any = None  # single-token step (fast_decoder_for), looked up per stream
        self.rows = [_Row() for _ in range(batch_size)]
        self._pending: list[int] | None = None  # chosen per live row, not yet fed
        self._live = list(range(batch_size))  # session rows still present in the cache
        self._logits: torch.Tensor | None = None  # [len(_live), V] next-token logits

    # -- feeding --------------------------------------------------------------------------

    @property
    def tokens(self) -> list[int]:
        """Row 0's full token history (batch-1 convenience)."""
        return list(self.rows[0].history)

    def feed(self, tokens: Sequence[int]) -> torch.Tensor:
        """Batch 1: extend the cache with ``tokens`` (after any pending one); logits [V]."""
        if self.batch_size != 1:
            raise ValueError("feed() is for batch-1 sessions; use feed_rows() for batches")
        return self.feed_rows([tokens])[0]

    def feed_rows(self, tokens: Sequence[Sequence[int]]) -> torch.Tensor:
        """Extend every live row by the same number of tokens in one forward; logits [B, V]."""
        if len(tokens) != len(self._live):
            raise ValueError(f"got {len(tokens)} token rows for {len(self._live)} live rows")
        lengths = {len(t) for t in tokens}
        if len(lengths) != 1:
            raise ValueError(f"rows must be fed equal numbers of tokens, got {sorted(lengths)}")
        chunk = [list(t) for t in tokens]
        if self._pending is not None:
            chunk = [[p, *c] for p, c in zip(self._pending, chunk, strict=True)]
        elif lengths == {0}:
            raise ValueError("nothing to feed")
        if chunk[0]:
            self._forward(chunk)
        for r, c in zip(self._live, tokens, strict=True):
            self.rows[r].history.extend(c)
        assert self._logits is not None
        return self._logits

    def _forward(self, chunk: list[list[int]]) -> None:
        n = len(chunk[0])
        if self.position + n > self.max_seq_len:
            raise ValueError(
                f"sequence would reach {self.position + n} tokens, over max_seq_len "
                f"{self.max_seq_len}"
            )
        dec = self._decoder
        if n == 1 and self.fast and dec is None:
            dec = self._refresh_decoder()
        if n == 1 and dec is not None:
            self._logits = dec.step([c[0] for c in chunk], self.position, self.cache)
        else:
            bufs = getattr(self.cache, "buffers", None)
            device = bufs[0].device if bufs else None
            ids = torch.tensor(chunk, dtype=torch.long, device=device)
            with torch.inference_mode():
                out = self.model(ids, start_pos=self.position, cache=self.cache, last_only=True)
            self._logits = out[:, -1, :]
        self.position += n
        self._pending = None

    def _refresh_decoder(self) -> Any:
        """Look up the fused decoder (rebuilt if the weights changed). Done at each
        ``sync``/``stream`` and on the first single-token feed, not per token: the staleness
        check walks all parameters."""
        self._decoder = None
        if self.fast and isinstance(self.model, torch.nn.Module):
            from thinkact.model.fast_decode import fast_decoder_for

            self._decoder = fast_decoder_for(self.model, self.native)
        return self._decoder

    def sync(self, tokens: Sequence[int]) -> torch.Tensor:
        """Batch 1: make the cache hold ``tokens`` reusing the common prefix; logits [V]."""
        if not tokens:
            raise ValueError("sync() needs at least one token")
        self._refresh_decoder()
        hist = self.rows[0].history
        if hist == list(tokens) and (self._logits is not None or self._pending):
            return self._last_logits()
        keep = common_prefix(hist, tokens)
        if keep != len(hist) or self._logits is None:
            self.truncate(keep)
        return self.feed(tokens[keep:]) if len(tokens) > keep else self._last_logits()

    def _last_logits(self) -> torch.Tensor:
        if self._pending is not None:
            return self.feed([])
        assert self._logits is not None
        return self._logits[0]

    def truncate(self, pos: int) -> None:
        """Forget every token at index >= ``pos`` (pending ones included)."""
        if self.batch_size != 1 and len(self._live) != self.batch_size:
            raise ValueError("cannot truncate a batch after rows were dropped")
        if not 0 <= pos <= len(self.rows[0].history):
            raise ValueError(f"truncate({pos}) outside [0, {len(self.rows[0].history)}]")
        for row in self.rows:
            del row.history[pos:]
            row.queue.clear()
            row.done = False
        self._pending = None
        self._logits = None
        self.position = min(self.position, pos)
        if hasattr(self.cache, "length"):
            self.cache.length = min(self.cache.length, self.position)

    def record_step(self, token: int, logits: torch.Tensor) -> None:
        """Batch 1: ``token`` was written into this cache at ``position`` by a step shared
        with other sessions (:func:`thinkact.model.batch_step.feed_each`); ``logits`` [V]."""
        if self.batch_size != 1 or self._pending is not None:
            raise ValueError("record_step() is for batch-1 sessions with nothing pending")
        self.rows[0].history.append(int(token))
        self.position += 1
        self._logits = logits.unsqueeze(0)

    def copy_prefix(self, other: Session, n: int) -> None:
        """Batch 1: hold ``other``'s first ``n`` tokens (and their cache), nothing else; the
        next ``sync``/``feed`` goes on from there. Copies n positions, not the whole cache."""
        if self.batch_size != 1 or other.batch_size != 1:
            raise ValueError("copy_prefix() is for batch-1 sessions")
        if not 0 <= n <= min(other.position, len(other.rows[0].history)):
            raise ValueError(f"copy_prefix({n}): the other session holds {other.position}")
        self.truncate(0)
        self.cache.copy_prefix(other.cache, n)
        self.rows[0].history = list(other.rows[0].history[:n])
        self.position = n

    def rollback(self, n_tokens: int) -> None:
        """Forget the last ``n_tokens`` tokens."""
        self.truncate(len(self.rows[0].history) - n_tokens)

    def fork(self, n: int) -> Session:
        """A session of ``n`` rows, each a copy of this (batch-1) session's state."""
        if len(self._live) != 1 or self.batch_size != 1:
            raise ValueError("fork() needs a batch-1 session")
        if self._pending is not None:
            self.feed([])
        if self._logits is None:
            raise ValueError("fork() needs a fed session (call feed() first)")
        child = Session(
            self.model,
            self.max_seq_len,
            n,
            cache=self.cache.expand(n, 0),
            fast=self.fast,
            native=self.native,
        )
        child.position = self.position
        for row in child.rows:
            row.history = list(self.rows[0].history)
        child._logits = self._logits.expand(n, -1).clone()
        return child

    # -- decoding -------------------------------------------------------------------------

    def force(self, row: int, tokens: Iterable[int]) -> None:
        """Queue tokens that replace sampling for ``row`` (one per step, marked forced)."""
        if self.rows[row].done:
            raise ValueError(f"row {row} already finished")
        self.rows[row].queue.extend(int(t) for t in tokens)

    def stream(
        self,
        max_new_tokens: int,
        sampling: SamplingParams | None = None,
        seeds: Sequence[int | None] | int | None = None,
        stop_tokens: Iterable[int] = (),
        on_step: Callable[[Step], None] | None = None,
    ) -> Iterator[Step]:
        """Decode up to ``max_new_tokens`` per row; yields one :class:`Step` per token column.

        ``seeds``: one per row, or one int (row i gets seed + i), or None (global RNG).
        """
        params = sampling or SamplingParams()
        if self._logits is None and self._pending is None:
            raise ValueError("stream() needs a fed session (call feed() first)")
        if isinstance(seeds, int):
            seeds = [seeds + i for i in range(self.batch_size)]
        gens = make_generators(seeds if seeds is not None else [None] * self.batch_size)
        if len(gens) != self.batch_size:
            raise ValueError(f"{len(gens)} seeds for {self.batch_size} rows")
        stops = frozenset(int(t) for t in stop_tokens)
        self._refresh_decoder()
        produced = [0] * self.batch_size
        for r in self._live:
            self.rows[r].done = False
        for index in range(max_new_tokens):
            if index:
                self._compact()
            if self._pending is not None:
                self.feed_rows([[] for _ in self._live])
            step = self._choose(index, params, gens, stops, produced, max_new_tokens)
            if on_step is not None:
                on_step(step)
            yield step
            if all(self.rows[r].done for r in self._live):
                return

    def _choose(
        self,
        index: int,
        params: SamplingParams,
        gens: list[torch.Generator | None],
        stops: frozenset[int],
        produced: list[int],
        max_new_tokens: int,
    ) -> Step:
        assert self._logits is not None
        live = self._live
        needs_sample = [not self.rows[r].queue for r in live]
        sampled: list[int] = [0] * len(live)
        if any(needs_sample):
            idx = [i for i, s in enumerate(needs_sample) if s]
            rows = self._logits if len(idx) == len(live) else self._logits[idx]
            picked = sample(rows, params, [gens[live[i]] for i in idx])
            for i, t in zip(idx, picked.tolist(), strict=True):
                sampled[i] = int(t)
        tokens: list[int | None] = [None] * self.batch_size
        forced = [False] * self.batch_size
        finished = [False] * self.batch_size
        pending: list[int] = []
        for i, r in enumerate(live):
            row = self.rows[r]
            is_forced = not needs_sample[i]
            tok = row.queue.popleft() if is_forced else sampled[i]
            tokens[r], forced[r] = tok, is_forced
            row.history.append(tok)
            produced[r] += 1
            if (not is_forced and tok in stops) or produced[r] >= max_new_tokens:
                row.done = finished[r] = True
            pending.append(tok)
        self._pending = pending
        return Step(index, tokens, forced, finished)

    def _compact(self) -> None:
        """Drop rows that finished in an earlier step from the cache (their compute stops).

        Runs only while other rows go on, so when a stream ends every remaining row (a
        batch-1 row in particular) keeps its cache and can be extended or streamed again.
        """
        keep = [i for i, r in enumerate(self._live) if not self.rows[r].done]
        if len(keep) == len(self._live):
            return
        self.cache = self.cache.select(keep)
        self._live = [self._live[i] for i in keep]
        if self._logits is not None:
            self._logits = self._logits[keep]
        if self._pending is not None:
            self._pending = [self._pending[i] for i in keep]

    def generate(
        self,
        max_new_tokens: int,
        sampling: SamplingParams | None = None,
        seeds: Sequence[int | None] | int | None = None,
        stop_tokens: Iterable[int] = (),
    ) -> Generation:
        """Run :meth:`stream` to completion and collect per-row results."""
        toks: list[list[int]] = [[] for _ in range(self.batch_size)]
        forced: list[list[bool]] = [[] for _ in range(self.batch_size)]
        reasons: list[FinishReason] = ["length"] * self.batch_size
        stops = frozenset(stop_tokens)
        for step in self.stream(max_new_tokens, sampling, seeds, stops):
            for r, t in enumerate(step.tokens):
                if t is None:
                    continue
                toks[r].append(t)
                forced[r].append(step.forced[r])
                if step.finished[r] and not step.forced[r] and t in stops:
                    reasons[r] = "stop"
        return Generation(toks, forced, reasons)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Tokens ``a`` and ``b`` share at the start, at most ``len(b) - 1``: a prompt always
    leaves one token to feed, so the next-token logits are fresh."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return min(n, len(b) - 1)
