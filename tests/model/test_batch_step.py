"""feed_each: one step over several batch-1 sessions at different positions computes what
each session's own step computes (C step, fused PyTorch step, module forward)."""

from __future__ import annotations

import pytest
import torch

from support.k2_hf import tiny_decode_model
from thinkact.model.batch_step import decoder_for, feed_each
from thinkact.model.engine import Session
from thinkact.model.fast_decode import FastDecoder
from thinkact.model.native import build
from thinkact.model.native.decoder import NativeDecoder

pytestmark = pytest.mark.torch

torch.set_num_threads(1)

LENGTHS = [3, 17, 9, 1, 30]  # prompts of different lengths: every row at its own position


@pytest.mark.parametrize("path", ["native", "fused", "module"])
def test_rows_at_their_own_positions_match_each_sessions_own_step(path: str) -> None:
    if path == "native" and build.compiler() is None:
        pytest.skip("no C compiler")
    model = tiny_decode_model()
    fast, native = path != "module", path == "native"
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    prompts = [torch.randint(0, vocab, (n,), generator=g).tolist() for n in LENGTHS]
    shared = [Session(model, 64, fast=fast, native=native) for _ in prompts]
    alone = [Session(model, 64, fast=fast, native=native) for _ in prompts]
    for s, a, p in zip(shared, alone, prompts, strict=True):
        s.feed(p)
        a.feed(p)
    dec = decoder_for(shared[0])
    kind = {"native": NativeDecoder, "fused": FastDecoder, "module": type(None)}[path]
    assert isinstance(dec, kind)
    for step in range(4):
        toks = torch.randint(0, vocab, (len(prompts),), generator=g).tolist()
        got = feed_each(shared, toks, dec)
        want = torch.stack([a.feed([t]) for a, t in zip(alone, toks, strict=True)])
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (step, (got - want).abs().max())
    for s, a in zip(shared, alone, strict=True):
        assert s.tokens == a.tokens and s.position == a.position == len(s.tokens)
        n = s.position
        assert torch.allclose(s.cache.buffers[0][:, :, :n], a.cache.buffers[0][:, :, :n],
                              atol=1e-5)
    # the sessions go on by themselves afterwards (their logits are the shared step's)
    assert torch.allclose(shared[1].feed([5]), alone[1].feed([5]), atol=1e-5)


def test_bad_calls_name_the_problem() -> None:
    model = tiny_decode_model()
    a, b = Session(model, 8), Session(model, 8)
    a.feed([1, 2])
    b.feed([3])
    with pytest.raises(ValueError, match="2 tokens for 1 sessions"):
        feed_each([a], [1, 2])
    with pytest.raises(ValueError, match="twice"):
        feed_each([a, a], [1, 2])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        feed_each([a, b], [1, 10**6], decoder_for(a))
    full = Session(model, 2)
    full.feed([1, 2])
    with pytest.raises(ValueError, match="over max_seq_len 2"):
        feed_each([full, b], [1, 2])
