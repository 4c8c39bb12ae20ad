"""Rotary embedding with YaRN, in the layouts DeepSeek/K2 checkpoints use.

Checkpoints store the rope slice of q / k_pe as interleaved pairs (x0,x1),(x2,x3),… . Like HF with
``rope_interleave=True`` we rotate evens/odds and emit [rotated evens ‖ rotated odds]; the same
permutation hits q and k, so q·k equals the reference's complex-pair rotation.
"""

from __future__ import annotations

import math

import torch

from thinkact.model.config import K2Config


def yarn_inv_freq(cfg: K2Config) -> torch.Tensor:
    """Inverse frequencies [rope_dim/2] in fp32, YaRN-corrected whenever rope type is yarn."""
    dim = cfg.qk_rope_head_dim
    base = cfg.rope_theta
    pos_freqs = base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    extrapolation = 1.0 / pos_freqs
    rs = cfg.rope_scaling
    if rs is None:
        return extrapolation
    factor = cfg.rope_factor()
    interpolation = 1.0 / (factor * pos_freqs)

    def correction_dim(rotations: float) -> float:
        orig = rs.original_max_position_embeddings
        return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(rs.beta_fast), correction_dim(rs.beta_slow)
    if rs.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    # ramp 0 (fast-rotating dims) keeps the original frequency, ramp 1 divides it by `factor`.
    return interpolation * ramp + extrapolation * (1 - ramp)


class RopeTable:
    """cos/sin per absolute position, grown on demand (never a module buffer: nothing to save)."""

    def __init__(self, cfg: K2Config) -> None:
        self.inv_freq = yarn_inv_freq(cfg)
        self.scale = cfg.rope_attention_factor()
        self.interleave = cfg.rope_interleave
        # One table per (device, dtype), so callers in different dtypes never thrash it.
        self._tables: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    def _table(self, end: int, device: torch.device, dtype: torch.dtype
               ) -> tuple[torch.Tensor, ...]:
        key = (torch.device(device), dtype)
        table = self._tables.get(key)
        if table is None or table[0].shape[0] < end:
            have = 0 if table is None else table[0].shape[0]
            n = max(end, 2 * have, 256)
            # Ordinary tensors even when grown under inference_mode (generation during a
            # training run's eval), so a later training forward may save them for backward.
            with torch.inference_mode(False):
                pos = torch.arange(n, dtype=torch.float32, device=device)
                freqs = pos[:, None] * self.inv_freq.to(device)[None, :]
                cos, sin = freqs.cos() * self.scale, freqs.sin() * self.scale
                table = (cos.to(dtype), sin.to(dtype), torch.complex(cos, sin))
            self._tables[key] = table
        return table

    def get(
        self, start: int, length: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape [length, rope_dim/2] for positions start..start+length-1."""
        cos, sin, _ = self._table(start + length, device, dtype)
        return cos[start:start + length], sin[start:start + length]

    def get_phasors(self, start: int, length: int, device: torch.device,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """complex64 [length, rope_dim/2] for positions start..start+length-1 (any dtype)."""
        phasors = self._table(start + length, device, torch.float32)[2]
        return phasors[start:start + length]


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleave: bool
) -> torch.Tensor:
    """Rotate the last dim of x [..., T, (H,) R]; cos/sin [T, R/2] broadcast over heads by caller.

    interleave=True: input pairs are (x0,x1),(x2,x3)…; output is [evens' ‖ odds'] (HF layout).
    interleave=False: input halves are [x_first ‖ x_second] (rotate-half convention).
    """
    if interleave:
        x1, x2 = x[..., 0::2], x[..., 1::2]
    else:
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def apply_rope_pairs(x: torch.Tensor, phasors: torch.Tensor) -> torch.Tensor:
    """Interleaved-layout rotation as one complex multiply: pairs (x0,x1),(x2,x3)… rotate in place.

    Output stays interleaved (reference layout), a fixed permutation of HF's [evens' ‖ odds'];
    q and k get the same permutation, so attention scores are unchanged. Fewer ops than
    ``apply_rope`` (decode is op-overhead bound).
    """
    xf = x if x.dtype == torch.float32 else x.float()
    out = torch.view_as_real(torch.view_as_complex(xf.reshape(*x.shape[:-1], -1, 2)) * phasors)
    return out.flatten(-2) if x.dtype == torch.float32 else out.flatten(-2).to(x.dtype)
