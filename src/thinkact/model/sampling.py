"""Next-token selection: greedy, temperature, top-k, top-p, each row with its own generator.

Rows sample independently from their own ``torch.Generator`` so a row's draws depend only on
its seed and its own logits, never on which other rows share the batch (heavy mode decodes
8 trajectories together and each must be reproducible on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """``temperature`` 0 means greedy (argmax); ``top_k`` 0 and ``top_p`` 1.0 disable them."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def make_generators(seeds: Sequence[int | None]) -> list[torch.Generator | None]:
    """One CPU generator per row (None: use torch's global RNG for that row)."""
    return [None if s is None else torch.Generator().manual_seed(int(s)) for s in seeds]


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature-scaled logits [..., V] with tokens outside top-k / top-p set to -inf."""
    x = logits.float() / params.temperature
    vocab = x.shape[-1]
    if 0 < params.top_k < vocab:
        kth = torch.topk(x, params.top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if params.top_p < 1.0:
        x = _top_p(x, params.top_p)
    return x


def _top_p(x: torch.Tensor, top_p: float, prefix: int = 256) -> torch.Tensor:
    """Nucleus filter. Sorting the whole vocabulary is costly per row on CPU, and a
    trained model's nucleus is usually a few dozen tokens: first look at the top ``prefix``
    tokens, and sort everything only for rows whose nucleus is wider than that."""
    vocab = x.shape[-1]
    k = min(prefix, vocab)
    vals, order = torch.topk(x, k, dim=-1)  # sorted, descending
    probs = torch.exp(vals - torch.logsumexp(x, dim=-1, keepdim=True))
    if k < vocab and bool((probs.sum(dim=-1) < top_p).any()):
        vals, order = torch.sort(x, dim=-1, descending=True)
        probs = torch.softmax(vals, dim=-1)
    # Keep a token while the mass before it is below top_p (the best token always stays).
    keep = (probs.cumsum(dim=-1) - probs) < top_p
    out = torch.full_like(x, float("-inf"))
    return out.scatter(-1, order, vals.masked_fill(~keep, float("-inf")))


def sample(
    logits: torch.Tensor,
    params: SamplingParams,
    generators: Sequence[torch.Generator | None] | None = None,
) -> torch.Tensor:
    """Pick one token per row from ``logits`` [B, V]; returns LongTensor [B]."""
    if logits.ndim != 2:
        raise ValueError(f"sample expects logits [B, V], got shape {tuple(logits.shape)}")
    if params.greedy:
        return logits.argmax(dim=-1)
    batch = logits.shape[0]
    gens = list(generators) if generators is not None else [None] * batch
    if len(gens) != batch:
        raise ValueError(f"{len(gens)} generators for {batch} rows")
    plain = params.temperature == 1.0 and params.top_k == 0 and params.top_p == 1.0
    # Plain sampling skips filter_logits' copy (x / 1.0), which costs time every step.
    probs = torch.softmax(logits if plain else filter_logits(logits, params), -1, torch.float32)
    # Inverse-CDF draw: one uniform per row from that row's generator. Far cheaper than
    # torch.multinomial (which draws an exponential per vocabulary entry) at large vocabularies.
    cdf = probs.cumsum(dim=-1)
    u = torch.cat([torch.rand(1, generator=g) for g in gens]).unsqueeze(-1).to(cdf.device)
    # u·total < total, so the first index whose cdf exceeds it is a token of nonzero mass.
    picked = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
    return picked.clamp_(max=logits.shape[-1] - 1)
