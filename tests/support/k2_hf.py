"""Shared helpers for K2 model tests: tiny configs and a HF transformers oracle.

HF models are built from a thinkact config.json (which also checks that transformers loads our
config), pinned to eager attention, randomized where init leaves paths untested (router bias is
zero at init, router weights too small to make routing interesting).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from thinkact.model.config import K2Config, RopeScaling


def tiny_config(**overrides: Any) -> K2Config:
    """A few-thousand-parameter K2 shape with YaRN on and group-limited routing."""
    base: dict[str, Any] = dict(
        vocab_size=128, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
        num_hidden_layers=4, first_k_dense_replace=2, num_attention_heads=4,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, n_group=4, topk_group=2,
        q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8,
        max_position_embeddings=256, rope_theta=5000.0, routed_scaling_factor=2.827,
        rms_norm_eps=1e-5, torch_dtype="float32",
        rope_scaling=RopeScaling(factor=4.0, original_max_position_embeddings=64,
                                 beta_fast=32.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0),
    )
    base.update(overrides)
    return K2Config(**base)


def hf_model_from_config(cfg: K2Config, tmp: Path, seed: int = 0) -> Any:
    """A random fp32 eager HF DeepseekV3ForCausalLM for ``cfg`` (config round-tripped via disk)."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    cfg_dir = tmp / "hf_config"
    cfg.save_pretrained(cfg_dir)
    hf_cfg = DeepseekV3Config.from_pretrained(cfg_dir)
    hf_cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(hf_cfg).float().eval()
    return model


@torch.no_grad()
def make_routing_nontrivial(model: torch.nn.Module, seed: int = 1, bias_mean: float = -3.0,
                            bias_std: float = 0.5, router_std: float = 0.5) -> None:
    """Randomize router biases (N(mean, std)) and enlarge router weights, on HF or thinkact."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("mlp.gate.weight"):
            p.copy_(torch.randn(p.shape, generator=g) * router_std)
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.copy_(torch.randn(b.shape, generator=g) * bias_std + bias_mean)


@torch.no_grad()
def randomize_norms(model: torch.nn.Module, seed: int = 2) -> None:
    """Norm weights start at 1; perturb them so a swapped norm would show."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("layernorm.weight") or name == "model.norm.weight":
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))


def tiny_decode_model(**overrides: Any) -> Any:
    """A tiny thinkact K2 model (``tiny_config`` + overrides) whose routing, norms and
    weights are far enough from init that a decode step getting any of them wrong shows."""
    from thinkact.model.model import K2ForCausalLM

    torch.manual_seed(0)
    m = K2ForCausalLM(tiny_config(initializer_range=0.15, **overrides)).eval()
    make_routing_nontrivial(m)
    randomize_norms(m)
    return m


@torch.no_grad()
def hf_logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, use_cache=False).logits
