"""A batch of requests chooses its next tokens together (``next_tokens``) exactly as each
would alone (``Request.next_token``): sampled rows keep their own generators, forced tokens,
thinking budgets and mixed sampling parameters stay per request."""

from __future__ import annotations

import pytest
import torch

from thinkact.backends.local_request import Request, TokenIds, next_tokens
from thinkact.backends.thinking import BudgetForcing
from thinkact.model.sampling import SamplingParams

pytestmark = pytest.mark.torch

IDS = TokenIds(stop=frozenset({0}), reasoning_end=frozenset({1}), think=2, think_end=1)
PARAMS = [SamplingParams(temperature=1.0), SamplingParams(temperature=0.0),
          SamplingParams(temperature=0.7, top_p=0.9), SamplingParams(temperature=1.0),
          SamplingParams(temperature=1.2, top_k=20), SamplingParams(temperature=1.0)]


def batch() -> list[Request]:
    reqs = [Request([5, 6], 1000, p, IDS, lambda _: None, seed=k)
            for k, p in enumerate(PARAMS)]
    reqs[3].forced.extend([7, 8, 9])  # forced tokens first, then sampled
    reqs[5].forcing = BudgetForcing(budget=4, min_tokens=None, close=[1], cue=[])
    return reqs


def test_batched_choice_equals_one_by_one() -> None:
    alone, together = batch(), batch()
    g = torch.Generator().manual_seed(0)
    seen: list[list[int]] = []
    for _ in range(12):
        logits = torch.randn(len(PARAMS), 300, generator=g) * 3
        one = [r.next_token(logits[i]) for i, r in enumerate(alone)]
        assert next_tokens(together, logits) == one
        for a, b, tok in zip(alone, together, one, strict=True):
            a.record(tok)
            b.record(tok)
        seen.append(one)
    assert [s[3] for s in seen[:3]] == [7, 8, 9]
    assert [s[5] for s in seen].count(1) >= 1  # the budget closed the thinking block
    assert len({tuple(s[i] for s in seen) for i in (0, 3, 5)}) == 3  # rows are not copies
