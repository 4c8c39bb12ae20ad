"""The K2 / DeepSeek-V3 architecture: MLA attention, sigmoid ``noaux_tc`` MoE, SwiGLU, YaRN.

Module names equal the HF on-disk names (``model.layers.L.self_attn.q_a_proj`` …), so a
state_dict *is* a HF checkpoint. Routed experts are a ModuleList of small modules holding
``gate_proj``/``up_proj``/``down_proj`` Linears, which INT4 code may swap for quantized ones.

Forward: ``model(input_ids [B,T], start_pos=0, cache=None, last_only=False) -> logits [B,T,V]``.
With a cache (``model.new_cache(B, S)``) tokens are written at start_pos..start_pos+T-1 and each
query attends to keys at absolute positions <= its own; without one it is a plain causal forward.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from thinkact.model.cache import AttnImpl, KVCache
from thinkact.model.config import K2Config
from thinkact.model.rope import RopeTable, apply_rope, apply_rope_pairs


class Linear(nn.Linear):
    """nn.Linear without its own init: ``K2ForCausalLM.init_weights`` or a checkpoint fills it.

    Skipping kaiming init makes building the 1T shape on ``meta`` (sizing) and loading fast.
    """

    def reset_parameters(self) -> None:
        pass


class Embedding(nn.Embedding):
    """nn.Embedding that skips its init on ``meta``, where a checkpoint fills it: the first
    normal_ loads much of torch's lazily imported machinery (about 1.7 s of a start). Off
    meta it draws as before, so a seeded model gets the same weights."""

    def reset_parameters(self) -> None:
        if not self.weight.is_meta:
            super().reset_parameters()


class RMSNorm(nn.Module):
    """RMSNorm computed in fp32 and cast back before the weight multiply (HF numerics)."""

    def __init__(self, dim: int, eps: float, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, dtype=dtype, device=device))
        self.eps = eps
        self.shape = (dim,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 and self.weight.dtype == torch.float32:
            return F.rms_norm(x, self.shape, self.weight, self.eps)  # one fused op
        return self.weight * F.rms_norm(x.float(), self.shape, eps=self.eps).to(x.dtype)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)). Used for dense layers, shared and routed experts."""

    def __init__(self, hidden: int, inter: int, **kw: Any) -> None:
        super().__init__()
        self.gate_proj = Linear(hidden, inter, bias=False, **kw)
        self.up_proj = Linear(hidden, inter, bias=False, **kw)
        self.down_proj = Linear(inter, hidden, bias=False, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Router(nn.Module):
    """Sigmoid scores; the fp32 correction bias steers *selection* only; group-limited top-k."""

    e_score_correction_bias: torch.Tensor

    def __init__(self, cfg: K2Config, device: torch.device | str | None = None) -> None:
        super().__init__()
        e = cfg.n_routed_experts
        self.weight = nn.Parameter(torch.zeros(e, cfg.hidden_size, dtype=torch.float32,
                                               device=device))
        self.register_buffer("e_score_correction_bias",
                             torch.zeros(e, dtype=torch.float32, device=device))
        self.top_k = cfg.num_experts_per_tok
        self.n_group, self.topk_group = cfg.n_group, cfg.topk_group
        self.norm_topk_prob = cfg.norm_topk_prob
        self.scale = cfg.routed_scaling_factor

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, D] -> (weights fp32 [N, k], expert indices [N, k])."""
        w = self.weight if self.weight.dtype == torch.float32 else self.weight.float()
        return self.choose(F.linear(x if x.dtype == torch.float32 else x.float(), w))

    def choose(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The routing rule on fp32 router logits [N, E] -> (weights [N, k], experts [N, k]):
        the bias-corrected sigmoid scores pick the top k (within the best groups); the picked
        scores, normalised to sum 1, times the routed scaling factor, are their weights."""
        scores = logits.sigmoid()
        choice = scores + self.e_score_correction_bias
        if self.n_group > 1:
            grouped = choice.view(logits.shape[0], self.n_group, -1)
            group_score = grouped.topk(2, dim=-1)[0].sum(dim=-1)
            keep = group_score.topk(self.topk_group, dim=-1, sorted=False)[1]
            drop = torch.ones_like(group_score, dtype=torch.bool).scatter_(1, keep, False)
            choice = grouped.masked_fill(drop.unsqueeze(-1), float("-inf")).view_as(scores)
        idx = choice.topk(self.top_k, dim=-1, sorted=False)[1]
        weights = scores.gather(1, idx)
        if self.norm_topk_prob:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return weights * self.scale, idx


def dispatch(x: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor,
             expert: Callable[[int, torch.Tensor], torch.Tensor], out: torch.Tensor
             ) -> torch.Tensor:
    """Add each row's routed experts, weighted, into ``out``: (row, slot) pairs sorted by
    expert, so each hit expert runs once on all its rows. ``expert(e, rows)``: expert e's
    output for input rows."""
    flat = idx.flatten()
    order = flat.argsort(stable=True)
    counts = torch.bincount(flat).tolist()
    token = order // idx.shape[1]
    w = weights.flatten()[order].to(out.dtype).unsqueeze(-1)
    pos = 0
    for e, c in enumerate(counts):
        if c:
            rows = token[pos:pos + c]
            out.index_add_(0, rows, expert(e, x.index_select(0, rows)) * w[pos:pos + c])
            pos += c
    return out


class MoE(nn.Module):
    """Routed experts (only the selected ones run) plus always-on shared experts."""

    def __init__(self, cfg: K2Config, **kw: Any) -> None:
        super().__init__()
        h, inter = cfg.hidden_size, cfg.moe_intermediate_size
        self.gate = Router(cfg, device=kw.get("device"))
        self.experts = nn.ModuleList(MLP(h, inter, **kw) for _ in range(cfg.n_routed_experts))
        self.shared_experts: MLP | None = (
            MLP(h, inter * cfg.n_shared_experts, **kw) if cfg.n_shared_experts > 0 else None
        )
        # Training may set record_load to count tokens per expert (aux-loss-free bias updates).
        self.record_load = False
        self.load: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        weights, idx = self.gate(x)
        if weights.dtype != x.dtype:
            weights = weights.to(x.dtype)
        if self.record_load:
            counts = torch.bincount(idx.flatten(), minlength=len(self.experts))
            self.load = counts if self.load is None else self.load + counts
        if x.shape[0] == 1:  # decode fast path: k expert calls, one weighted sum
            outs = torch.cat([self.experts[e](x) for e in idx[0].tolist()])
            y = weights @ outs
        else:
            y = dispatch(x, weights, idx, lambda e, rows: self.experts[e](rows),
                         torch.zeros_like(x))
        if self.shared_experts is not None:
            y = y + self.shared_experts(x)
        return y.view(shape)


class MLA(nn.Module):
    """Multi-head latent attention with a decoupled, head-shared rotary key."""

    def __init__(self, cfg: K2Config, **kw: Any) -> None:
        super().__init__()
        h, d = cfg.num_attention_heads, cfg.hidden_size
        self.n_heads, self.nope, self.rope = h, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim
        self.v_dim, self.kv_rank = cfg.v_head_dim, cfg.kv_lora_rank
        self.interleave = cfg.rope_interleave
        self.scale = cfg.softmax_scale()
        bias = cfg.attention_bias
        self.q_proj: nn.Linear | None = None
        if cfg.q_lora_rank is None:
            self.q_proj = Linear(d, h * cfg.qk_head_dim, bias=False, **kw)
        else:
            r = cfg.q_lora_rank
            self.q_a_proj = Linear(d, r, bias=bias, **kw)
            self.q_a_layernorm = RMSNorm(r, cfg.latent_norm_eps, **kw)
            self.q_b_proj = Linear(r, h * cfg.qk_head_dim, bias=False, **kw)
        self.kv_a_proj_with_mqa = Linear(d, self.kv_rank + self.rope, bias=bias, **kw)
        self.kv_a_layernorm = RMSNorm(self.kv_rank, cfg.latent_norm_eps, **kw)
        self.kv_b_proj = Linear(self.kv_rank, h * (self.nope + self.v_dim), bias=False, **kw)
        self.o_proj = Linear(h * self.v_dim, d, bias=bias, **kw)
        # QK-Clip support: with record_max_logits set, uncached and naive-cached forwards keep
        # the running per-head max of the scaled pre-softmax logits (the softmax's own scale,
        # YaRN mscale² included) in max_logits [H]; the trainer reads and resets it.
        self.record_max_logits = False
        self.max_logits: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int,
                cache: tuple[torch.Tensor, ...] | None, mode: AttnImpl,
                mask: torch.Tensor | None) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.n_heads
        if self.q_proj is not None:
            q = self.q_proj(x)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        q_nope, q_pe = q.view(b, t, h, -1).split([self.nope, self.rope], dim=-1)
        latent, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_rank, self.rope], dim=-1)
        latent = self.kv_a_layernorm(latent)
        # Rotate the query rope slices and the shared key together: one rotation, not two.
        pe = torch.cat([q_pe, k_pe.unsqueeze(2)], dim=2)
        pe = apply_rope_pairs(pe, cos) if self.interleave else apply_rope(pe, cos, sin, False)
        q_pe, k_pe = pe[:, :, :h], pe[:, :, h]
        end = start_pos + t
        if mode == "absorb":
            o = self._absorb(q_nope, q_pe, latent, k_pe, start_pos, end, cache, mask)
        else:
            o = self._naive(q_nope, q_pe, latent, k_pe, start_pos, end, cache, mask)
        return self.o_proj(o.reshape(b, t, h * self.v_dim))

    def _absorb(self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor,
                k_pe: torch.Tensor, start: int, end: int, cache: tuple[torch.Tensor, ...] | None,
                mask: torch.Tensor | None) -> torch.Tensor:
        """Attention in the latent space: W_UK folded into q, W_UV applied after the softmax."""
        b, t, h, _ = q_nope.shape
        if cache is None:
            keys = torch.cat([latent, k_pe], dim=-1)
        else:
            buf = cache[0] if cache[0].shape[0] == b else cache[0][:b]
            buf[:, start:end] = torch.cat([latent, k_pe], dim=-1)
            keys = buf[:, :end]
        w = self.kv_b_proj.weight.view(h, self.nope + self.v_dim, self.kv_rank)
        # Per-head bmm over [H, B*T, ·] (a broadcast matmul would copy the weights per row).
        # q_nope @ W_UK[h]: the key up-projection folded into the query -> [B,H,T,C].
        q_heads = q_nope.permute(2, 0, 1, 3).reshape(h, b * t, self.nope)
        q_lat = torch.bmm(q_heads, w[:, : self.nope])
        q_lat = q_lat.view(h, b, t, -1).transpose(0, 1)
        qc = torch.cat([q_lat, q_pe.transpose(1, 2)], dim=-1).view(b, h * t, -1)
        scores = torch.bmm(qc, keys.transpose(1, 2)).view(b, h, t, -1) * self.scale
        if mask is not None:
            scores = scores + mask
        p = F.softmax(scores, dim=-1, dtype=torch.float32)
        if p.dtype != q_nope.dtype:
            p = p.to(q_nope.dtype)
        o_lat = torch.bmm(p.view(b, h * t, -1), keys[..., : self.kv_rank])  # [B, H*T, C]
        # o_lat @ W_UV[h]^T: the value up-projection after the softmax -> [B,T,H,v].
        o_lat = o_lat.view(b, h, t, -1).transpose(0, 1).reshape(h, b * t, self.kv_rank)
        o = torch.bmm(o_lat, w[:, self.nope:].transpose(1, 2))
        return o.view(h, b, t, -1).permute(1, 2, 0, 3)

    @torch.no_grad()
    def _record(self, q: torch.Tensor, k: torch.Tensor, block: int = 256) -> None:
        """Keep the max causal logit per head of an uncached forward, outside the graph.

        Row blocks see only the keys up to their end, so about half the product is formed."""
        t = q.shape[1]
        qh, kh = q.transpose(1, 2), k.transpose(1, 2)  # [B, H, T, D]
        tri = torch.ones(block, block, dtype=torch.bool, device=q.device).triu_(1)
        best = None
        for i in range(0, t, block):
            j = min(i + block, t)
            s = qh[:, :, i:j] @ kh[:, :, :j].mT
            s[..., i:].masked_fill_(tri[: j - i, : j - i], float("-inf"))
            m = s.amax(dim=(0, 2, 3))
            best = m if best is None else torch.maximum(best, m)
        assert best is not None
        self._keep_max(best * self.scale)

    def _keep_max(self, m: torch.Tensor) -> None:
        m = m.float()
        self.max_logits = m if self.max_logits is None else torch.maximum(self.max_logits, m)

    def _naive(self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor,
               k_pe: torch.Tensor, start: int, end: int, cache: tuple[torch.Tensor, ...] | None,
               mask: torch.Tensor | None) -> torch.Tensor:
        """Expand per-head K and V from the latent (reference 'naive' mode; also training)."""
        b, t, h, _ = q_nope.shape
        k_nope, v = self.kv_b_proj(latent).view(b, t, h, -1).split([self.nope, self.v_dim], -1)
        k = torch.cat([k_nope, k_pe.unsqueeze(2).expand(b, t, h, self.rope)], dim=-1)
        q = torch.cat([q_nope, q_pe], dim=-1)
        if cache is None:  # training: fused causal SDPA
            if self.record_max_logits:
                self._record(q, k)
            # V padded to the query width: PyTorch's fused CPU kernel needs equal head widths
            # and otherwise falls back to a materialized softmax, 3-6x slower here.
            wide = F.pad(v, (0, q.shape[-1] - self.v_dim))
            o = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), wide.transpose(1, 2),
                is_causal=t > 1, scale=self.scale)
            return o.transpose(1, 2)[..., : self.v_dim]
        kc, vc = cache
        kc[:b, start:end] = k
        vc[:b, start:end] = v
        k, v = kc[:b, :end], vc[:b, :end]
        scores = torch.einsum("bthd,bshd->bths", q, k) * self.scale
        if mask is not None:
            scores = scores + mask.unsqueeze(1)
        if self.record_max_logits:
            self._keep_max(scores.detach().amax(dim=(0, 1, 3)))  # [B,T,H,S] -> per head
        p = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        return torch.einsum("bths,bshd->bthd", p, v)


class DecoderLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then h + ffn(norm(h))."""

    def __init__(self, cfg: K2Config, layer_idx: int, **kw: Any) -> None:
        super().__init__()
        self.self_attn = MLA(cfg, **kw)
        self.mlp: nn.Module = (
            MoE(cfg, **kw) if cfg.is_moe_layer(layer_idx)
            else MLP(cfg.hidden_size, cfg.intermediate_size, **kw)
        )
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, **kw)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, **kw)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos: int,
                cache: tuple[torch.Tensor, ...] | None, mode: AttnImpl,
                mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, start_pos, cache, mode, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class K2Transformer(nn.Module):
    """Embeddings, decoder layers and the final norm (HF ``model.`` prefix)."""

    def __init__(self, cfg: K2Config, **kw: Any) -> None:
        super().__init__()
        self.embed_tokens = Embedding(cfg.vocab_size, cfg.hidden_size, **kw)
        n = cfg.num_hidden_layers
        self.layers = nn.ModuleList(DecoderLayer(cfg, i, **kw) for i in range(n))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, **kw)


class K2ForCausalLM(nn.Module):
    """The whole model.

    ``attn_impl`` ("absorb" default, or "naive") picks the attention used with a KV cache;
    without a cache the forward always expands K/V and runs causal SDPA (the training path).
    """

    def __init__(self, cfg: K2Config, *, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None, init: bool = True) -> None:
        super().__init__()
        kw: dict[str, Any] = {"dtype": dtype, "device": device}
        self.config = cfg
        self.model = K2Transformer(cfg, **kw)
        self.lm_head = Linear(cfg.hidden_size, cfg.vocab_size, bias=False, **kw)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.attn_impl: AttnImpl = "absorb"
        self.rope = RopeTable(cfg)
        if init and str(device) != "meta":
            self.init_weights()

    @classmethod
    def from_pretrained(cls, path: str | Path, **kw: Any) -> K2ForCausalLM:
        """Load a HF-format checkpoint directory (see ``checkpoint.load_checkpoint``)."""
        from thinkact.model.checkpoint import load_checkpoint

        return load_checkpoint(path, **kw)

    def save_pretrained(self, path: str | Path, **kw: Any) -> Path:
        """Write a HF-format checkpoint directory (see ``checkpoint.save_checkpoint``)."""
        from thinkact.model.checkpoint import save_checkpoint

        return save_checkpoint(self, path, **kw)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Normal(0, initializer_range) matrices, unit norms, zero biases (HF's init)."""
        std = self.config.initializer_range
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                m.weight.normal_(0.0, std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, Router):
                m.weight.normal_(0.0, std)
                m.e_score_correction_bias.zero_()
            elif isinstance(m, RMSNorm):
                m.weight.fill_(1.0)

    def new_cache(self, batch_size: int, max_seq_len: int, dtype: torch.dtype | None = None,
                  mode: AttnImpl | None = None) -> KVCache:
        """Preallocated cache in the model's dtype and device, for ``mode`` (default attn_impl)."""
        ref = self.lm_head.weight
        return KVCache.allocate(self.config, batch_size, max_seq_len, mode or self.attn_impl,
                                dtype or ref.dtype, ref.device)

    def hidden_states(self, input_ids: torch.Tensor, start_pos: int = 0,
                      cache: KVCache | None = None) -> torch.Tensor:
        """Final-norm hidden states [B, T, D] (training computes its own chunked loss on these)."""
        b, t = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        end = start_pos + t
        mode = self.attn_impl
        mask = None
        if cache is not None:
            if cache.mode != mode:
                raise ValueError(f"cache mode {cache.mode!r} != model.attn_impl {mode!r}")
            if b > cache.batch_size or end > cache.max_seq_len:
                raise ValueError(f"batch {b} x positions up to {end} exceed cache "
                                 f"{cache.batch_size} x {cache.max_seq_len}")
            if t > 1:  # query i sits at start_pos + i and sees keys <= that position
                mask = torch.full((t, end), float("-inf"), device=x.device, dtype=x.dtype)
                mask = mask.triu_(start_pos + 1)
        else:
            mode = "naive"  # no cache (training, scoring): expanded K/V with fused causal SDPA
        if self.config.rope_interleave:  # cos carries complex phasors, sin is unused
            cos = sin = self.rope.get_phasors(start_pos, t, x.device, x.dtype).unsqueeze(1)
        else:
            cos, sin = self.rope.get(start_pos, t, x.device, x.dtype)
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # broadcast over heads
        layer_caches = cache.layers if cache is not None else None
        for i, layer in enumerate(self.model.layers):
            lc = layer_caches[i] if layer_caches is not None else None
            x = layer(x, cos, sin, start_pos, lc, mode, mask)
        if cache is not None:
            cache.length = max(cache.length, end)
        return self.model.norm(x)

    def forward(self, input_ids: torch.Tensor, start_pos: int = 0, cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits [B, T, V] (or [B, 1, V] with ``last_only``, skipping lm_head on the rest)."""
        if last_only:
            # Norm is per position, so running it on all positions then slicing is exact.
            h = self.hidden_states(input_ids, start_pos, cache)[:, -1:]
        else:
            h = self.hidden_states(input_ids, start_pos, cache)
        return self.lm_head(h)
