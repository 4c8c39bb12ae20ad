"""A fused single-token decode step for K2ForCausalLM: same math, far fewer eager ops.

At the sizes thinkact runs on CPU (tens of millions of parameters) a decode step is bound by
per-op dispatch overhead as much as by memory bandwidth, so this path dispatches far fewer
and cheaper aten ops per token than the module-by-module forward (figures: docs/performance.md),
by preparing weights once (:mod:`thinkact.model.fast_layers`):

* ``q_a_proj`` and ``kv_a_proj_with_mqa`` read the same input: one matrix; so do the shared
  expert's gate/up and the router (n_group 1, fp32): one matmul gives both.
* W_UK and the softmax scale are folded into ``q_b_proj`` (per head W_UKᵀ·W_QB), so the query
  comes out directly in latent space: no per-layer einsum/cat.
* RoPE is a linear map: one [C, C] block matrix per position (identity on the latent part,
  the model's own rotation on the rope part, obtained by rotating an identity matrix) rotates
  queries and the new cache entry with one matmul each.
* weights are stored transposed ([in, out], contiguous) because ``mm(x, Wᵀ)`` streams cold
  weights faster than ``F.linear(x, W)`` for batch-1 CPU shapes (lm_head included);
  residual adds ride on ``addmm``; gate and up are one matrix per expert, split with
  ``unsafe_chunk`` and multiplied in place.
* RMSNorm (fp32) is computed as ``layer_norm([x, -x])[:d]``: the mean of [x, -x] is 0 and its
  variance is mean(x²), so it equals RMSNorm, and on CPU it is cheaper than ``rms_norm``.
* batch 1 attends on each layer's [S, C] cache row with 2-D matmuls and writes the new entry
  with ``mm(out=)``; several rows read the lm_head as contiguous column blocks under one
  ``bmm`` (MKL's small-M GEMM reads a wide matrix in strided panels).
* routing is the model router's own rule (``Router.choose``) on the merged logits; each
  chosen expert is then ``mm, chunk, silu, mul, addmm`` on its row.
  With a few rows an expert chosen by several rows runs once on all of them; with more rows
  (``stacked_min_fill``) the (row, expert) slots are sorted by expert and run as two grouped
  matmuls over the stacked experts. Group-limited routers use the model's router.

It writes the model's KV cache (absorb layout) exactly as the model would, so prefill by the
model and decode by this path mix freely. The prepared weights are transposed copies (about
one extra model's worth of memory: right for the small models decoded on CPU; pass
``Session(..., fast=False)`` for big ones) and go stale if the model's weights change:
:meth:`FastDecoder.stale` detects that. INT4 routed experts (``int4_mode``): "int8" (default)
unpacks them once to int8 values (1 byte/weight, still 4x under fp32) and dequantizes a chosen
expert with one multiply by its group scales; "module" calls the model's own
:class:`~thinkact.model.int4.Int4Linear` modules (packed weights only, unpacked per call or
served from a DequantCache). Routing, shared experts and attention stay fused either way.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from thinkact.model.fast_layers import (
    FusedNorm,
    ParamWatch,
    PreparedLayer,
    RopeRotations,
    check_rows,
    check_step,
    swiglu_add,
    transposed,
)
from thinkact.model.model import dispatch


def supports(model: Any) -> bool:
    """True when :class:`FastDecoder` can run ``model`` (absorb attention, no attention bias)."""
    cfg = getattr(model, "config", None)
    return (
        cfg is not None
        and getattr(model, "attn_impl", None) == "absorb"
        and not cfg.attention_bias
        and cfg.hidden_act == "silu"
        and hasattr(model, "model")
        and hasattr(model, "rope")
    )


class FastDecoder:
    """``step(tokens, pos, cache) -> logits [B, V]``: one token per row, all rows at ``pos``."""

    def __init__(
        self,
        model: Any,
        stacked_min_fill: float = 1.0,
        int4_mode: str = "int8",
        lm_block: int = 256,
    ) -> None:
        if not supports(model):
            raise ValueError("FastDecoder needs a K2ForCausalLM with attn_impl='absorb'")
        cfg = model.config
        # No reference to the model itself: decoders are cached per model in a weak map.
        self._watch = ParamWatch(model)
        # Several rows: sort slots by expert and run two grouped matmuls over the stacked
        # experts once the slots (rows x top-k) reach ``stacked_min_fill`` x the expert count;
        # fewer slots run one by one.
        self.stacked_min_fill = stacked_min_fill
        with torch.no_grad():
            self.layers = [PreparedLayer(layer, int4_mode) for layer in model.model.layers]
            self.embed = model.model.embed_tokens.weight.detach()
            self.final_norm = FusedNorm(model.model.norm)
            self.lm_head = model.lm_head.weight.detach()
        self.top_k = cfg.num_experts_per_tok
        self.kv, self.rope_dim = cfg.kv_lora_rank, cfg.qk_rope_head_dim
        self.dtype = self.lm_head.dtype
        # [H, V]: at one row ``mm`` streams it faster than F.linear on [V, H] (cold weights;
        # docs/performance.md); several rows use column blocks (below).
        self.lm_head_t = transposed(self.lm_head)
        self._lm_blocks: torch.Tensor | None = None
        self.lm_block = lm_block
        self.device = self.lm_head.device
        self._rot = RopeRotations(model, self.dtype, self.device)
        self._block = torch.eye(self.kv + self.rope_dim, dtype=self.dtype, device=self.device)
        self._block_rope = self._block[self.kv :, self.kv :]  # rewritten per position

    def stale(self, model: nn.Module) -> bool:
        """True if ``model``'s parameters were replaced or changed in place since build."""
        return self._watch.stale(model)

    def _rotation(self, pos: int) -> torch.Tensor:
        """[C, C] block matrix: identity on the latent, the model's rope at ``pos``."""
        self._block_rope.copy_(self._rot.at(pos))
        return self._block

    @torch.inference_mode()
    def step(self, tokens: list[int] | torch.Tensor, pos: int, cache: Any) -> torch.Tensor:
        b = check_step("FastDecoder", tokens, pos, cache)
        block = self._rotation(pos)
        if b == 1 and isinstance(tokens, list):
            t = tokens[0]
            if not 0 <= t < self.embed.shape[0]:
                raise ValueError(f"token id {t} outside the vocabulary [0, {self.embed.shape[0]})")
            x = self.embed[t : t + 1]  # a view: only read (addmm input)
        else:
            x = F.embedding(torch.as_tensor(tokens, device=self.device), self.embed)
        # Batch 1: the attention works on each layer's [S, C] row view (fewer view ops).
        bufs = cache.row0_layers() if b == 1 else [buf for buf, in cache.layers]
        for lay, buf in zip(self.layers, bufs, strict=True):
            x = self._attention(lay, x, buf, block, pos)
            x = self._ffn(lay, x)
        cache.length = max(cache.length, pos + 1)
        return self.logits(self.final_norm(x))

    def logits(self, hn: torch.Tensor) -> torch.Tensor:
        """lm_head on final-normed rows [B, H] -> [B, V]. Several rows: MKL's small-M GEMM
        reads a wide [H, V] matrix in strided panels; as contiguous [V/nb, H, nb] column
        blocks under one ``bmm`` it streams faster (docs/performance.md)."""
        vocab, nb = self.lm_head.shape[0], self.lm_block
        if hn.shape[0] == 1 or vocab % nb:
            return torch.mm(hn, self.lm_head_t)
        if self._lm_blocks is None:
            w = self.lm_head.view(vocab // nb, nb, -1)
            self._lm_blocks = w.transpose(1, 2).contiguous()  # [V/nb, H, nb]
        blocks = self._lm_blocks
        out = torch.bmm(hn.expand(blocks.shape[0], -1, -1), blocks)  # [V/nb, B, nb]
        return out.transpose(0, 1).reshape(hn.shape[0], vocab)

    def _attention(
        self, lay: PreparedLayer, x: torch.Tensor, buf: torch.Tensor, block: torch.Tensor, pos: int
    ) -> torch.Tensor:
        b, kv, h = x.shape[0], lay.kv, lay.h
        entry, q = self._project(lay, x)
        if b == 1:  # one row: buf is its [S, C] cache; 2-D matmuls, fewer view ops
            return torch.addmm(x, self._attend_row(lay, entry, q, buf, block, pos), lay.w_o)
        buf.select(1, pos).copy_(torch.mm(entry, block))
        keys = buf.narrow(1, 0, pos + 1)  # [B, S, C]
        qc = torch.mm(q.view(b * h, -1), block).view(b, h, -1)
        p = torch.softmax(torch.bmm(qc, keys.transpose(1, 2)), dim=-1, dtype=torch.float32)
        if p.dtype != x.dtype:
            p = p.to(x.dtype)
        o_lat = torch.bmm(p, keys[..., :kv])  # [B, h, kv]
        o = torch.bmm(o_lat.transpose(0, 1), lay.w_uv).transpose(0, 1).reshape(b, h * lay.v)
        return torch.addmm(x, o, lay.w_o)

    @staticmethod
    def _project(lay: PreparedLayer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(new cache entries [B, C] before rope, latent queries [B, h * C]) of rows x."""
        hn = lay.in_norm(x)
        a = torch.mm(hn, lay.w_a)
        if lay.q_norm is not None:
            cq, lat, kpe = a.split([lay.q_rank, lay.kv, lay.rope], dim=-1)
            q = torch.mm(lay.q_norm(cq), lay.w_q)
        else:
            lat, kpe = a.split([lay.kv, lay.rope], dim=-1)
            q = torch.mm(hn, lay.w_q)
        return torch.cat([lay.kv_norm(lat), kpe], dim=-1), q

    @staticmethod
    def _attend_row(lay: PreparedLayer, entry: torch.Tensor, q: torch.Tensor, buf: torch.Tensor,
                    block: torch.Tensor, pos: int) -> torch.Tensor:
        """One row's attention on its own [S, C] cache ``buf``: writes the rotated ``entry``
        at ``pos``, returns the heads' output [1, h * v] (before ``w_o``)."""
        h = lay.h
        if buf.dtype == entry.dtype:
            torch.mm(entry, block, out=buf[pos : pos + 1])
        else:  # a cache in another dtype than the weights: cast on the copy
            buf[pos : pos + 1].copy_(torch.mm(entry, block))
        keys1 = buf[: pos + 1]
        qc1 = torch.mm(q.view(h, -1), block)  # [h, C]
        p1 = torch.softmax(torch.mm(qc1, keys1.t()), dim=-1, dtype=torch.float32)
        if p1.dtype != entry.dtype:
            p1 = p1.to(entry.dtype)
        o_lat1 = torch.mm(p1, keys1).unsqueeze(1)  # [h, 1, C]: rope part meets zero rows
        return torch.bmm(o_lat1, lay.w_uv_pad).view(1, h * lay.v)

    @torch.inference_mode()
    def step_rows(self, tokens: list[int], positions: list[int], caches: list[Any]
                  ) -> torch.Tensor:
        """One token for each of several batch-1 caches, row b at ``positions[b]`` of
        ``caches[b]``: attention row by row on its own cache, everything else (projections,
        experts, lm_head) on all rows together; logits [B, V]."""
        check_rows("FastDecoder", tokens, positions, caches)
        for t in tokens:
            if not 0 <= t < self.embed.shape[0]:
                raise ValueError(f"token id {t} outside the vocabulary [0, {self.embed.shape[0]})")
        x = F.embedding(torch.as_tensor(tokens, device=self.device), self.embed)
        blocks = [self._rotation(p).clone() for p in positions]
        rows = [c.row0_layers() for c in caches]
        for li, lay in enumerate(self.layers):
            entry, q = self._project(lay, x)
            o = torch.cat([self._attend_row(lay, entry[i : i + 1], q[i : i + 1], r[li], blk, p)
                           for i, (r, blk, p) in enumerate(zip(rows, blocks, positions,
                                                               strict=True))])
            x = self._ffn(lay, torch.addmm(x, o, lay.w_o))
        for c, p in zip(caches, positions, strict=True):
            c.length = max(c.length, p + 1)
        return self.logits(self.final_norm(x))

    def _ffn(self, lay: PreparedLayer, x: torch.Tensor) -> torch.Tensor:
        hn = lay.post_norm(x)
        if not lay.moe:
            return swiglu_add(x, hn, *lay.dense)
        b = x.shape[0]
        logits: torch.Tensor | None = None  # router logits, when merged with the shared mm
        if lay.shared_router is not None and lay.shared is not None:
            g, u, logits = torch.mm(hn, lay.shared_router).split(lay.shared_split, dim=-1)
            x = torch.addmm(x, F.silu(g).mul_(u), lay.shared[1])
        elif lay.shared is not None:
            x = swiglu_add(x, hn, *lay.shared)
        if b == 1 and lay.lean_router:
            for e, w in self._route(lay, hn, logits)[0]:
                ws = lay.weights_of(e)
                if ws is None:
                    x = torch.add(x, lay.expert(e, hn), alpha=w)
                else:
                    x = swiglu_add(x, hn, ws[0], ws[1], w)
            return x
        if lay.stackable and b * self.top_k >= self.stacked_min_fill * lay.n_experts:
            routed = self._route_t(lay, hn, logits) if lay.lean_router else lay.router(hn)
            return self._stacked(lay, x, hn, *routed)
        if lay.lean_router:
            return self._by_slot(lay, x, hn, logits)
        weights, idx = lay.router(hn)
        return dispatch(hn, weights, idx, lay.expert, out=x)  # x is this step's own tensor

    @staticmethod
    def _stacked(
        lay: PreparedLayer,
        x: torch.Tensor,
        hn: torch.Tensor,
        weights: torch.Tensor,
        idx: torch.Tensor,
    ) -> torch.Tensor:
        """Many rows: slots sorted by expert, then two grouped matmuls over the stacked experts
        (each expert multiplies its slice of rows, looped in C++). ~15 ops whatever the batch,
        and only the chosen experts are read: at 8 rows the step is bound by weight reads, so
        this beats running all experts densely or in padded buckets (~1.6x the bytes)."""
        k = idx.shape[1]
        e_of = idx.flatten()
        order = e_of.argsort(stable=True)
        offs = torch.bincount(e_of, minlength=lay.n_experts).cumsum(0).to(torch.int32)
        rows = order.div(k, rounding_mode="floor")
        g, u = torch._grouped_mm(hn.index_select(0, rows), lay.e_gu, offs=offs).chunk(2, dim=-1)
        act = F.silu(g) * u * weights.flatten()[order].unsqueeze(1).to(x.dtype)
        return x.index_add_(0, rows, torch._grouped_mm(act, lay.e_down, offs=offs))

    @staticmethod
    def _route(
        lay: PreparedLayer, hn: torch.Tensor, logits: torch.Tensor | None = None
    ) -> list[list[tuple[int, float]]]:
        """The model router's choice (n_group 1) per row, as (expert, weight) Python floats."""
        weights, idx = FastDecoder._route_t(lay, hn, logits)
        return [list(zip(row, ws, strict=True))
                for row, ws in zip(idx.tolist(), weights.tolist(), strict=True)]

    @staticmethod
    def _route_t(
        lay: PreparedLayer, hn: torch.Tensor, logits: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model router's choice (n_group 1) on tensors: (weights [N, k], experts [N, k]).
        ``logits``: the router's fp32 logits when already computed (merged matmul)."""
        if logits is None:
            logits = torch.mm(hn if hn.dtype == torch.float32 else hn.float(), lay.router_t)
        return lay.router.choose(logits)

    def _by_slot(
        self,
        lay: PreparedLayer,
        x: torch.Tensor,
        hn: torch.Tensor,
        logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Several rows, routed in Python: an expert chosen by one row costs 7 small ops
        (its output lands with ``addmm_`` on that row of x); one chosen by several rows runs
        once on all of them."""
        groups: dict[int, list[tuple[int, float]]] = {}
        for r, chosen in enumerate(self._route(lay, hn, logits)):
            for e, w in chosen:
                groups.setdefault(e, []).append((r, w))
        for e, slots in groups.items():
            ws = lay.weights_of(e) if len(slots) == 1 else None
            if ws is not None:
                r, w = slots[0]
                g, u = torch.mm(hn.narrow(0, r, 1), ws[0]).unsafe_chunk(2, dim=-1)
                x.narrow(0, r, 1).addmm_(F.silu(g).mul_(u), ws[1], alpha=w)
                continue
            ri = torch.tensor([r for r, _ in slots], device=x.device)
            wt = torch.tensor([[w] for _, w in slots], dtype=x.dtype, device=x.device)
            x.index_add_(0, ri, lay.expert(e, hn.index_select(0, ri)) * wt)
        return x


Decoder = Any  # FastDecoder or NativeDecoder: both have step(tokens, pos, cache) and stale()
_DECODERS: dict[bool, weakref.WeakKeyDictionary[nn.Module, Decoder]] = {
    True: weakref.WeakKeyDictionary(),
    False: weakref.WeakKeyDictionary(),
}


def fast_decoder_for(model: nn.Module, native: bool = True) -> Decoder | None:
    """The (cached) single-token decoder of ``model``, rebuilt when its weights changed:
    the C step (:mod:`thinkact.model.native`) where ``native`` and the model and machine
    allow it, else :class:`FastDecoder`; None if neither supports the model."""
    if not supports(model):
        return None
    cached = _DECODERS[native]
    dec = cached.get(model)
    if dec is None or dec.stale(model):
        from thinkact.model.native.decoder import native_decoder

        dec = (native_decoder(model) if native else None) or FastDecoder(model)
        cached[model] = dec
    return dec
