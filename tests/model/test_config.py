"""K2Config reads K2-Thinking / DeepSeek-V3 config dicts and writes what transformers loads;
YaRN frequencies and softmax scale match docs/k2.md and transformers."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from support.k2_hf import tiny_config
from thinkact.model.config import K2Config, RopeScaling
from thinkact.model.presets import get_preset
from thinkact.model.rope import yarn_inv_freq

pytestmark = pytest.mark.torch

# The K2-Thinking config.json as its published copies give it (docs/k2.md), legacy rope keys.
K2_THINKING_JSON: dict[str, Any] = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2",
    "vocab_size": 163840, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 64,
    "num_key_value_heads": 64, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "n_routed_experts": 384, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "first_k_dense_replace": 1, "moe_layer_freq": 1, "n_group": 1, "topk_group": 1,
    "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": True,
    "routed_scaling_factor": 2.827, "aux_loss_alpha": 0.001, "seq_aux": True,
    "hidden_act": "silu", "rope_theta": 50000.0,
    "rope_scaling": {"type": "yarn", "factor": 64.0, "original_max_position_embeddings": 4096,
                     "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 262144, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "num_nextn_predict_layers": 0, "bos_token_id": 163584, "eos_token_id": 163586,
    "pad_token_id": 163839, "torch_dtype": "bfloat16",
}


def test_reads_k2_thinking_config() -> None:
    cfg = K2Config.from_hf_dict(K2_THINKING_JSON)
    assert cfg.model_type == "kimi_k2" and cfg.n_routed_experts == 384
    assert cfg.rope_theta == 50000.0 and cfg.rope_scaling is not None
    assert cfg.rope_scaling.factor == 64.0 and cfg.rope_scaling.beta_fast == 1.0
    assert cfg.extra == {"aux_loss_alpha": 0.001, "seq_aux": True}
    # docs/k2.md, "YaRN and the softmax scale": 192^-0.5 × (1 + 0.1·ln 64)^2 = 0.144680
    assert cfg.softmax_scale() == pytest.approx(0.144680, abs=1e-6)
    assert cfg.rope_attention_factor() == 1.0
    preset = get_preset("kimi-k2-thinking")
    assert preset.replace(quantization_config=None) == cfg


def test_k2_yarn_ramp_keeps_dims_0_to_19_and_divides_the_rest() -> None:
    cfg = K2Config.from_hf_dict(K2_THINKING_JSON)
    inv = yarn_inv_freq(cfg)
    base = 50000.0 ** (-torch.arange(0, 64, 2, dtype=torch.float32) / 64)
    assert torch.allclose(inv[:20], base[:20])
    assert torch.allclose(inv[20:], base[20:] / 64)


def test_rope_scaling_and_rope_parameters_read_the_same() -> None:
    legacy = K2Config.from_hf_dict(K2_THINKING_JSON)
    modern = dict(K2_THINKING_JSON)
    rs = modern.pop("rope_scaling")
    modern.pop("rope_theta")
    rs = {k: v for k, v in rs.items() if k != "type"}
    modern["rope_parameters"] = {"rope_type": "yarn", "rope_theta": 50000.0, **rs}
    assert K2Config.from_hf_dict(modern) == legacy


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("rope", [
    None,
    RopeScaling(factor=4.0, original_max_position_embeddings=64, mscale=0.707, mscale_all_dim=1.0),
    RopeScaling(factor=None, original_max_position_embeddings=32, beta_fast=1.0, beta_slow=1.0),
    RopeScaling(factor=40.0, original_max_position_embeddings=64, mscale=1.0, mscale_all_dim=1.0,
                truncate=False),
])
def test_transformers_loads_our_config_and_agrees_on_rope(tmp_path: Path, legacy: bool,
                                                          rope: RopeScaling | None) -> None:
    from transformers import DeepseekV3Config
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import (
        DeepseekV3RotaryEmbedding,
        yarn_apply_mscale,
    )

    cfg = tiny_config(rope_scaling=rope, max_position_embeddings=512)
    cfg.save_pretrained(tmp_path, legacy_rope=legacy)
    hf = DeepseekV3Config.from_pretrained(tmp_path)
    assert hf.q_lora_rank == cfg.q_lora_rank and hf.n_group == cfg.n_group
    if rope is None:
        inv, factor = DeepseekV3RotaryEmbedding.compute_default_rope_parameters(hf)
    else:
        inv, factor = ROPE_INIT_FUNCTIONS["yarn"](hf)
    assert torch.allclose(yarn_inv_freq(cfg), inv, rtol=1e-6, atol=0)
    assert cfg.rope_attention_factor() == pytest.approx(factor, rel=1e-9)
    hf_scale = yarn_apply_mscale(hf.rope_parameters, cfg.qk_head_dim**-0.5)
    assert cfg.softmax_scale() == pytest.approx(hf_scale, rel=1e-9)
    if rope is not None and rope.factor is None:  # written resolved (transformers needs it)
        cfg = cfg.replace(rope_scaling=dataclasses.replace(rope, factor=cfg.rope_factor()))
    assert K2Config.from_pretrained(tmp_path) == cfg


def test_hf_written_config_round_trips(tmp_path: Path) -> None:
    from transformers import DeepseekV3Config

    cfg = tiny_config(q_lora_rank=None)
    cfg.save_pretrained(tmp_path)
    DeepseekV3Config.from_pretrained(tmp_path).save_pretrained(tmp_path / "hf")
    back = K2Config.from_pretrained(tmp_path / "hf")
    assert back.replace(extra={}) == cfg.replace(extra={})


def test_reference_conventions_and_unknown_keys() -> None:
    d = tiny_config().to_hf_dict()
    d.update(q_lora_rank=0, n_group=None, topk_group=None, custom_field=[1, 2])
    cfg = K2Config.from_hf_dict(d)
    assert cfg.q_lora_rank is None and cfg.n_group == 1
    assert cfg.to_hf_dict()["custom_field"] == [1, 2]


@pytest.mark.parametrize("bad, msg", [
    (dict(num_key_value_heads=2), "num_key_value_heads"),
    (dict(n_group=3), "not divisible by n_group"),
    (dict(topk_group=5), "topk_group"),
    (dict(qk_rope_head_dim=7), "must be even"),
    (dict(hidden_act="gelu"), "hidden_act"),
    (dict(scoring_func="softmax"), "router"),
])
def test_invalid_configs_name_the_field(bad: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        tiny_config(**bad)


def test_rejects_other_model_types_and_rope_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model_type"):
        K2Config.from_hf_dict({"model_type": "llama"})
    with pytest.raises(ValueError, match="rope type"):
        K2Config.from_hf_dict({"rope_scaling": {"type": "linear", "factor": 2.0}})
    with pytest.raises(FileNotFoundError):
        K2Config.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(K2_THINKING_JSON))
    assert K2Config.from_pretrained(tmp_path).num_hidden_layers == 61


def test_mscale_formula() -> None:
    cfg = tiny_config(rope_scaling=RopeScaling(factor=64.0, mscale=1.0, mscale_all_dim=1.0))
    m = 0.1 * math.log(64.0) + 1
    assert cfg.softmax_scale() == pytest.approx(cfg.qk_head_dim**-0.5 * m * m)


def test_kimi_k2_config_is_written_loadable_by_transformers(tmp_path: Path) -> None:
    from transformers import DeepseekV3Config

    cfg = get_preset("kimi-k2-thinking")
    cfg.save_pretrained(tmp_path / "as_is")
    assert json.loads((tmp_path / "as_is" / "config.json").read_text())["model_type"] == "kimi_k2"
    cfg.save_pretrained(tmp_path / "hf", model_type="deepseek_v3")
    hf = DeepseekV3Config.from_pretrained(tmp_path / "hf")
    assert hf.n_routed_experts == 384 and hf.num_attention_heads == 64
    assert hf.rope_parameters["factor"] == 64.0 and hf.rope_parameters["beta_fast"] == 1.0
    assert hf.routed_scaling_factor == 2.827 and hf.rms_norm_eps == 1e-5
    back = K2Config.from_pretrained(tmp_path / "hf")
    assert back.replace(model_type="kimi_k2") == cfg
