"""Weights of one decoder layer prepared for :mod:`thinkact.model.fast_decode` (transposed,
concatenated and folded once, so a decode step dispatches few, cheap ops); see that module's
docstring for what each preparation buys.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from thinkact.model.int4 import Int4Linear, unpack_int4
from thinkact.model.rope import apply_rope, apply_rope_pairs

_GMM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


class FusedNorm:
    """RMSNorm with the model's weight/eps; fp32 as ``layer_norm([x, -x])[:d]`` (the mean of
    [x, -x] is 0 and its variance mean(x²), so it equals RMSNorm; ~3x cheaper on CPU)."""

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


class ParamWatch:
    """Notices when a model's parameters are replaced or changed in place (a training step
    between agent turns), so prepared copies of its weights can be rebuilt."""

    def __init__(self, model: Any) -> None:
        self._params = list(model.parameters())
        self._versions = self._fingerprint()

    def _fingerprint(self) -> list[tuple[int, int]]:
        # Inference tensors carry no version counter; their data pointer still identifies them.
        return [(p.data_ptr(), 0 if p.is_inference() else p._version) for p in self._params]

    def stale(self, model: Any) -> bool:
        params = list(model.parameters())
        if len(params) != len(self._params) or any(
            a is not b for a, b in zip(params, self._params, strict=True)
        ):
            return True
        return self._fingerprint() != self._versions


def check_step(who: str, tokens: Any, pos: int, cache: Any) -> int:
    """Validate a single-token decode step's arguments; returns the number of rows."""
    b = len(tokens)
    if cache.mode != "absorb" or cache.batch_size != b:
        raise ValueError(f"{who}.step needs an absorb cache with one row per token")
    if pos >= cache.max_seq_len:
        raise ValueError(f"position {pos} beyond cache max_seq_len {cache.max_seq_len}")
    return b


def check_rows(who: str, tokens: Any, positions: Any, caches: Any) -> int:
    """Validate a step over several batch-1 caches (one token each); returns the rows."""
    b = len(tokens)
    if not b or len(positions) != b or len(caches) != b:
        raise ValueError(f"{who}.step_rows needs one position and one cache per token")
    for p, c in zip(positions, caches, strict=True):
        if c.mode != "absorb" or c.batch_size != 1:
            raise ValueError(f"{who}.step_rows needs batch-1 absorb caches")
        if not 0 <= p < c.max_seq_len:
            raise ValueError(f"position {p} outside the cache's [0, {c.max_seq_len})")
    return b


class RopeRotations:
    """The model's RoPE at each position as a [dim, dim] matrix (row i of position p is
    rope(e_i), so ``x @ at(p) == rope(x)``): RoPE is linear, and rotating an identity matrix
    reuses the model's own YaRN tables and pair layout. The table grows by doubling."""

    def __init__(self, model: Any, dtype: torch.dtype, device: torch.device) -> None:
        cfg = model.config
        self.rope, self.dim, self.interleave = model.rope, cfg.qk_rope_head_dim, cfg.rope_interleave
        self.dtype, self.device = dtype, device
        self.table = torch.empty(0)

    def at(self, pos: int) -> torch.Tensor:
        if self.table.shape[0] <= pos:
            n = max(2 * self.table.shape[0], pos + 1, 256)
            eye = torch.eye(self.dim, dtype=torch.float32).expand(n, -1, -1)
            if self.interleave:
                ph = self.rope.get_phasors(0, n, eye.device, torch.float32).unsqueeze(1)
                rot = apply_rope_pairs(eye, ph)
            else:
                cos, sin = self.rope.get(0, n, eye.device, torch.float32)
                rot = apply_rope(eye, cos.unsqueeze(1), sin.unsqueeze(1), False)
            self.table = rot.to(self.device, self.dtype).contiguous()
        return self.table[pos]


def transposed(w: torch.Tensor) -> torch.Tensor:
    """[out, in] -> contiguous [in, out] (the layout ``mm``/``addmm`` take fastest)."""
    return w.detach().t().contiguous()


def swiglu_t(mlp: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SwiGLU MLP -> ([gate | up]ᵀ [H, 2I], downᵀ [I, H]) contiguous copies."""
    gu = torch.cat([mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach()])
    return transposed(gu), transposed(mlp.down_proj.weight)


class PreparedLayer:
    """Prepared tensors of one decoder layer."""

    def __init__(self, layer: Any, int4_mode: str = "int8") -> None:
        attn = layer.self_attn
        h, nope, rope, v, kv = attn.n_heads, attn.nope, attn.rope, attn.v_dim, attn.kv_rank
        self.h, self.kv, self.v, self.rope = h, kv, v, rope
        self.in_norm = FusedNorm(layer.input_layernorm)
        self.post_norm = FusedNorm(layer.post_attention_layernorm)
        self.kv_norm = FusedNorm(attn.kv_a_layernorm)
        kv_a = attn.kv_a_proj_with_mqa.weight.detach()
        kv_b = attn.kv_b_proj.weight.detach().view(h, nope + v, kv)
        self.q_norm: FusedNorm | None = None
        if attn.q_proj is not None:
            q_lin, self.q_rank = attn.q_proj.weight.detach(), 0
            self.w_a = transposed(kv_a)
        else:
            q_lin = attn.q_b_proj.weight.detach()
            self.q_rank = q_lin.shape[1]
            self.q_norm = FusedNorm(attn.q_a_layernorm)
            self.w_a = transposed(torch.cat([attn.q_a_proj.weight.detach(), kv_a]))
        qh = q_lin.view(h, nope + rope, -1) * attn.scale
        q_lat = torch.matmul(kv_b[:, :nope].transpose(1, 2), qh[:, :nope])  # W_UKᵀ W_Q: [h,kv,in]
        self.w_q = transposed(torch.cat([q_lat, qh[:, nope:]], dim=1).reshape(h * (kv + rope), -1))
        self.w_uv = kv_b[:, nope:].transpose(1, 2).contiguous()  # [h, kv, v]
        # The same with zero rows for the rope part: batch 1 multiplies whole cache rows.
        self.w_uv_pad = torch.cat([self.w_uv, self.w_uv.new_zeros(h, rope, v)], dim=1)
        self.w_o = transposed(attn.o_proj.weight)  # [h*v, H]
        mlp = layer.mlp
        self.moe = hasattr(mlp, "experts")
        self.module = mlp
        self.int4 = self.moe and any(isinstance(m, Int4Linear) for m in mlp.modules())
        self.stackable = False  # routed experts as stacked float matrices (set below)
        if not self.moe:
            self.dense = swiglu_t(mlp)
            return
        self.router = mlp.gate
        r = mlp.gate
        self.lean_router = r.n_group == 1 and r.weight.dtype == torch.float32
        self.router_t = transposed(r.weight.float())
        self.router_bias = r.e_score_correction_bias
        self.shared = swiglu_t(mlp.shared_experts) if mlp.shared_experts is not None else None
        # Batch 1: the router logits ride on the shared expert's gate/up matmul (same input).
        self.shared_router: torch.Tensor | None = None
        if self.shared is not None and self.lean_router and self.shared[0].dtype == torch.float32:
            self.shared_router = torch.cat([self.shared[0], self.router_t], dim=1).contiguous()
            self.shared_split = [self.shared[0].shape[1] // 2] * 2 + [self.router_t.shape[1]]
        self.experts = list(mlp.experts)  # INT4: the modules themselves (packed weights)
        self.n_experts = len(self.experts)
        self.int8: list[tuple[torch.Tensor, ...]] | None = None
        if self.int4:
            if int4_mode == "int8":
                self.int8 = [int8_expert(e) for e in mlp.experts]
            elif int4_mode != "module":
                raise ValueError(f"int4_mode must be 'int8' or 'module', got {int4_mode!r}")
            return
        self.inter = mlp.experts[0].gate_proj.out_features
        stacks = [swiglu_t(e) for e in mlp.experts]
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
        g, u = torch.mm(hn, ws[0]).unsafe_chunk(2, dim=-1)
        return torch.mm(F.silu(g).mul_(u), ws[1])


def int8_expert(mlp: Any) -> tuple[torch.Tensor, ...]:
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


def swiglu_add(
    x: torch.Tensor, hn: torch.Tensor, gu_t: torch.Tensor, down_t: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """x + alpha * down(silu(gate(hn)) * up(hn)), with [gate | up]ᵀ and downᵀ weights."""
    g, u = torch.mm(hn, gu_t).unsafe_chunk(2, dim=-1)  # views of a fresh tensor
    return torch.addmm(x, F.silu(g).mul_(u), down_t, alpha=alpha)
