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


def test_attention_split_over_two_threads_gives_the_same_floats() -> None:
    """Long enough rows take the two-thread attention: logits and caches are bit-equal to
    one thread's, for rows of their own caches and for rows of one shared cache."""
    if build.compiler() is None:
        pytest.skip("no C compiler")
    from thinkact.model.native.decoder import native_decoder

    model = tiny_decode_model(max_position_embeddings=512)
    dec = native_decoder(model)
    assert dec is not None
    g = torch.Generator().manual_seed(1)
    positions = [300, 250, 10, 200, 290, 120]  # 1,176 positions in all: past the split limit
    own = [model.new_cache(1, 320) for _ in positions]
    shared = model.new_cache(4, 320)
    for c in [*own, shared]:
        for buf in c.buffers:
            buf.copy_(torch.randn(buf.shape, generator=g))
    start = [b.clone() for c in [*own, shared] for b in c.buffers]
    toks = torch.randint(0, model.config.vocab_size, (len(positions),), generator=g).tolist()
    out = {}
    for threads in (1, 2):
        for c_buf, s in zip([b for c in [*own, shared] for b in c.buffers], start, strict=True):
            c_buf.copy_(s)
        dec._model.threads = threads
        rows = dec.step_rows(toks, positions, own)
        step = dec.step(toks[:4], 299, shared)
        out[threads] = (rows, step, [b.clone() for c in [*own, shared] for b in c.buffers])
    assert torch.equal(out[1][0], out[2][0]) and torch.equal(out[1][1], out[2][1])
    assert all(torch.equal(a, b) for a, b in zip(out[1][2], out[2][2], strict=True))
    assert not torch.equal(out[1][2][0], start[0])  # the step wrote the new positions
