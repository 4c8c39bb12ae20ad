"""A fused single-token decode step for K2ForCausalLM: same math, far fewer eager ops.

At the sizes thinkact runs on CPU (tens of millions of parameters) a decode step is bound by
per-op dispatch overhead (a few µs per op), not by memory bandwidth. Measured on the §11.3
benchmark shape, the module-by-module forward dispatches ~625-700 aten ops per token, this
path ~450, each cheaper, by preparing weights once:

* ``q_a_proj`` and ``kv_a_proj_with_mqa`` read the same input: one matrix.
* W_UK and the softmax scale are folded into ``q_b_proj`` (per head W_UKᵀ·W_QB), so the query
  comes out directly in latent space: no per-layer einsum/cat.
* RoPE is a linear map: one [C, C] block matrix per position (identity on the latent part,
  the model's own rotation on the rope part, obtained by rotating an identity matrix) rotates
  queries and the new cache entry with one matmul each.
* weights are stored transposed ([in, out], contiguous) because ``mm(x, Wᵀ)`` is 2-3x
  cheaper than ``F.linear(x, W)`` for batch-1 CPU shapes; residual adds ride on ``addmm``;
  gate and up are one matrix per expert.
* RMSNorm (fp32) is computed as ``layer_norm([x, -x])[:d]``: the mean of [x, -x] is 0 and its
  variance is mean(x²), so it equals RMSNorm, and on CPU it is ~3x cheaper than ``rms_norm``.
* routing (sigmoid, ``noaux_tc``, one group) picks experts on tensors and normalizes the k
  weights in Python; each chosen expert is then ``mm, chunk, silu, mul, addmm`` on its row.
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

from thinkact.model.int4 import Int4Linear, unpack_int4
from thinkact.model.rope import apply_rope, apply_rope_pairs

_GMM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


class _Norm:
    """RMSNorm with the model's weight/eps; fp32 via the layer_norm identity above."""

    def __init__(self, norm: Any) -> None:
        w = norm.weight.detach()
        self.w, self.eps, self.d = w, float(norm.eps), w.shape[0]
        self.fp32 = w.dtype == torch.float32
        self.w2 = torch.cat([w, torch.zeros_like(w)])  # weight for [x, -x]; 2nd half unused
        self.shape2 = (2 * self.d,)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fp32 and x.dtype == torch.float32:
            y = F.layer_norm(torch.cat([x, x.neg()], dim=-1), self.shape2, self.w2, None, self.eps)
            return y[..., : self.d]
        return self.w * F.rms_norm(x.float(), (self.d,), eps=self.eps).to(x.dtype)


def _t(w: torch.Tensor) -> torch.Tensor:
    """[out, in] -> contiguous [in, out] (the layout ``mm``/``addmm`` take fastest)."""
    return w.detach().t().contiguous()


def _swiglu_t(mlp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SwiGLU MLP -> ([gate | up]ᵀ [H, 2I], downᵀ [I, H]) contiguous copies."""
    gu = torch.cat([mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach()])
    return _t(gu), _t(mlp.down_proj.weight)


class _Layer:
    """Prepared tensors of one decoder layer."""

    def __init__(self, layer: Any, int4_mode: str = "int8") -> None:
        attn = layer.self_attn
        h, nope, rope, v, kv = attn.n_heads, attn.nope, attn.rope, attn.v_dim, attn.kv_rank
        self.h, self.kv, self.v, self.rope = h, kv, v, rope
        self.in_norm = _Norm(layer.input_layernorm)
        self.post_norm = _Norm(layer.post_attention_layernorm)
        self.kv_norm = _Norm(attn.kv_a_layernorm)
        kv_a = attn.kv_a_proj_with_mqa.weight.detach()
        kv_b = attn.kv_b_proj.weight.detach().view(h, nope + v, kv)
        self.q_norm: _Norm | None = None
        if attn.q_proj is not None:
            q_lin, self.q_rank = attn.q_proj.weight.detach(), 0
            self.w_a = _t(kv_a)
        else:
            q_lin = attn.q_b_proj.weight.detach()
            self.q_rank = q_lin.shape[1]
            self.q_norm = _Norm(attn.q_a_layernorm)
            self.w_a = _t(torch.cat([attn.q_a_proj.weight.detach(), kv_a]))
        qh = q_lin.view(h, nope + rope, -1) * attn.scale
        q_lat = torch.matmul(kv_b[:, :nope].transpose(1, 2), qh[:, :nope])  # W_UKᵀ W_Q: [h,kv,in]
        self.w_q = _t(torch.cat([q_lat, qh[:, nope:]], dim=1).reshape(h * (kv + rope), -1))
        self.w_uv = kv_b[:, nope:].transpose(1, 2).contiguous()  # [h, kv, v]
        self.w_o = _t(attn.o_proj.weight)  # [h*v, H]
        mlp = layer.mlp
        self.moe = hasattr(mlp, "experts")
        self.module = mlp
        self.int4 = self.moe and any(isinstance(m, Int4Linear) for m in mlp.modules())
        self.stackable = False  # routed experts as stacked float matrices (set below)
        if not self.moe:
            self.dense = _swiglu_t(mlp)
            return
        self.router = mlp.gate
        r = mlp.gate
        self.lean_router = r.n_group == 1 and r.weight.dtype == torch.float32
        self.router_t = _t(r.weight.float())
        self.router_bias = r.e_score_correction_bias
        self.shared = _swiglu_t(mlp.shared_experts) if mlp.shared_experts is not None else None
        self.experts = list(mlp.experts)  # INT4: the modules themselves (packed weights)
        self.n_experts = len(self.experts)
        self.int8: list[tuple[torch.Tensor, ...]] | None = None
        if self.int4:
            if int4_mode == "int8":
                self.int8 = [_int8_expert(e) for e in mlp.experts]
            elif int4_mode != "module":
                raise ValueError(f"int4_mode must be 'int8' or 'module', got {int4_mode!r}")
            return
        self.inter = mlp.experts[0].gate_proj.out_features
        stacks = [_swiglu_t(e) for e in mlp.experts]
        self.e_gu = torch.stack([g for g, _ in stacks])  # [E, H, 2I]
        self.e_down = torch.stack([d for _, d in stacks])  # [E, I, H]
        # Per-expert views in Python lists: picking an expert costs no tensor op.
        self.gu_of, self.down_of = list(self.e_gu.unbind(0)), list(self.e_down.unbind(0))
        # torch._grouped_mm (private): fp32/bf16/fp16 matrices with rows of 16k bytes.
        row_bytes = [n * self.e_gu.element_size() for n in self.e_down.shape[1:]]
        self.stackable = hasattr(torch, "_grouped_mm") and self.e_gu.dtype in _GMM_DTYPES
        self.stackable = self.stackable and all(n % 16 == 0 for n in row_bytes)

    def weights_of(self, e: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Expert ``e`` as float ([gate | up]ᵀ, downᵀ); None when it must run as modules."""
        if not self.int4:
            return self.gu_of[e], self.down_of[e]
        if self.int8 is None:
            return None
        q_gu, s_gu, q_dn, s_dn = self.int8[e]
        # One multiply per matrix: int8 values times their group scale (Int4Linear's math).
        gu = (q_gu.view(s_gu.shape[0], -1, q_gu.shape[1]) * s_gu).view(q_gu.shape)
        dn = (q_dn.view(s_dn.shape[0], -1, q_dn.shape[1]) * s_dn).view(q_dn.shape)
        return gu, dn

    def expert(self, e: int, hn: torch.Tensor) -> torch.Tensor:
        """Routed expert ``e`` on rows ``hn`` (unweighted)."""
        ws = self.weights_of(e)
        if ws is None:
            out: torch.Tensor = self.experts[e](hn)
            return out
        g, u = torch.mm(hn, ws[0]).chunk(2, dim=-1)
        return torch.mm(F.silu(g) * u, ws[1])


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

    def __init__(self, model: Any, stacked_min_fill: float = 1.0, int4_mode: str = "int8") -> None:
        if not supports(model):
            raise ValueError("FastDecoder needs a K2ForCausalLM with attn_impl='absorb'")
        cfg = model.config
        # No reference to the model itself: decoders are cached per model in a weak map.
        self._params = list(model.parameters())
        self._rope = model.rope
        # Several rows: sort slots by expert and run two grouped matmuls over the stacked
        # experts once the slots (rows x top-k) reach ``stacked_min_fill`` x the expert count;
        # fewer slots run one by one.
        self.stacked_min_fill = stacked_min_fill
        with torch.no_grad():
            self.layers = [_Layer(layer, int4_mode) for layer in model.model.layers]
            self.embed = model.model.embed_tokens.weight.detach()
            self.final_norm = _Norm(model.model.norm)
            self.lm_head = model.lm_head.weight.detach()
        self.top_k, self.norm_topk = cfg.num_experts_per_tok, cfg.norm_topk_prob
        self.routed_scale = float(cfg.routed_scaling_factor)
        self.kv, self.rope_dim = cfg.kv_lora_rank, cfg.qk_rope_head_dim
        self.interleave = cfg.rope_interleave
        self.dtype = self.lm_head.dtype
        self._lm_head_t: torch.Tensor | None = None
        self._rot = torch.empty(0)
        self.device = self.lm_head.device
        self._block = torch.eye(self.kv + self.rope_dim, dtype=self.dtype, device=self.device)
        self._versions = self._fingerprint()

    def _fingerprint(self) -> list[tuple[int, int]]:
        # Inference tensors carry no version counter; their data pointer still identifies them.
        return [(p.data_ptr(), 0 if p.is_inference() else p._version) for p in self._params]

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
            self._rot = rot.to(
                self.device, self.dtype
            ).contiguous()  # row i = rope(e_i): x @ rot = rope(x)
        self._block[self.kv :, self.kv :] = self._rot[pos]
        return self._block

    @torch.inference_mode()
    def step(self, tokens: list[int] | torch.Tensor, pos: int, cache: Any) -> torch.Tensor:
        b = len(tokens)
        if cache.mode != "absorb" or cache.batch_size != b:
            raise ValueError("FastDecoder.step needs an absorb cache with one row per token")
        if pos >= cache.max_seq_len:
            raise ValueError(f"position {pos} beyond cache max_seq_len {cache.max_seq_len}")
        block = self._rotation(pos)
        if b == 1 and isinstance(tokens, list):
            x = self.embed[tokens[0]].unsqueeze(0)
        else:
            x = F.embedding(torch.as_tensor(tokens, device=self.device), self.embed)
        for lay, (buf,) in zip(self.layers, cache.layers, strict=True):
            x = self._attention(lay, x, buf, block, pos)
            x = self._ffn(lay, x)
        cache.length = max(cache.length, pos + 1)
        if b == 1:
            return F.linear(self.final_norm(x), self.lm_head)
        if self._lm_head_t is None:  # several rows: mm on [H, V] is ~2x faster than F.linear
            self._lm_head_t = _t(self.lm_head)
        return torch.mm(self.final_norm(x), self._lm_head_t)

    def _attention(
        self, lay: _Layer, x: torch.Tensor, buf: torch.Tensor, block: torch.Tensor, pos: int
    ) -> torch.Tensor:
        b, kv, h = x.shape[0], lay.kv, lay.h
        hn = lay.in_norm(x)
        a = torch.mm(hn, lay.w_a)
        if lay.q_norm is not None:
            cq, lat, kpe = a.split([lay.q_rank, kv, lay.rope], dim=-1)
            q = torch.mm(lay.q_norm(cq), lay.w_q)
        else:
            lat, kpe = a.split([kv, lay.rope], dim=-1)
            q = torch.mm(hn, lay.w_q)
        buf.select(1, pos).copy_(torch.mm(torch.cat([lay.kv_norm(lat), kpe], dim=-1), block))
        keys = buf.narrow(1, 0, pos + 1)  # [B, S, C]
        qc = torch.mm(q.view(b * h, -1), block).view(b, h, -1)
        p = torch.softmax(torch.bmm(qc, keys.transpose(1, 2)), dim=-1, dtype=torch.float32)
        if p.dtype != x.dtype:
            p = p.to(x.dtype)
        o_lat = torch.bmm(p, keys[..., :kv])  # [B, h, kv]
        o = torch.bmm(o_lat.transpose(0, 1), lay.w_uv).transpose(0, 1).reshape(b, h * lay.v)
        return torch.addmm(x, o, lay.w_o)

    def _ffn(self, lay: _Layer, x: torch.Tensor) -> torch.Tensor:
        hn = lay.post_norm(x)
        if not lay.moe:
            return _swiglu_add(x, hn, *lay.dense)
        if lay.shared is not None:
            x = _swiglu_add(x, hn, *lay.shared)
        b = x.shape[0]
        if b == 1 and lay.lean_router:
            for e, w in self._route(lay, hn)[0]:
                ws = lay.weights_of(e)
                if ws is None:
                    x = torch.add(x, lay.expert(e, hn), alpha=w)
                else:
                    x = _swiglu_add(x, hn, ws[0], ws[1], w)
            return x
        if lay.stackable and b * self.top_k >= self.stacked_min_fill * lay.n_experts:
            return self._stacked(lay, x, hn, *lay.router(hn))
        if lay.lean_router:
            return self._by_slot(lay, x, hn)
        return self._grouped(lay, x, hn, *lay.router(hn))

    @staticmethod
    def _stacked(
        lay: _Layer, x: torch.Tensor, hn: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor
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
    def _grouped(
        lay: _Layer, x: torch.Tensor, hn: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor
    ) -> torch.Tensor:
        """Rows grouped by chosen expert: each hit expert runs once on its rows."""
        flat = idx.flatten()
        order = flat.argsort(stable=True)
        counts = torch.bincount(flat, minlength=lay.n_experts).tolist()
        rows = order // idx.shape[1]
        w = weights.flatten()[order].to(x.dtype).unsqueeze(-1)
        start = 0
        for e, c in enumerate(counts):
            if not c:
                continue
            ri = rows[start : start + c]
            y = lay.expert(e, hn.index_select(0, ri)) * w[start : start + c]
            x.index_add_(0, ri, y)  # x is this step's own tensor
            start += c
        return x

    def _route(self, lay: _Layer, hn: torch.Tensor) -> list[list[tuple[int, float]]]:
        """Sigmoid/noaux_tc routing (n_group 1): per row, (expert, weight) in Python floats."""
        scores = torch.sigmoid(
            torch.mm(hn if hn.dtype == torch.float32 else hn.float(), lay.router_t)
        )
        idx = torch.topk(scores + lay.router_bias, self.top_k, dim=-1, sorted=False)[1]
        out = []
        for s, row in zip(scores.tolist(), idx.tolist(), strict=True):  # nested: no index ops
            chosen = [(e, s[e]) for e in row]
            scale = self.routed_scale
            if self.norm_topk:
                scale /= sum(w for _, w in chosen) + 1e-20
            out.append([(e, w * scale) for e, w in chosen])
        return out

    def _by_slot(self, lay: _Layer, x: torch.Tensor, hn: torch.Tensor) -> torch.Tensor:
        """Several rows, routed in Python: an expert chosen by one row costs 7 small ops
        (its output lands with ``addmm_`` on that row of x); one chosen by several rows runs
        once on all of them."""
        groups: dict[int, list[tuple[int, float]]] = {}
        for r, chosen in enumerate(self._route(lay, hn)):
            for e, w in chosen:
                groups.setdefault(e, []).append((r, w))
        for e, slots in groups.items():
            ws = lay.weights_of(e) if len(slots) == 1 else None
            if ws is not None:
                r, w = slots[0]
                g, u = torch.mm(hn.narrow(0, r, 1), ws[0]).chunk(2, dim=-1)
                x.narrow(0, r, 1).addmm_(F.silu(g) * u, ws[1], alpha=w)
                continue
            ri = torch.tensor([r for r, _ in slots], device=x.device)
            wt = torch.tensor([[w] for _, w in slots], dtype=x.dtype, device=x.device)
            x.index_add_(0, ri, lay.expert(e, hn.index_select(0, ri)) * wt)
        return x


def _int8_expert(mlp: Any) -> tuple[torch.Tensor, ...]:
    """INT4 expert -> int8 values and group scales in the transposed layout:
    ([gate | up]ᵀ int8 [H, 2I], scales [H/g, 1, 2I], downᵀ int8 [I, H], scales [I/g, 1, H])."""
    g, u, d = mlp.gate_proj, mlp.up_proj, mlp.down_proj
    q_gu = torch.cat(
        [unpack_int4(g.weight_packed, g.in_features), unpack_int4(u.weight_packed, u.in_features)]
    )
    s_gu = torch.cat([g.weight_scale, u.weight_scale])
    q_dn = unpack_int4(d.weight_packed, d.in_features)
    return (
        q_gu.t().contiguous(),
        s_gu.t().contiguous().unsqueeze(1),
        q_dn.t().contiguous(),
        d.weight_scale.t().contiguous().unsqueeze(1),
    )


def _swiglu_add(
    x: torch.Tensor, hn: torch.Tensor, gu_t: torch.Tensor, down_t: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """x + alpha * down(silu(gate(hn)) * up(hn)), with [gate | up]ᵀ and downᵀ weights."""
    g, u = torch.mm(hn, gu_t).chunk(2, dim=-1)
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
