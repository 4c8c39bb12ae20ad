"""Logit parity with transformers' DeepseekV3ForCausalLM (5.24, fp32, eager), both directions.

HF -> thinkact: a checkpoint written by HF ``save_pretrained`` loads into thinkact and gives the
same logits for a prefill and for 32 cached decode steps (each compared with HF's full-sequence
logits at that position). thinkact -> HF: a thinkact-saved (sharded) checkpoint loads into HF.
Routing is made non-trivial (negative N(-3, 0.5) correction bias, enlarged router weights) and
norm weights are perturbed, so a wrong bias, group mask or norm placement would show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from support.k2_hf import (
    hf_model_from_config,
    make_routing_nontrivial,
    randomize_norms,
    tiny_config,
)
from thinkact.model.checkpoint import load_checkpoint, save_checkpoint
from thinkact.model.config import K2Config, RopeScaling
from thinkact.model.model import K2ForCausalLM

pytestmark = pytest.mark.torch

transformers = pytest.importorskip("transformers")

TOL = 1e-4
PREFILL, DECODE = 8, 32

CONFIGS: dict[str, dict[str, Any]] = {
    # q LoRA, YaRN (beta_fast 32), 4 groups / 2 kept, 2 dense + 2 MoE layers
    "qlora-groups": {},
    # plain q_proj, K2-style beta_fast = beta_slow = 1, 3 MoE layers, 2 shared experts
    "no-qlora-k2yarn": dict(
        q_lora_rank=None, first_k_dense_replace=1, n_shared_experts=2,
        rope_scaling=RopeScaling(factor=8.0, original_max_position_embeddings=32,
                                 beta_fast=1.0, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)),
    # mscale != mscale_all_dim: HF scales cos/sin by their ratio; top-3 routing, 8 groups of 2
    "mscale-ratio": dict(
        num_experts_per_tok=3, n_routed_experts=16, n_group=8, topk_group=3,
        rope_scaling=RopeScaling(factor=4.0, original_max_position_embeddings=64,
                                 mscale=0.707, mscale_all_dim=1.0)),
    # no YaRN, rotate-half layout, no norm_topk_prob, attention biases
    "plain-rope-halves": dict(
        rope_scaling=None, rope_interleave=False, norm_topk_prob=False, attention_bias=True,
        n_group=1, topk_group=1),
}


def _cfg(name: str) -> K2Config:
    return tiny_config(initializer_range=0.08, **CONFIGS[name])


@torch.no_grad()
def _decode_against(model: K2ForCausalLM, ids: torch.Tensor, ref: torch.Tensor) -> float:
    """Max |Δ| of a cached prefill + single-token decode loop against reference logits."""
    cache = model.new_cache(ids.shape[0], ids.shape[1] + 4)
    outs = [model(ids[:, :PREFILL], 0, cache)]
    outs += [model(ids[:, i:i + 1], i, cache) for i in range(PREFILL, ids.shape[1])]
    return (torch.cat(outs, dim=1) - ref).abs().max().item()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_hf_checkpoint_loads_with_same_logits(name: str, tmp_path: Path) -> None:
    cfg = _cfg(name)
    hf = hf_model_from_config(cfg, tmp_path, seed=3)
    make_routing_nontrivial(hf)
    randomize_norms(hf)
    if cfg.attention_bias:
        with torch.no_grad():
            for n, p in hf.named_parameters():
                if n.endswith(".bias"):
                    p.normal_(0, 0.1)
    hf.save_pretrained(tmp_path / "hf")

    model = load_checkpoint(tmp_path / "hf").eval()
    ids = torch.randint(0, cfg.vocab_size, (2, PREFILL + DECODE),
                        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = hf(input_ids=ids, use_cache=False).logits
        assert ref.abs().mean() > 0.05  # logits large enough for the tolerance to mean something
        full = (model(ids) - ref).abs().max().item()
        decode = {}
        for impl in ("absorb", "naive"):
            model.attn_impl = impl
            decode[impl] = _decode_against(model, ids, ref)
    print(f"{name}: prefill {full:.2e}, decode absorb {decode['absorb']:.2e}, "
          f"naive {decode['naive']:.2e}")
    assert full < TOL
    assert decode["absorb"] < TOL and decode["naive"] < TOL


@pytest.mark.parametrize("name", ["qlora-groups", "no-qlora-k2yarn", "mscale-ratio"])
def test_thinkact_checkpoint_loads_into_hf(name: str, tmp_path: Path) -> None:
    from transformers import DeepseekV3ForCausalLM

    cfg = _cfg(name)
    torch.manual_seed(5)
    model = K2ForCausalLM(cfg).eval()
    make_routing_nontrivial(model, seed=7)
    randomize_norms(model, seed=8)
    save_checkpoint(model, tmp_path / "ours", max_shard_size="40KB")
    assert (tmp_path / "ours" / "model.safetensors.index.json").exists()

    hf = DeepseekV3ForCausalLM.from_pretrained(tmp_path / "ours", attn_implementation="eager")
    hf = hf.float().eval()
    ids = torch.randint(0, cfg.vocab_size, (2, PREFILL + DECODE),
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(input_ids=ids, use_cache=False).logits
        assert ref.abs().mean() > 0.05
        full = (model(ids) - ref).abs().max().item()
        decode = _decode_against(model, ids, ref)
    print(f"{name}: thinkact->HF prefill {full:.2e}, decode {decode:.2e}")
    assert full < TOL and decode < TOL


def test_parity_is_sensitive_to_the_router_bias(tmp_path: Path) -> None:
    """Guard against a vacuous test: zeroing the loaded bias must change the logits."""
    cfg = _cfg("qlora-groups")
    hf = hf_model_from_config(cfg, tmp_path, seed=3)
    make_routing_nontrivial(hf)
    hf.save_pretrained(tmp_path / "hf")
    model = load_checkpoint(tmp_path / "hf").eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = hf(input_ids=ids, use_cache=False).logits
        for _, b in model.named_buffers():
            b.zero_()
        assert (model(ids) - ref).abs().max().item() > 100 * TOL
