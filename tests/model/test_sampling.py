"""Sampling filters and per-row seeded draws."""

from __future__ import annotations

import math

import pytest
import torch

from thinkact.model.sampling import SamplingParams, filter_logits, make_generators, sample

pytestmark = pytest.mark.torch

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])
LOGITS = PROBS.log().unsqueeze(0)


def test_greedy_is_argmax() -> None:
    logits = torch.tensor([[0.1, 3.0, -1.0], [5.0, 4.9, 0.0]])
    assert sample(logits, SamplingParams(temperature=0.0)).tolist() == [1, 0]


def test_top_k_and_top_p_masks() -> None:
    k2 = filter_logits(LOGITS, SamplingParams(top_k=2))
    assert torch.isfinite(k2).tolist() == [[True, True, False, False]]
    # cumulative mass before each token: 0, .5, .8, .95 -> top_p .75 keeps {0, 1}
    p = filter_logits(LOGITS, SamplingParams(top_p=0.75))
    assert torch.isfinite(p).tolist() == [[True, True, False, False]]
    p = filter_logits(LOGITS, SamplingParams(top_p=0.85))
    assert torch.isfinite(p).tolist() == [[True, True, True, False]]
    tiny = filter_logits(LOGITS, SamplingParams(top_p=0.01))
    assert torch.isfinite(tiny).tolist() == [[True, False, False, False]]


def test_temperature_scales_logits() -> None:
    out = filter_logits(torch.tensor([[2.0, 4.0]]), SamplingParams(temperature=2.0))
    assert out.tolist() == [[1.0, 2.0]]


def test_frequencies_follow_the_distribution() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 4000
    counts = torch.zeros(4)
    for _ in range(n):
        counts[sample(LOGITS, SamplingParams(), [gen])[0]] += 1
    freq = counts / n
    # 4 standard deviations of a binomial proportion
    tol = 4 * torch.sqrt(PROBS * (1 - PROBS) / n)
    assert torch.all((freq - PROBS).abs() < tol), freq


def test_seeded_rows_reproduce_and_are_independent() -> None:
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(1))
    params = SamplingParams(temperature=1.3, top_k=20)
    draws = [sample(logits, params, make_generators([1, 2, 3])) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    batch_gens = make_generators([0, 7, 0])
    seq_a = [int(sample(logits, params, batch_gens)[1]) for _ in range(20)]
    gens = make_generators([7])
    seq_b = [int(sample(logits[1:2], params, gens)[0]) for _ in range(20)]
    assert seq_a == seq_b  # row 1's draws depend only on its own seed and logits


def test_bad_params_are_rejected() -> None:
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        SamplingParams(top_k=-2)
    with pytest.raises(ValueError, match="generators"):
        sample(torch.zeros(2, 4), SamplingParams(), make_generators([1]))
    with pytest.raises(ValueError, match=r"\[B, V\]"):
        sample(torch.zeros(4), SamplingParams())
    assert not math.isnan(float(filter_logits(LOGITS, SamplingParams(top_k=10)).sum()))


def test_top_p_wide_and_narrow_nucleus_agree_with_full_sort() -> None:
    def reference(logits: torch.Tensor, top_p: float) -> torch.Tensor:
        sorted_x, order = torch.sort(logits, dim=-1, descending=True)
        p = torch.softmax(sorted_x, dim=-1)
        drop_sorted = (p.cumsum(dim=-1) - p) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, float("-inf"))

    g = torch.Generator().manual_seed(5)
    peaked = torch.randn(3, 2000, generator=g) * 6.0  # nucleus within the first 256 tokens
    flat = torch.randn(3, 2000, generator=g) * 0.1  # nucleus of ~1800 tokens: full sort path
    for logits in (peaked, flat, torch.cat([peaked[:1], flat[:1]])):
        got = filter_logits(logits, SamplingParams(top_p=0.9))
        want = reference(logits, 0.9)
        assert torch.equal(torch.isfinite(got), torch.isfinite(want))
        assert torch.equal(got[torch.isfinite(got)], logits[torch.isfinite(want)])
