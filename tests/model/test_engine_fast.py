"""The fused decode step computes what the model's own forward computes."""

from __future__ import annotations

import pytest
import torch

from support.k2_hf import tiny_decode_model
from thinkact.model.engine import Session
from thinkact.model.fast_decode import FastDecoder, fast_decoder_for
from thinkact.model.int4_checkpoint import convert_experts_to_int4
from thinkact.model.model import K2ForCausalLM
from thinkact.model.sampling import SamplingParams

pytestmark = pytest.mark.torch

torch.set_num_threads(1)


def _model(**overrides: object) -> K2ForCausalLM:
    m: K2ForCausalLM = tiny_decode_model(**overrides)
    return m


@torch.no_grad()
def _compare(
    model: K2ForCausalLM,
    batch: int,
    stacked_min_fill: float = 1.0,
    int4_mode: str = "int8",
    lm_block: int = 256,
) -> FastDecoder:
    g = torch.Generator().manual_seed(batch)
    prompt = torch.randint(0, 128, (batch, 9), generator=g)
    nxt = torch.randint(0, 128, (batch, 3), generator=g)
    ref_cache = model.new_cache(batch, 32)
    fast_cache = model.new_cache(batch, 32)
    model(prompt, start_pos=0, cache=ref_cache)
    model(prompt, start_pos=0, cache=fast_cache)
    dec = FastDecoder(
        model, stacked_min_fill=stacked_min_fill, int4_mode=int4_mode, lm_block=lm_block
    )
    for i in range(3):
        pos = 9 + i
        want = model(nxt[:, i : i + 1], start_pos=pos, cache=ref_cache)[:, -1]
        got = dec.step(nxt[:, i], pos, fast_cache)
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()
    # the cache entries written are the model's own (prefill by one, decode by the other)
    end = 12
    got_kv, want_kv = fast_cache.buffers[0][:, :, :end], ref_cache.buffers[0][:, :, :end]
    assert torch.allclose(got_kv, want_kv, atol=1e-5, rtol=1e-5), (got_kv - want_kv).abs().max()
    return dec


@pytest.mark.parametrize("lm_block", [32, 48])  # 128-token vocab: 4 column blocks / no fit
def test_lm_head_column_blocks_for_several_rows(lm_block: int) -> None:
    dec = _compare(_model(), 3, lm_block=lm_block)
    assert (dec._lm_blocks is not None) == (lm_block == 32)
    if dec._lm_blocks is not None:
        assert dec._lm_blocks.shape == (4, 32, 32)  # [V/nb, H, nb]


@pytest.mark.parametrize("batch", [1, 3])
def test_no_shared_expert(batch: int) -> None:
    dec = _compare(_model(n_shared_experts=0, n_group=1, topk_group=1), batch)
    assert all(lay.shared_router is None for lay in dec.layers if lay.moe)


def test_router_rides_on_the_shared_expert_matmul() -> None:
    dec = _compare(_model(n_group=1, topk_group=1), 1)
    moe = [lay for lay in dec.layers if lay.moe]
    assert moe and all(lay.shared_router is not None for lay in moe)


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_fast_step_matches_model_forward(batch: int) -> None:
    _compare(_model(), batch)


@pytest.mark.parametrize("n_group", [1, 4])
@pytest.mark.parametrize("fill", [0.0, float("inf")])  # always / never stacked experts
@pytest.mark.parametrize("batch", [2, 8])
def test_multi_row_expert_paths(batch: int, fill: float, n_group: int) -> None:
    _compare(_model(n_group=n_group, topk_group=min(n_group, 2)), batch, stacked_min_fill=fill)


def test_stacked_experts_path_is_taken_for_float_experts_only() -> None:
    m = _model(moe_intermediate_size=32)
    dec = FastDecoder(m, stacked_min_fill=0.0)
    moe = [lay for lay in dec.layers if lay.moe]
    assert moe and all(lay.stackable for lay in moe)
    calls: list[int] = []
    real = FastDecoder._stacked

    def spy(*args: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    dec._stacked = spy  # type: ignore[method-assign,assignment]
    cache = m.new_cache(3, 8)
    m(torch.tensor([[1, 2], [3, 4], [5, 6]]), start_pos=0, cache=cache)
    dec.step([7, 8, 9], 2, cache)
    assert len(calls) == len(moe)
    convert_experts_to_int4(m)
    assert not any(lay.stackable for lay in FastDecoder(m).layers)


def test_no_query_lora_and_no_interleave() -> None:
    _compare(_model(q_lora_rank=None, rope_interleave=False), 2)


@pytest.mark.parametrize("int4_mode", ["int8", "module"])
@pytest.mark.parametrize("n_group", [1, 4])
def test_int4_experts_run_from_packed_weights(n_group: int, int4_mode: str) -> None:
    m = _model(moe_intermediate_size=32, n_group=n_group, topk_group=min(n_group, 2))
    convert_experts_to_int4(m)
    _compare(m, 1, int4_mode=int4_mode)
    _compare(m, 4, int4_mode=int4_mode)


def test_session_fast_and_slow_paths_agree() -> None:
    m = _model()
    outs = []
    for fast in (True, False):
        s = Session(m, 64, fast=fast)
        s.feed([3, 1, 4, 1, 5, 9, 2, 6])
        b = s.fork(4)
        outs.append(b.generate(12, SamplingParams(temperature=0.0)).tokens)
    assert outs[0] == outs[1]


def test_decoder_is_rebuilt_when_weights_change() -> None:
    m = _model()
    dec = fast_decoder_for(m)
    assert dec is not None and fast_decoder_for(m) is dec
    with torch.no_grad():
        m.lm_head.weight.mul_(2.0)
    dec2 = fast_decoder_for(m)
    assert dec2 is not dec
    _compare(m, 1)


@pytest.mark.parametrize("batch", [1, 2])
def test_ungrouped_router_lean_path(batch: int) -> None:
    _compare(_model(n_group=1, topk_group=1), batch)


def test_single_token_feeds_use_the_fused_path_and_see_weight_changes() -> None:
    m = _model(n_group=1, topk_group=1)
    prompt, steps = [3, 1, 4, 1, 5], [9, 2, 6, 5]
    fast, slow = Session(m, 32), Session(m, 32, fast=False)
    fast.sync(prompt)
    slow.sync(prompt)
    for t in steps:
        got, want = fast.feed([t]), slow.feed([t])
        assert torch.allclose(got, want, atol=1e-5, rtol=0)
    assert fast._decoder is not None and slow._decoder is None
    with torch.no_grad():  # e.g. a training step between agent turns
        m.model.layers[1].self_attn.o_proj.weight.mul_(0.5)  # the fused path holds a copy
    seq = [*prompt, *steps, 7]
    fast.truncate(0)
    fast.sync(seq)
    ref = Session(m, 32, fast=False)
    ref.feed(seq)
    assert torch.allclose(fast.feed([8]), ref.feed([8]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("token", [-1, 128])
def test_out_of_vocabulary_token_is_rejected(token: int) -> None:
    m = _model()
    cache = m.new_cache(1, 8)
    m(torch.tensor([[1, 2]]), start_pos=0, cache=cache)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        FastDecoder(m).step([token], 2, cache)
