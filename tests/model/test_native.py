"""The C decode step computes what the model's own forward computes, and degrades cleanly."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from support.k2_hf import tiny_decode_model
from thinkact.model.engine import Session
from thinkact.model.fast_decode import FastDecoder, fast_decoder_for
from thinkact.model.int4_checkpoint import convert_experts_to_int4
from thinkact.model.model import K2ForCausalLM
from thinkact.model.native import build
from thinkact.model.native.decoder import (
    NativeDecoder,
    native_decoder,
    pack,
    pack_int4_panels,
)
from thinkact.model.sampling import SamplingParams

torch.set_num_threads(1)

pytestmark = [pytest.mark.torch, pytest.mark.skipif(
    build.compiler() is None, reason="no C compiler: the native decode step cannot be built")]


@pytest.fixture
def lib_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private kernel cache dir and a fresh load_library() for tests that change the build."""
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(tmp_path / "cache"))
    build.load_library.cache_clear()
    yield tmp_path
    build.load_library.cache_clear()


def _model(**overrides: object) -> K2ForCausalLM:
    m: K2ForCausalLM = tiny_decode_model(**overrides)
    return m


def _native(model: K2ForCausalLM) -> NativeDecoder:
    dec = native_decoder(model)
    assert isinstance(dec, NativeDecoder)
    return dec


@torch.no_grad()
def _compare(model: K2ForCausalLM, batch: int, prompt_len: int = 9, steps: int = 4) -> None:
    """Prefill by the model, then decode by the C step and by the model side by side."""
    g = torch.Generator().manual_seed(batch)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (batch, prompt_len), generator=g)
    nxt = torch.randint(0, vocab, (batch, steps), generator=g)
    total = prompt_len + steps + 1
    ref_cache, c_cache = model.new_cache(batch, total), model.new_cache(batch, total)
    model(prompt, start_pos=0, cache=ref_cache)
    model(prompt, start_pos=0, cache=c_cache)
    dec = _native(model)
    for i in range(steps):
        pos = prompt_len + i
        want = model(nxt[:, i : i + 1], start_pos=pos, cache=ref_cache)[:, -1]
        got = dec.step(nxt[:, i].tolist(), pos, c_cache)
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()
    end = prompt_len + steps
    got_kv, want_kv = c_cache.buffers[0][:, :, :end], ref_cache.buffers[0][:, :, :end]
    assert torch.allclose(got_kv, want_kv, atol=1e-5, rtol=1e-5), (got_kv - want_kv).abs().max()
    assert c_cache.length == end


@pytest.mark.parametrize("batch", [1, 3, 8, 11])  # 11: more rows than one register block
def test_step_matches_model_forward(batch: int) -> None:
    _compare(_model(), batch)  # group-limited routing, q-LoRA, YaRN, 2 dense + 2 MoE layers


@pytest.mark.parametrize(
    "overrides",
    [
        {"n_group": 1, "topk_group": 1},
        {"n_shared_experts": 0},
        {"q_lora_rank": None, "rope_interleave": False},
        {"norm_topk_prob": False},
        # widths that are not multiples of the 16-float vectors or 32-column panels, and more
        # heads than one 16-lane vector
        {"hidden_size": 40, "intermediate_size": 36, "moe_intermediate_size": 20,
         "kv_lora_rank": 24, "qk_rope_head_dim": 6, "v_head_dim": 10, "q_lora_rank": 18,
         "num_attention_heads": 19},
        {"num_attention_heads": 70, "first_k_dense_replace": 0},  # two head groups of <= 64
    ],
)  # fmt: skip
@pytest.mark.parametrize("batch", [1, 5])
def test_config_variants(overrides: dict[str, object], batch: int) -> None:
    _compare(_model(**overrides), batch)


def test_long_context_positions() -> None:
    # prompts of several lengths: the attention's 4-position blocks plus every tail length
    m = _model()
    for n in (1, 2, 3, 4, 37, 130):
        _compare(m, 2, prompt_len=n, steps=2)


def test_pack_layout() -> None:
    w = torch.arange(5 * 70, dtype=torch.float32).view(5, 70)
    p = pack(w)
    assert p.shape == (3, 5, 32) and p.is_contiguous()
    assert torch.equal(p[1, 2], w[2, 32:64])
    assert torch.equal(p[2, 4, :6], w[4, 64:]) and not p[2, :, 6:].any()


def test_sessions_use_it_and_agree_with_the_module_forward() -> None:
    m = _model()
    assert isinstance(fast_decoder_for(m), NativeDecoder)
    outs = []
    for fast in (True, False):
        s = Session(m, 64, fast=fast)
        s.feed([3, 1, 4, 1, 5, 9, 2, 6])
        outs.append(s.fork(4).generate(12, SamplingParams(temperature=0.0)).tokens)
        outs.append(s.generate(10, SamplingParams(temperature=0.0)).tokens)
    assert outs[0] == outs[2] and outs[1] == outs[3]


def test_rebuilt_when_weights_change() -> None:
    m = _model()
    dec = fast_decoder_for(m)
    assert isinstance(dec, NativeDecoder) and fast_decoder_for(m) is dec
    with torch.no_grad():
        m.model.layers[2].mlp.experts[1].down_proj.weight.mul_(3.0)
    dec2 = fast_decoder_for(m)
    assert isinstance(dec2, NativeDecoder) and dec2 is not dec
    _compare(m, 2)


@pytest.mark.parametrize("token", [-1, 128])
def test_out_of_vocabulary_token_is_rejected(token: int) -> None:
    m = _model()
    cache = m.new_cache(2, 8)
    m(torch.tensor([[1, 2], [3, 4]]), start_pos=0, cache=cache)
    with pytest.raises(ValueError, match=f"token id {token} outside the vocabulary"):
        _native(m).step([5, token], 2, cache)


def test_cache_it_cannot_read_is_rejected() -> None:
    m = _model()
    cache = m.new_cache(1, 8)
    cache.buffers = (cache.buffers[0].double(),)
    with pytest.raises(ValueError, match="contiguous float32 CPU cache"):
        _native(m).step([5], 0, cache)


@pytest.mark.parametrize("batch", [1, 3, 9])
def test_int4_experts_run_in_the_c_step_and_match_the_int4_model(batch: int) -> None:
    m = _model(moe_intermediate_size=32)
    assert convert_experts_to_int4(m) > 0
    assert isinstance(fast_decoder_for(m), NativeDecoder)
    _compare(m, batch)


def test_int4_panels_hold_each_value_and_scale_where_the_c_step_reads_them() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randint(-8, 8, (64, 40), generator=g, dtype=torch.int8)  # n: a panel and a bit
    s = torch.rand(2, 40, generator=g)
    qp, sp = pack_int4_panels(q, s)
    assert qp.shape == (2, 64, 16) and qp.dtype == torch.uint8 and sp.shape == (2, 2, 32)
    for k, n in ((0, 0), (5, 17), (63, 31), (10, 33), (40, 39)):
        byte = int(qp[n // 32, k, n % 16])
        nibble = byte & 15 if n % 32 < 16 else byte >> 4
        assert nibble - 8 == int(q[k, n])
        assert sp[n // 32, k // 32, n % 32] == s[k // 32, n]
    assert int(qp[1, 0, 15]) == 0 and float(sp[1, 0, 31]) == 0.0  # padding


def test_builds_once_into_the_cache_dir(lib_env: Path) -> None:
    assert build.load_library() is not None
    built = list((lib_env / "cache" / "native").glob("decode_step-*.so"))
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    build.load_library.cache_clear()
    assert build.load_library() is not None  # a new process would load, not rebuild
    assert built[0].stat().st_mtime_ns == mtime


def test_disabled_by_environment(lib_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKACT_NATIVE", "0")
    assert build.load_library() is None
    assert isinstance(fast_decoder_for(_model()), FastDecoder)


def test_failed_build_falls_back_with_a_warning(
    lib_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cc = lib_env / "broken-cc"
    cc.write_text("#!/bin/sh\necho 'broken-cc: cannot compile today' >&2\nexit 1\n")
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(cc))
    with caplog.at_level(logging.WARNING, logger="thinkact.model.native.build"):
        assert build.load_library() is None
    assert "cannot compile today" in caplog.text
    assert not list((lib_env / "cache" / "native").glob("*"))  # no half-written library
    assert isinstance(fast_decoder_for(_model()), FastDecoder)


def test_unwritable_cache_dir_falls_back(
    lib_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = lib_env / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("THINKACT_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.WARNING, logger="thinkact.model.native.build"):
        assert build.load_library() is None
    assert "cannot write" in caplog.text


def test_missing_compiler_falls_back(lib_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", os.path.join(str(lib_env), "no-such-cc"))
    assert build.compiler() is None and build.load_library() is None
