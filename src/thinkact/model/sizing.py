"""Parameter, KV-cache and weight-byte accounting, from a model built on the meta device.

Building on ``meta`` allocates nothing, so the 1T K2-Thinking shape is sized exactly from the
real module tree (no hand-written formula to drift from the architecture).

Active-parameter convention: weights *multiplied* per token, i.e. everything except the input
embedding table (a row lookup) and the unselected routed experts; ``active_with_embedding`` adds
the embedding table back (the other convention in circulation).
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkact.model.config import K2Config

BF16 = 2.0
INT4_GROUP32 = 0.5625  # 4-bit weight + one BF16 scale per 32 weights


@dataclass(frozen=True)
class ModelSize:
    """Counts by category; see module docstring for the active-parameter convention."""

    embedding: int
    lm_head: int
    attention: int
    dense_mlp: int
    shared_experts: int
    routed_experts: int
    routers: int
    norms: int
    active_routed: int
    kv_values_latent_per_layer: int
    kv_values_naive_per_layer: int
    num_layers: int

    @property
    def total(self) -> int:
        return (self.embedding + self.lm_head + self.attention + self.dense_mlp
                + self.shared_experts + self.routed_experts + self.routers + self.norms)

    @property
    def active(self) -> int:
        return self.total - self.embedding - self.routed_experts + self.active_routed

    @property
    def active_with_embedding(self) -> int:
        return self.active + self.embedding

    def kv_bytes_per_token(self, latent: bool = True, bytes_per_value: float = BF16) -> float:
        """Whole-model KV bytes per token (all layers)."""
        per_layer = self.kv_values_latent_per_layer if latent else self.kv_values_naive_per_layer
        return per_layer * self.num_layers * bytes_per_value

    def weight_bytes_bf16(self) -> float:
        return self.total * BF16

    def weight_bytes_int4(self) -> float:
        """Routed experts INT4 group-32 (0.5625 B/weight), everything else BF16."""
        return self.routed_experts * INT4_GROUP32 + (self.total - self.routed_experts) * BF16


def size_model(cfg: K2Config) -> ModelSize:
    """Count parameters of ``cfg`` by building the model on the meta device."""
    import torch

    from thinkact.model.model import MLA, MLP, DecoderLayer, K2ForCausalLM, MoE, RMSNorm

    # Layers of one kind are identical: build one dense and one MoE layer, weight by count.
    kinds: dict[bool, list[int]] = {}
    for i in range(cfg.num_hidden_layers):
        kinds.setdefault(cfg.is_moe_layer(i), []).append(i)
    model = K2ForCausalLM(cfg.replace(num_hidden_layers=0), device="meta", init=False,
                          dtype=torch.bfloat16)

    def count(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    attention = dense = shared = routed = routers = norms = active_routed = 0
    for idxs in kinds.values():
        n = len(idxs)
        with torch.device("meta"):
            layer = DecoderLayer(cfg, idxs[0], dtype=torch.bfloat16)
        assert isinstance(layer.self_attn, MLA)
        attn_norms = sum(count(m) for m in layer.self_attn.modules() if isinstance(m, RMSNorm))
        attention += n * (count(layer.self_attn) - attn_norms)
        norms += n * (attn_norms + count(layer.input_layernorm)
                      + count(layer.post_attention_layernorm))
        mlp = layer.mlp
        if isinstance(mlp, MoE):
            per_expert = count(mlp.experts[0]) if len(mlp.experts) else 0
            routed += n * count(mlp.experts)
            active_routed += n * per_expert * cfg.num_experts_per_tok
            routers += n * count(mlp.gate)
            shared += n * (count(mlp.shared_experts) if mlp.shared_experts is not None else 0)
        elif isinstance(mlp, MLP):
            dense += n * count(mlp)
    embedding = model.model.embed_tokens.weight.numel()
    lm_head = 0 if cfg.tie_word_embeddings else model.lm_head.weight.numel()
    norms += model.model.norm.weight.numel()
    heads = cfg.num_attention_heads
    return ModelSize(
        embedding=embedding, lm_head=lm_head, attention=attention, dense_mlp=dense,
        shared_experts=shared, routed_experts=routed, routers=routers, norms=norms,
        active_routed=active_routed,
        kv_values_latent_per_layer=cfg.kv_lora_rank + cfg.qk_rope_head_dim,
        kv_values_naive_per_layer=heads * (cfg.qk_head_dim + cfg.v_head_dim),
        num_layers=cfg.num_hidden_layers,
    )
