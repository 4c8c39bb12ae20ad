"""One request's decoding state in the local backend: the row it owns in a running batch.

Everything that makes a request's tokens its own lives here, never in the batch: sampling
parameters and generator, forced tokens, the JSON guard, stop rules, reasoning tracking,
and its rules. The rule to know: a :data:`Rule` is asked before every token; what it
returns is forced next (one token per step), so closing the thinking block when a budget is
spent is a rule that returns the tokens of the end-of-thinking marker.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from thinkact.backends.local_json import ArgumentGuard
from thinkact.backends.thinking import BudgetForcing
from thinkact.model.sampling import SamplingParams, make_generators, sample


@dataclass(frozen=True)
class TokenIds:
    """The special tokens decoding watches for."""

    stop: frozenset[int]  # end the turn
    reasoning_end: frozenset[int]  # close the thinking block (</think>, or a tool section)
    think: int  # <think>: reasoning when it is the first token
    think_end: int  # </think>: what a thinking budget forces, or replaces when early


Rule = Callable[["Request"], Sequence[int]]  # tokens to force next (empty: none)


@dataclass
class Request:
    """A prompt to continue and how; updated by the scheduler's thread as tokens come."""

    prompt: list[int]
    max_new: int
    params: SamplingParams
    ids: TokenIds
    emit: Callable[[object], object]  # each token, an exception, then the end marker
    seed: int | None = None
    forced: deque[int] = field(default_factory=deque)
    guard: ArgumentGuard | None = None
    rules: list[Rule] = field(default_factory=list)
    in_reasoning: bool = True
    forcing: BudgetForcing | None = None  # the thinking budget (backends.thinking)
    cancel: threading.Event = field(default_factory=threading.Event)
    cached: int = 0  # prompt tokens found in a cache (not prefilled)
    produced: int = 0
    reasoning_tokens: int = 0
    finish: str = "length"

    def __post_init__(self) -> None:
        self.generator = make_generators([self.seed])[0]

    def next_token(self, logits: torch.Tensor) -> int:
        """The token after ``logits`` [V]: a forced one, else sampled (guarded)."""
        tok = self.forced_token()
        return tok if tok is not None else self.picked(self._pick(logits))

    def forced_token(self) -> int | None:
        """The next token if one is forced (by a rule, the budget, or queued), else None."""
        if not self.forced:
            for rule in self.rules:
                self.forced.extend(rule(self))
        if not self.forced and self.forcing is not None:  # budget reached: stop thinking
            self.forced.extend(self.forcing.at_budget(self.in_reasoning, self.reasoning_tokens))
        return self.forced.popleft() if self.forced else None

    @property
    def samples_plainly(self) -> bool:
        """True when a pick is one draw of ``sample`` (no active JSON guard to resample)."""
        return self.guard is None or not self.guard.active

    def picked(self, tok: int) -> int:
        """The token to emit for the sampled ``tok``: an early end of thinking becomes the
        budget's cue to think on."""
        if self.forcing is not None and tok == self.ids.think_end and self.in_reasoning:
            cue = self.forcing.on_early_end(self.reasoning_tokens)  # s1: think on
            if cue:
                tok = cue[0]
                self.forced.extend(cue[1:])
        return tok

    def record(self, tok: int) -> bool:
        """Account for and emit ``tok``; True when the request is finished."""
        first = self.produced == 0
        self.produced += 1
        if self.guard is not None:
            self.guard.observe(tok)
        if tok == self.ids.think and first:
            self.in_reasoning = True
        elif tok in self.ids.reasoning_end:
            self.in_reasoning = False
        elif self.in_reasoning:
            self.reasoning_tokens += 1
        self.emit(tok)
        if tok in self.ids.stop:
            self.finish = "stop"
            return True
        return self.produced >= self.max_new

    def _pick(self, logits: torch.Tensor) -> int:
        row = logits.float().unsqueeze(0)
        gen, guard = [self.generator], self.guard
        if guard is None or not guard.active:
            return int(sample(row, self.params, gen)[0])
        row = row.clone()
        for _ in range(32):  # sample, reject what breaks the JSON, resample
            tok = int(sample(row, self.params, gen)[0])
            if guard.allows(tok):
                return tok
            guard.rejections += 1
            row[0, tok] = float("-inf")
        for tok in torch.argsort(row[0], descending=True).tolist():  # best allowed token
            if guard.allows(int(tok)):
                return int(tok)
        return min(self.ids.stop)  # nothing keeps the JSON valid: end the turn


def next_tokens(reqs: Sequence[Request], logits: torch.Tensor) -> list[int]:
    """Each request's ``next_token`` from its row of ``logits`` [B, V]. Rows that sample
    plainly with the same parameters are drawn in one ``sample`` call (each from its own
    generator: the same tokens as one by one, for less per-row overhead)."""
    out = [r.forced_token() for r in reqs]
    groups: dict[SamplingParams, list[int]] = {}
    for i, (req, tok) in enumerate(zip(reqs, out, strict=True)):
        if tok is None and req.samples_plainly:
            groups.setdefault(req.params, []).append(i)
        elif tok is None:
            out[i] = req.picked(req._pick(logits[i]))
    for params, rows in groups.items():
        block = logits if len(rows) == len(reqs) else logits[rows]
        drawn = sample(block.float(), params, [reqs[i].generator for i in rows]).tolist()
        for i, tok in zip(rows, drawn, strict=True):
            out[i] = reqs[i].picked(int(tok))
    return [int(t) for t in out if t is not None]
