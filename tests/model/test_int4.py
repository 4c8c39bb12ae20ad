"""INT4 math against compressed-tensors 0.20.1 (the library that defines the format)."""

from __future__ import annotations

import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32
from compressed_tensors.quantization import QuantizationArgs
from compressed_tensors.quantization.lifecycle.forward import dequantize, quantize
from compressed_tensors.quantization.utils import calculate_qparams

from thinkact.model.int4 import (
    DequantCache,
    Int4Linear,
    compute_scales,
    dequantize_int4,
    fake_quantize,
    pack_int4,
    quantize_int4,
    unpack_int4,
)

pytestmark = pytest.mark.torch

SHAPES = [(1, 8), (3, 32), (64, 256), (17, 96), (5, 13), (128, 1024)]


def _rand_q(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 8, shape, generator=g, dtype=torch.int8)


def _ct_args(group_size: int = 32) -> QuantizationArgs:
    return QuantizationArgs(
        num_bits=4, type="int", symmetric=True, strategy="group", group_size=group_size
    )


def test_worked_example() -> None:
    row = torch.tensor([[-8, -7, 0, 1, 2, 3, 6, 7]], dtype=torch.int8)
    word = pack_int4(row)
    assert word.dtype == torch.int32 and word.shape == (1, 1)
    assert int(word.item()) & 0xFFFFFFFF == 0xFEBA9810
    assert int(word.item()) == -21325808
    assert torch.equal(unpack_int4(word, 8), row)


@pytest.mark.parametrize("shape", SHAPES)
def test_pack_matches_compressed_tensors(shape: tuple[int, int]) -> None:
    q = _rand_q(shape, seed=shape[0] * 1000 + shape[1])
    ours = pack_int4(q)
    theirs = pack_to_int32(q, 4)
    assert ours.dtype == theirs.dtype == torch.int32
    assert torch.equal(ours, theirs)
    assert torch.equal(unpack_int4(theirs, shape[1]), q)
    assert torch.equal(unpack_from_int32(ours, 4, torch.Size(shape)), q)


def test_pack_3d_stacked_experts() -> None:
    q = _rand_q((4, 16, 64), seed=7)
    assert torch.equal(pack_int4(q), pack_to_int32(q, 4))
    assert torch.equal(unpack_int4(pack_int4(q), 64), q)


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="int8"):
        pack_int4(torch.zeros(2, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4(torch.full((1, 8), 9, dtype=torch.int8))
    with pytest.raises(ValueError, match="int32"):
        unpack_int4(torch.zeros(2, 1, dtype=torch.int64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("group_size", [32, 128])
def test_scales_and_quantize_match_compressed_tensors(dtype: torch.dtype, group_size: int) -> None:
    g = torch.Generator().manual_seed(group_size)
    w = (torch.randn(48, 256, generator=g) * 0.05).to(dtype)
    w[3, :group_size] = 0.0  # an all-zero group exercises the eps guard
    w[5, :group_size] = torch.rand(group_size, generator=g).to(dtype)  # all-positive group
    args = _ct_args(group_size)
    grouped = w.reshape(48, -1, group_size)
    ct_scale, ct_zp = calculate_qparams(grouped.amin(-1), grouped.amax(-1), args)
    ours = compute_scales(w, group_size)
    assert ours.dtype == dtype and ours.shape == (48, 256 // group_size)
    assert torch.equal(ours, ct_scale)
    assert torch.all(ct_zp == 0)

    q = quantize_int4(w, ours, group_size)
    ct_q = quantize(w, ct_scale, ct_zp, args, dtype=torch.int8)
    assert torch.equal(q, ct_q)
    deq = dequantize_int4(q, ours, group_size)
    ct_deq = dequantize(ct_q, ct_scale, ct_zp, args)
    assert torch.equal(deq, ct_deq.to(deq.dtype))


def test_absmax_over_7_rule_is_configurable() -> None:
    w = torch.tensor([[0.7] + [0.0] * 31, [-1.4] + [0.1] * 31])
    assert torch.allclose(
        compute_scales(w, 32, "absmax/7.5"), torch.tensor([[0.7 / 7.5], [1.4 / 7.5]])
    )
    s7 = compute_scales(w, 32, "absmax/7")
    assert torch.allclose(s7, torch.tensor([[0.1], [0.2]]))
    q = quantize_int4(w, s7, 32)
    assert q[0, 0] == 7 and q[1, 0] == -7  # absmax/7 maps the extreme to ±7, never -8
    with pytest.raises(ValueError, match="scale rule"):
        compute_scales(w, 32, "absmax/8")  # type: ignore[arg-type]


def test_group_size_must_divide() -> None:
    with pytest.raises(ValueError, match="multiple of group_size"):
        compute_scales(torch.randn(4, 48), 32)


def test_fake_quantize_error_bounded() -> None:
    w = torch.randn(32, 128, generator=torch.Generator().manual_seed(1))
    s = compute_scales(w, 32)
    err = (fake_quantize(w) - w).abs().reshape(32, 4, 32)
    assert torch.all(err <= s.unsqueeze(-1) / 2 + 1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int4_linear_forward_and_state_dict(dtype: torch.dtype) -> None:
    w = torch.randn(40, 64, generator=torch.Generator().manual_seed(3)).to(dtype)
    mod = Int4Linear.from_float(w, group_size=32)
    sd = mod.state_dict()
    assert set(sd) == {"weight_packed", "weight_scale", "weight_shape"}
    assert sd["weight_packed"].shape == (40, 8) and sd["weight_packed"].dtype == torch.int32
    assert sd["weight_scale"].shape == (40, 2) and sd["weight_scale"].dtype == dtype
    assert sd["weight_shape"].tolist() == [40, 64] and sd["weight_shape"].dtype == torch.int64
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(4)).to(dtype)
    ref = torch.nn.functional.linear(x, fake_quantize(w))
    assert torch.allclose(mod(x), ref, atol=1e-2 if dtype == torch.bfloat16 else 1e-6)

    other = Int4Linear(64, 40, dtype=dtype)
    other.load_state_dict(sd)
    assert torch.equal(other(x), mod(x))


def test_dequant_cache_hits_and_budget() -> None:
    a = Int4Linear.from_float(torch.randn(32, 64))
    b = Int4Linear.from_float(torch.randn(32, 64))
    one = 32 * 64 * 4
    cache = DequantCache(max_bytes=one)  # room for one expert weight only
    a.cache = b.cache = cache
    x = torch.randn(2, 64)
    ya = a(x)
    assert cache.misses == 1 and cache.hits == 0
    assert torch.equal(a(x), ya) and cache.hits == 1
    b(x)
    assert cache.bytes == one  # b evicted a
    a(x)
    assert cache.misses == 3
    a.cache = None
    assert torch.equal(a(x), ya)
