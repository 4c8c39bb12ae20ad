"""Symmetric group INT4 weights in the compressed-tensors ``pack-quantized`` layout.

K2 Thinking ships its routed experts as weight-only INT4 (W4A16): per Linear ``P`` the
checkpoint holds ``P.weight_packed`` (int32 [out, in/8]), ``P.weight_scale`` ([out, in/g],
model dtype) and ``P.weight_shape`` (int64 [2]). This module is the math:

* :func:`pack_int4` / :func:`unpack_int4`: int4 values in [-8, 7] are offset by +8 and packed
  8 per int32 along the input dimension, least-significant nibble first (the worked example
  row [-8,-7,0,1,2,3,6,7] packs to 0xFEBA9810). Bit-identical to compressed-tensors'
  ``pack_to_int32`` / ``unpack_from_int32`` for 4 bits.
* :func:`compute_scales`: per (row, group of ``group_size`` input columns) scale. Default rule
  ``"absmax/7.5"`` is compressed-tensors' ``calculate_qparams`` (min/max clamped to include 0,
  then max(|min|, |max|) / (15 / 2)); ``"absmax/7"`` is the alternative (Moonshot's own QAT
  convention is unconfirmed, so it is a choice, not a constant).
* :func:`quantize_int4` / :func:`dequantize_int4`: q = clamp(round(w / s), -8, 7), w = q * s.
* :class:`Int4Linear`: a drop-in for the experts' ``nn.Linear`` that keeps only the packed
  weights and dequantizes on the fly; an optional :class:`DequantCache` keeps the dequantized
  weights of recently used ("hot") experts to trade memory for speed.
"""

from __future__ import annotations

import itertools
import sys
from collections import OrderedDict
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from thinkact.model.quant_config import DEFAULT_GROUP_SIZE

ScaleRule = Literal["absmax/7.5", "absmax/7"]
SCALE_RULES: dict[str, float] = {"absmax/7.5": 7.5, "absmax/7": 7.0}
_Q_MIN, _Q_MAX = -8, 7
_SHIFTS = torch.arange(0, 32, 4, dtype=torch.int32)  # nibble j sits at bits [4j, 4j+4)
_KEYS = itertools.count()  # DequantCache keys: unique per module, never reused like id()


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Pack int8 values in [-8, 7] along the last dim into int32 words (8 per word).

    The last dim is zero-padded (after the +8 offset, as compressed-tensors does) to a
    multiple of 8. Leading dims are kept, so stacked [E, out, in] tensors pack per slice.
    """
    if q.dtype != torch.int8:
        raise ValueError(f"pack_int4 needs int8 values, got {q.dtype}")
    if q.numel() and (int(q.min()) < _Q_MIN or int(q.max()) > _Q_MAX):
        raise ValueError("pack_int4 values must lie in [-8, 7]")
    u = q.to(torch.int32) + 8
    cols = u.shape[-1]
    pad = (-cols) % 8
    if pad:
        u = F.pad(u, (0, pad))
    u = u.reshape(*u.shape[:-1], -1, 8) << _SHIFTS.to(u.device)
    # Nibbles occupy disjoint bits, so a sum equals a bitwise OR (int32 wraps like C).
    return u.sum(dim=-1, dtype=torch.int32)


def unpack_int4(packed: torch.Tensor, cols: int | None = None) -> torch.Tensor:
    """Inverse of :func:`pack_int4`: int32 [..., w] -> int8 [..., cols] in [-8, 7].

    Works on the words' bytes (low nibble first, bytes in little-endian order), which needs
    about half the elementwise passes of shifting each int32 eight times.
    """
    if packed.dtype != torch.int32:
        raise ValueError(f"unpack_int4 needs int32 words, got {packed.dtype}")
    n = packed.shape[-1] * 8
    cols = n if cols is None else cols
    if not 0 <= cols <= n:
        raise ValueError(f"cannot unpack {cols} columns from {packed.shape[-1]} words")
    b = packed.contiguous().view(torch.uint8)
    if sys.byteorder == "big" and packed.device.type == "cpu":
        b = b.view(*packed.shape, 4).flip(-1).reshape(b.shape)
    q = torch.stack((b & 0xF, b >> 4), dim=-1).view(*packed.shape[:-1], n).view(torch.int8) - 8
    return q[..., :cols]


def _grouped(w: torch.Tensor, group_size: int) -> torch.Tensor:
    cols = w.shape[-1]
    if group_size <= 0 or cols % group_size:
        raise ValueError(
            f"in_features {cols} is not a multiple of group_size {group_size}; "
            "group INT4 needs every quantized Linear's input dim divisible by the group size"
        )
    return w.reshape(*w.shape[:-1], cols // group_size, group_size)


def compute_scales(
    w: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE, rule: ScaleRule = "absmax/7.5"
) -> torch.Tensor:
    """Per-group symmetric scales [..., in/group_size] in ``w``'s dtype.

    Computed in ``w``'s dtype like ``calculate_qparams``; an all-zero group gets the dtype's
    eps instead of 0 so quantization never divides by zero.
    """
    if rule not in SCALE_RULES:
        raise ValueError(f"unknown scale rule {rule!r}; choose one of {sorted(SCALE_RULES)}")
    g = _grouped(w, group_size)
    lo = torch.clamp(g.amin(dim=-1), max=0)
    hi = torch.clamp(g.amax(dim=-1), min=0)
    absmax = torch.maximum(lo.abs(), hi.abs())
    scales = absmax / torch.tensor(SCALE_RULES[rule], dtype=w.dtype)
    eps = torch.finfo(w.dtype).eps
    return torch.where(scales == 0, torch.full_like(scales, eps), scales)


def quantize_int4(
    w: torch.Tensor, scales: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE
) -> torch.Tensor:
    """q = clamp(round(w / scale), -8, 7) as int8, one scale per group of columns."""
    g = _grouped(w, group_size)
    if scales.shape != g.shape[:-1]:
        raise ValueError(f"scales shape {tuple(scales.shape)} != {tuple(g.shape[:-1])}")
    q = torch.round(torch.clamp(g / scales.to(w.dtype).unsqueeze(-1), _Q_MIN, _Q_MAX))
    return q.to(torch.int8).reshape(w.shape)


def dequantize_int4(
    q: torch.Tensor,
    scales: torch.Tensor,
    group_size: int = DEFAULT_GROUP_SIZE,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """w = q * scale, computed in the scale dtype (as compressed-tensors does), then cast."""
    g = _grouped(q, group_size).to(scales.dtype) * scales.unsqueeze(-1)
    out = g.reshape(q.shape)
    return out if dtype is None else out.to(dtype)


def fake_quantize(
    w: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE, rule: ScaleRule = "absmax/7.5"
) -> torch.Tensor:
    """Quantize then dequantize (the weight an INT4 checkpoint of ``w`` will reproduce)."""
    s = compute_scales(w, group_size, rule)
    return dequantize_int4(quantize_int4(w, s, group_size), s, group_size, dtype=w.dtype)


class DequantCache:
    """LRU of dequantized expert weights under a byte budget, shared by many Int4Linears.

    Decoding touches only top-k experts per layer per token, and consecutive tokens often
    reuse them; caching their float weights removes the unpack cost for hot experts while
    memory stays bounded by ``max_bytes``. Entries are not invalidated when a module's packed
    weights change: call :meth:`clear` after loading new weights.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[int, torch.Tensor] = OrderedDict()

    def get(self, key: int) -> torch.Tensor | None:
        w = self._items.get(key)
        if w is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return w

    def put(self, key: int, w: torch.Tensor) -> None:
        size = w.numel() * w.element_size()
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old.numel() * old.element_size()
        while self._items and self.bytes + size > self.max_bytes:
            _, ev = self._items.popitem(last=False)
            self.bytes -= ev.numel() * ev.element_size()
        self._items[key] = w
        self.bytes += size

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class Int4Linear(nn.Module):
    """Bias-free Linear whose weight lives as packed INT4 + group scales.

    Buffers use the checkpoint names, so ``state_dict()`` is exactly the compressed-tensors
    triple ``weight_packed`` / ``weight_scale`` / ``weight_shape``. ``forward`` unpacks and
    dequantizes the weight every call (cache-free path) unless ``cache`` is set.
    """

    weight_packed: torch.Tensor
    weight_scale: torch.Tensor
    weight_shape: torch.Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        group_size: int = DEFAULT_GROUP_SIZE,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if in_features % group_size:
            raise ValueError(
                f"in_features {in_features} must be a multiple of group_size {group_size}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.group_size = group_size
        self.cache: DequantCache | None = None
        self._cache_key = next(_KEYS)
        words = (in_features + 7) // 8
        self.register_buffer(
            "weight_packed", torch.zeros(out_features, words, dtype=torch.int32, device=device)
        )
        self.register_buffer(
            "weight_scale",
            torch.ones(out_features, in_features // group_size, dtype=dtype, device=device),
        )
        self.register_buffer(
            "weight_shape",
            torch.tensor([out_features, in_features], dtype=torch.int64, device=device),
        )

    @classmethod
    def from_float(
        cls,
        weight: torch.Tensor,
        group_size: int = DEFAULT_GROUP_SIZE,
        rule: ScaleRule = "absmax/7.5",
    ) -> Int4Linear:
        """Quantize a float [out, in] weight into a new module (scales in its dtype)."""
        out_f, in_f = weight.shape
        mod = cls(in_f, out_f, group_size, dtype=weight.dtype, device=weight.device)
        w = weight.detach()
        s = compute_scales(w, group_size, rule)
        mod.weight_packed.copy_(pack_int4(quantize_int4(w, s, group_size)))
        mod.weight_scale.copy_(s)
        return mod

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The float weight [out, in] this module computes with."""
        q = unpack_int4(self.weight_packed, self.in_features)
        return dequantize_int4(q, self.weight_scale, self.group_size, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cache = self.cache
        if cache is None:
            return F.linear(x, self.dequantized_weight(x.dtype))
        key = self._cache_key
        w = cache.get(key)
        if w is None or w.dtype != x.dtype:
            w = self.dequantized_weight(x.dtype)
            cache.put(key, w)
        return F.linear(x, w)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"group_size={self.group_size}, scale_dtype={self.weight_scale.dtype}"
        )

