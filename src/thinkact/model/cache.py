"""Preallocated KV cache for MLA, in latent (absorb) or expanded per-head (naive) form.

Buffers are allocated once for (max_batch, max_seq) and written in place at absolute positions,
so a decode step does no allocation and no per-layer bookkeeping beyond two slice copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from thinkact.model.config import K2Config

AttnImpl = Literal["absorb", "naive"]


class KVCache:
    """Per-layer cache buffers, shaped [layers, batch, max_seq, ...].

    absorb: one buffer [L, B, S, kv_lora_rank + qk_rope_head_dim] holding the normalized latent
    followed by the rotated shared rope key (576 values per token-layer for K2).
    naive:  k [L, B, S, H, qk_head_dim] and v [L, B, S, H, v_head_dim].

    ``length`` is the highest position written so far (the model writes positions
    start_pos..start_pos+T-1 for every row; callers own start_pos).
    """

    def __init__(self, buffers: tuple[torch.Tensor, ...], mode: AttnImpl, length: int = 0) -> None:
        self.buffers = buffers
        self.mode: AttnImpl = mode
        self.length = length
        # Per-layer views built once so the forward pass indexes a list, not a tensor.
        self.layers: list[tuple[torch.Tensor, ...]] = [
            tuple(b[i] for b in buffers) for i in range(buffers[0].shape[0])
        ]
        self._row0: list[torch.Tensor] | None = None

    def row0_layers(self) -> list[torch.Tensor]:
        """Per-layer views of row 0 of the first buffer ([max_seq, ...] each), built once: a
        batch-1 decode step then slices them directly (one op fewer per access)."""
        if self._row0 is None:
            self._row0 = [layer[0][0] for layer in self.layers]
        return self._row0

    @classmethod
    def allocate(
        cls,
        cfg: K2Config,
        batch_size: int,
        max_seq_len: int,
        mode: AttnImpl = "absorb",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> KVCache:
        if batch_size < 1 or max_seq_len < 1:
            raise ValueError(f"cache needs batch_size >= 1 and max_seq_len >= 1, got "
                             f"{batch_size}, {max_seq_len}")
        lead = (cfg.num_hidden_layers, batch_size, max_seq_len)
        kw: dict[str, Any] = {"dtype": dtype, "device": device}
        if mode == "absorb":
            bufs: tuple[torch.Tensor, ...] = (
                torch.zeros(*lead, cfg.kv_lora_rank + cfg.qk_rope_head_dim, **kw),
            )
        elif mode == "naive":
            h = cfg.num_attention_heads
            bufs = (
                torch.zeros(*lead, h, cfg.qk_head_dim, **kw),
                torch.zeros(*lead, h, cfg.v_head_dim, **kw),
            )
        else:
            raise ValueError(f"unknown attention mode {mode!r} (absorb or naive)")
        return cls(bufs, mode)

    @property
    def batch_size(self) -> int:
        return self.buffers[0].shape[1]

    @property
    def max_seq_len(self) -> int:
        return self.buffers[0].shape[2]

    @property
    def dtype(self) -> torch.dtype:
        return self.buffers[0].dtype

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers)

    def select(self, rows: Sequence[int] | torch.Tensor) -> KVCache:
        """A new cache holding the given rows, in that order (drop finished rows, reorder beams)."""
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.buffers[0].device)
        return KVCache(tuple(b.index_select(1, idx) for b in self.buffers), self.mode, self.length)

    def expand(self, n: int, row: int = 0) -> KVCache:
        """A new cache with ``n`` copies of ``row``: prefill once, then sample n continuations."""
        return self.select([row] * n)

    def copy_prefix(self, other: KVCache, n: int) -> None:
        """Hold ``other``'s first ``n`` positions (every row), e.g. a shared prompt prefix."""
        for mine, theirs in zip(self.buffers, other.buffers, strict=True):
            mine[:, :, :n].copy_(theirs[:, :, :n])
        self.length = n

    def reset(self) -> None:
        self.length = 0
