"""Named model shapes: the real K2-Thinking config and tiny ones for tests and benchmarks.

``kimi-k2-thinking`` is the published K2-Thinking config.json (docs/k2.md, "Model config";
rms_norm_eps and beta_fast are unconfirmed and are ordinary fields here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thinkact.model.config import K2Config, RopeScaling
from thinkact.model.quant_config import int4_quantization_config

# compressed-tensors pack-quantized W4A16, group 32: only routed experts are INT4
# (docs/k2.md, "INT4 checkpoints").
K2_THINKING_QUANTIZATION: dict[str, Any] = int4_quantization_config(32)


def kimi_k2_thinking() -> K2Config:
    """The 1T-parameter Kimi K2 Thinking shape (61 layers, 384 experts top-8, 256K context)."""
    return K2Config(
        vocab_size=163840, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
        num_hidden_layers=61, num_attention_heads=64, num_key_value_heads=64,
        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
        v_head_dim=128, n_routed_experts=384, n_shared_experts=1, num_experts_per_tok=8,
        first_k_dense_replace=1, moe_layer_freq=1, n_group=1, topk_group=1,
        norm_topk_prob=True, routed_scaling_factor=2.827, rope_theta=50000.0,
        rope_scaling=RopeScaling(factor=64.0, original_max_position_embeddings=4096,
                                 beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=262144, rms_norm_eps=1e-5, tie_word_embeddings=False,
        num_nextn_predict_layers=0, bos_token_id=163584, eos_token_id=163586,
        pad_token_id=163839, model_type="kimi_k2", torch_dtype="bfloat16",
        quantization_config=K2_THINKING_QUANTIZATION,
        extra={"aux_loss_alpha": 0.001, "seq_aux": True},
    )


def bench_18m() -> K2Config:
    """The CPU decode benchmark shape (docs/performance.md): ~18M total, ~6.4M active
    parameters."""
    return K2Config(
        vocab_size=8192, hidden_size=256, intermediate_size=768, moe_intermediate_size=128,
        num_hidden_layers=8, first_k_dense_replace=1, num_attention_heads=8,
        q_lora_rank=128, kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16,
        v_head_dim=32, n_routed_experts=16, num_experts_per_tok=2, n_shared_experts=1,
        n_group=1, topk_group=1, routed_scaling_factor=2.827, rope_theta=50000.0,
        rope_scaling=RopeScaling(factor=8.0, original_max_position_embeddings=512,
                                 beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=4096, rms_norm_eps=1e-5, torch_dtype="float32",
    )


def tiny() -> K2Config:
    """Smallest useful shape for unit tests: 3 layers (1 dense), grouped routing, YaRN."""
    return K2Config(
        vocab_size=256, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=3, first_k_dense_replace=1, num_attention_heads=4,
        q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
        v_head_dim=16, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=4, topk_group=2, routed_scaling_factor=2.827, rope_theta=10000.0,
        rope_scaling=RopeScaling(factor=4.0, original_max_position_embeddings=64,
                                 beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=256, rms_norm_eps=1e-5, torch_dtype="float32",
    )


def tiny_int4() -> K2Config:
    """Like ``tiny`` but every expert in-feature a multiple of 32 (INT4 group size)."""
    return tiny().replace(hidden_size=64, moe_intermediate_size=64, kv_lora_rank=32)


def thinkact_tiny() -> K2Config:
    """The bundled thinking model's shape: K2's layout (q LoRA, MLA latent, 1 dense layer, then
    sigmoid-routed MoE with a shared expert, YaRN) at about 1M active parameters, small enough
    to train on two CPU cores; expert in-features are multiples of 32 so it quantizes to INT4."""
    return K2Config(
        vocab_size=1024, hidden_size=128, intermediate_size=384, moe_intermediate_size=128,
        num_hidden_layers=4, first_k_dense_replace=1, num_attention_heads=4,
        q_lora_rank=96, kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16,
        v_head_dim=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
        n_group=1, topk_group=1, routed_scaling_factor=2.5, rope_theta=10000.0,
        rope_scaling=RopeScaling(factor=4.0, original_max_position_embeddings=1024,
                                 beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=4096, rms_norm_eps=1e-5, torch_dtype="float32",
    )


PRESETS: dict[str, Callable[[], K2Config]] = {
    "kimi-k2-thinking": kimi_k2_thinking,
    "bench-18m": bench_18m,
    "tiny": tiny,
    "tiny-int4": tiny_int4,
    "thinkact-tiny": thinkact_tiny,
}


def get_preset(name: str) -> K2Config:
    """A fresh config for a preset name (a new object each call: safe to modify)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
