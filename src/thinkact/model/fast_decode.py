"""A fused single-token decode step for K2ForCausalLM: same math, far fewer eager ops.

At the sizes thinkact runs on CPU (tens of millions of parameters) a decode step is bound by
per-op dispatch overhead (a few µs per op), not by memory bandwidth. The module-by-module
forward costs ~650 aten ops per token; this path does the same computation in ~300 by
preparing fused weights once:

* ``q_a_proj`` and ``kv_a_proj_with_mqa`` read the same input: one matrix.
* W_UK and the softmax scale are folded into ``q_b_proj`` (per head W_UKᵀ·W_QB), so the query
  comes out directly in latent space: no per-layer einsum/cat.
* RoPE is a linear map: one [C, C] block matrix per position (identity on the latent part,
  the model's own rotation on the rope part, obtained by rotating an identity matrix) rotates
  queries and the new cache entry with one matmul each.
* experts' gate and up are stacked ([E·2I, H]) and down transposed ([E·I, H]): one batch-1
  step runs ``linear, split, silu, mul, addmm`` per chosen expert; with many rows, all
  experts run densely as two matmuls with zero weight for unchosen ones (fewer ops than
  dispatching rows to experts; more bytes).
* residual adds ride on ``addmm``.

It writes the model's KV cache (absorb layout) exactly as the model would, so prefill by the
model and decode by this path mix freely. The prepared weights are copies (routed experts
cost ~2x their memory) and go stale if the model's weights change: :meth:`FastDecoder.stale`
detects in-place updates. INT4 expert layers run through the model's own MoE module.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from thinkact.model.int4 import Int4Linear
from thinkact.model.rope import apply_rope, apply_rope_pairs


def _norm(norm: Any) -> tuple[torch.Tensor, float]:
    return norm.weight.detach(), float(norm.eps)


class _Layer:
    """Prepared tensors of one decoder layer."""

    def __init__(self, layer: Any, dense_min_slots: int) -> None:
        attn = layer.self_attn
        h, nope, rope, v, kv = attn.n_heads, attn.nope, attn.rope, attn.v_dim, attn.kv_rank
        self.h, self.kv, self.v = h, kv, v
        self.in_norm = _norm(layer.input_layernorm)
        self.post_norm = _norm(layer.post_attention_layernorm)
        kv_a = attn.kv_a_proj_with_mqa.weight.detach()
        kv_b = attn.kv_b_proj.weight.detach().view(h, nope + v, kv)
        w_uk = kv_b[:, :nope]  # [h, nope, kv]
        if attn.q_proj is not None:
            q_lin, self.q_rank = attn.q_proj.weight.detach(), 0
            self.q_norm: tuple[torch.Tensor, float] | None = None
            self.w_a = kv_a
        else:
            q_lin = attn.q_b_proj.weight.detach()
            self.q_rank = q_lin.shape[1]
            self.q_norm = _norm(attn.q_a_layernorm)
            self.w_a = torch.cat([attn.q_a_proj.weight.detach(), kv_a])
        self.kv_norm = _norm(attn.kv_a_layernorm)
        qh = q_lin.view(h, nope + rope, -1) * attn.scale
        q_lat = torch.matmul(w_uk.transpose(1, 2), qh[:, :nope])  # [h, kv, in]
        self.w_q = torch.cat([q_lat, qh[:, nope:]], dim=1).reshape(h * (kv + rope), -1)
        self.w_uv = kv_b[:, nope:].transpose(1, 2)  # [h, kv, v] view
        self.w_o_t = attn.o_proj.weight.detach().t()  # [h*v, H] view
        mlp = layer.mlp
        self.moe = hasattr(mlp, "experts")
        self.module = mlp
        self.int4 = self.moe and any(isinstance(m, Int4Linear) for m in mlp.modules())
        if not self.moe:
            self.w_gu, self.w_down_t = _stack_mlp(mlp)
            return
        if self.int4:
            return
        self.router = mlp.gate
        self.inter = mlp.experts[0].gate_proj.out_features
        stacks = [_stack_mlp(e) for e in mlp.experts]
        self.e_gu = torch.cat([g for g, _ in stacks])  # [E*2I, H]
        self.e_down_t = torch.cat([d for _, d in stacks])  # [E*I, H]
        self.n_experts = len(stacks)
        self.dense_min_slots = dense_min_slots
        self.shared = _stack_mlp(mlp.shared_experts) if mlp.shared_experts is not None else None


def _stack_mlp(mlp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SwiGLU MLP -> ([gate; up] [2I, H], downᵀ [I, H]) contiguous copies."""
    gu = torch.cat([mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach()])
    return gu, mlp.down_proj.weight.detach().t().contiguous()


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
    """``step(tokens [B], pos, cache) -> logits [B, V]``: one token per row at ``pos``."""

    def __init__(self, model: Any, dense_min_slots: int | None = None) -> None:
        if not supports(model):
            raise ValueError("FastDecoder needs a K2ForCausalLM with attn_impl='absorb'")
        cfg = model.config
        # No reference to the model itself: decoders are cached per model in a weak map.
        self._params = list(model.parameters())
        self._rope = model.rope
        k, e = cfg.num_experts_per_tok, cfg.n_routed_experts
        # Run all experts densely once the chosen slots cover half of them (op count wins).
        slots = dense_min_slots if dense_min_slots is not None else max(e // 2, k + 1)
        with torch.no_grad():
            self.layers = [_Layer(layer, slots) for layer in model.model.layers]
            self.embed = model.model.embed_tokens.weight.detach()
            self.final_norm = _norm(model.model.norm)
            self.lm_head = model.lm_head.weight.detach()
        self.kv, self.rope_dim = cfg.kv_lora_rank, cfg.qk_rope_head_dim
        self.interleave = cfg.rope_interleave
        self.dtype = self.lm_head.dtype
        self._rot = torch.empty(0)
        self._block = torch.eye(self.kv + self.rope_dim, dtype=self.dtype)
        self._versions = self._fingerprint()

    def _fingerprint(self) -> list[tuple[int, int]]:
        return [(p.data_ptr(), p._version) for p in self._params]

    def stale(self, model: nn.Module) -> bool:
        """True if ``model``'s parameters were replaced or changed in place since build."""
        params = list(model.parameters())
        if len(params) != len(self._params) or any(
            a is not b for a, b in zip(params, self._params, strict=True)
        ):
            return True
        return self._fingerprint() != self._versions

    def _rotation(self, pos: int) -> torch.Tensor:
        """[C, C] block matrix: identity on the latent, the model's rope at ``pos``."""
        if self._rot.shape[0] <= pos:
            n = max(2 * self._rot.shape[0], pos + 1, 256)
            eye = torch.eye(self.rope_dim, dtype=torch.float32).expand(n, -1, -1)
            rope = self._rope
            if self.interleave:
                ph = rope.get_phasors(0, n, eye.device, torch.float32).unsqueeze(1)
                rot = apply_rope_pairs(eye, ph)
            else:
                cos, sin = rope.get(0, n, eye.device, torch.float32)
                rot = apply_rope(eye, cos.unsqueeze(1), sin.unsqueeze(1), False)
            self._rot = rot.to(self.dtype).contiguous()  # row i = rope(e_i): x @ rot = rope(x)
        self._block[self.kv :, self.kv :] = self._rot[pos]
        return self._block

    def _rms(self, x: torch.Tensor, nw: tuple[torch.Tensor, float]) -> torch.Tensor:
        w, eps = nw
        if x.dtype == torch.float32 and w.dtype == torch.float32:
            return F.rms_norm(x, (x.shape[-1],), w, eps)
        return w * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, pos: int, cache: Any) -> torch.Tensor:
        b = tokens.shape[0]
        if cache.mode != "absorb" or cache.batch_size != b:
            raise ValueError("FastDecoder.step needs an absorb cache with one row per token")
        if pos >= cache.max_seq_len:
            raise ValueError(f"position {pos} beyond cache max_seq_len {cache.max_seq_len}")
        block = self._rotation(pos)
        at = torch.tensor([pos])
        x = F.embedding(tokens, self.embed)
        for lay, (buf,) in zip(self.layers, cache.layers, strict=True):
            x = self._attention(lay, x, buf, block, at, pos)
            x = self._ffn(lay, x)
        cache.length = max(cache.length, pos + 1)
        return F.linear(self._rms(x, self.final_norm), self.lm_head)

    def _attention(
        self,
        lay: _Layer,
        x: torch.Tensor,
        buf: torch.Tensor,
        block: torch.Tensor,
        at: torch.Tensor,
        pos: int,
    ) -> torch.Tensor:
        b, kv, h = x.shape[0], lay.kv, lay.h
        hn = self._rms(x, lay.in_norm)
        a = F.linear(hn, lay.w_a)
        if lay.q_norm is not None:
            cq, lat, kpe = a.split([lay.q_rank, kv, self.rope_dim], dim=-1)
            q = F.linear(self._rms(cq, lay.q_norm), lay.w_q)
        else:
            lat, kpe = a.split([kv, self.rope_dim], dim=-1)
            q = F.linear(hn, lay.w_q)
        entry = torch.mm(torch.cat([self._rms(lat, lay.kv_norm), kpe], dim=-1), block)
        buf.index_copy_(1, at, entry.unsqueeze(1))
        keys = buf.narrow(1, 0, pos + 1)  # [B, S, C]
        qc = torch.mm(q.view(b * h, -1), block).view(b, h, -1)
        p = torch.softmax(torch.bmm(qc, keys.transpose(1, 2)), dim=-1, dtype=torch.float32)
        if p.dtype != x.dtype:
            p = p.to(x.dtype)
        o_lat = torch.bmm(p, keys[..., :kv])  # [B, h, kv]
        o = torch.bmm(o_lat.transpose(0, 1), lay.w_uv).transpose(0, 1).reshape(b, h * lay.v)
        return torch.addmm(x, o, lay.w_o_t)

    def _ffn(self, lay: _Layer, x: torch.Tensor) -> torch.Tensor:
        hn = self._rms(x, lay.post_norm)
        if not lay.moe:
            return self._swiglu_add(x, hn, lay.w_gu, lay.w_down_t)
        if lay.int4:
            return x + lay.module(hn)
        if lay.shared is not None:
            x = self._swiglu_add(x, hn, *lay.shared)
        weights, idx = lay.router(hn)
        b, k = idx.shape
        if b * k < lay.dense_min_slots:
            i2 = 2 * lay.inter
            for row in range(b):
                for e, w in zip(idx[row].tolist(), weights[row].tolist(), strict=True):
                    gu = lay.e_gu[e * i2 : (e + 1) * i2]
                    dn = lay.e_down_t[e * lay.inter : (e + 1) * lay.inter]
                    if b == 1:
                        x = self._swiglu_add(x, hn, gu, dn, w)
                    else:
                        x[row : row + 1] = self._swiglu_add(
                            x[row : row + 1], hn[row : row + 1], gu, dn, w
                        )
            return x
        dense = torch.zeros(b, lay.n_experts, dtype=x.dtype).scatter_(1, idx, weights.to(x.dtype))
        g, u = F.linear(hn, lay.e_gu).view(b, lay.n_experts, 2, lay.inter).unbind(2)
        act = (F.silu(g) * u * dense.unsqueeze(-1)).view(b, -1)
        return torch.addmm(x, act, lay.e_down_t)

    @staticmethod
    def _swiglu_add(
        x: torch.Tensor,
        hn: torch.Tensor,
        gu_w: torch.Tensor,
        down_t: torch.Tensor,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        g, u = F.linear(hn, gu_w).chunk(2, dim=-1)
        return torch.addmm(x, F.silu(g) * u, down_t, alpha=alpha)


_DECODERS: weakref.WeakKeyDictionary[nn.Module, FastDecoder] = weakref.WeakKeyDictionary()


def fast_decoder_for(model: nn.Module) -> FastDecoder | None:
    """The (cached) FastDecoder of ``model``, rebuilt when its weights changed; None if the
    model is not supported."""
    if not supports(model):
        return None
    dec = _DECODERS.get(model)
    if dec is None or dec.stale(model):
        dec = FastDecoder(model)
        _DECODERS[model] = dec
    return dec
