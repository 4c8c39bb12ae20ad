"""HF-format safetensors checkpoints: sharding + index, names, ignored keys, dtype handling,
clear errors, and the module-loader hook other formats (INT4) plug into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from support.k2_hf import make_routing_nontrivial, tiny_config
from thinkact.model.checkpoint import (
    LoadContext,
    iter_checkpoint,
    load_checkpoint,
    parse_size,
    register_module_loader,
    save_checkpoint,
)
from thinkact.model.model import K2ForCausalLM

pytestmark = pytest.mark.torch


@pytest.fixture()
def model() -> K2ForCausalLM:
    torch.manual_seed(0)
    m = K2ForCausalLM(tiny_config()).eval()
    make_routing_nontrivial(m)
    return m


def _same_weights(a: K2ForCausalLM, b: K2ForCausalLM) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_sharded_save_writes_index_and_reloads_exactly(model: K2ForCausalLM,
                                                       tmp_path: Path) -> None:
    save_checkpoint(model, tmp_path, max_shard_size="30KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert set(index["weight_map"]) == set(model.state_dict())
    on_disk = 0
    for f in shards:
        with safe_open(str(tmp_path / f), framework="pt") as sf:
            on_disk += sum(sf.get_tensor(k).nbytes for k in sf.keys())  # noqa: SIM118
    assert index["metadata"]["total_size"] == on_disk
    assert not (tmp_path / "model.safetensors").exists()
    _same_weights(model, load_checkpoint(tmp_path))


def test_on_disk_names_are_deepseek_v3_names(model: K2ForCausalLM, tmp_path: Path) -> None:
    save_checkpoint(model, tmp_path)
    names = {n for n, _ in iter_checkpoint(tmp_path)}
    for expect in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                   "model.layers.0.self_attn.q_a_proj.weight",
                   "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                   "model.layers.0.mlp.gate_proj.weight",
                   "model.layers.3.mlp.gate.e_score_correction_bias",
                   "model.layers.3.mlp.experts.7.down_proj.weight",
                   "model.layers.3.mlp.shared_experts.up_proj.weight"):
        assert expect in names
    assert not any("rotary" in n for n in names)


def test_mtp_layers_and_rotary_buffers_are_ignored(model: K2ForCausalLM, tmp_path: Path) -> None:
    save_checkpoint(model, tmp_path)
    n = model.config.num_hidden_layers
    save_file({f"model.layers.{n}.eh_proj.weight": torch.ones(2, 2),
               f"model.layers.{n}.self_attn.q_a_proj.weight": torch.ones(2, 2),
               "model.rotary_emb.inv_freq": torch.ones(4)},
              str(tmp_path / "extra.safetensors"))
    index = {"metadata": {}, "weight_map": {"model.rotary_emb.inv_freq": "extra.safetensors",
                                            "model.embed_tokens.weight": "model.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    _same_weights(model, load_checkpoint(tmp_path))


def test_bf16_save_keeps_router_fp32_and_loads_in_bf16(model: K2ForCausalLM,
                                                       tmp_path: Path) -> None:
    save_checkpoint(model, tmp_path, dtype=torch.bfloat16)
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "bfloat16"
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as sf:
        assert sf.get_tensor("model.layers.2.mlp.gate.weight").dtype == torch.float32
        assert sf.get_tensor("model.layers.2.mlp.gate.e_score_correction_bias").dtype == \
            torch.float32
        assert sf.get_tensor("lm_head.weight").dtype == torch.bfloat16
    loaded = load_checkpoint(tmp_path)
    assert loaded.lm_head.weight.dtype == torch.bfloat16
    assert loaded.model.layers[2].mlp.gate.weight.dtype == torch.float32
    as_fp32 = load_checkpoint(tmp_path, dtype=torch.float32)
    assert as_fp32.lm_head.weight.dtype == torch.float32


def test_tied_embeddings_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    m = K2ForCausalLM(tiny_config(tie_word_embeddings=True))
    assert m.lm_head.weight is m.model.embed_tokens.weight
    save_checkpoint(m, tmp_path)
    names = {n for n, _ in iter_checkpoint(tmp_path)}
    assert "lm_head.weight" not in names
    back = load_checkpoint(tmp_path)
    assert back.lm_head.weight is back.model.embed_tokens.weight
    assert torch.equal(back.lm_head.weight, m.lm_head.weight)


def test_missing_and_mismatched_tensors_are_named(model: K2ForCausalLM, tmp_path: Path) -> None:
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    sd.pop("model.layers.1.self_attn.o_proj.weight")
    save_file(sd, str(tmp_path / "model.safetensors"))
    model.config.save_pretrained(tmp_path)
    with pytest.raises(KeyError, match="lacks 1 tensors"):
        load_checkpoint(tmp_path)
    partial = load_checkpoint(tmp_path, strict=False)
    assert partial.model.layers[1].self_attn.o_proj.weight.is_meta

    sd["model.layers.1.self_attn.o_proj.weight"] = torch.zeros(3, 3)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"shape mismatch for 'model\.layers\.1\.self_attn"):
        load_checkpoint(tmp_path)

    sd["model.layers.1.self_attn.o_proj.weight"] = model.state_dict()[
        "model.layers.1.self_attn.o_proj.weight"]
    sd["model.layers.1.self_attn.o_proj.mystery"] = torch.zeros(1)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(KeyError, match="mystery"):
        load_checkpoint(tmp_path)


def test_module_loader_hook_receives_grouped_tensors(model: K2ForCausalLM,
                                                     tmp_path: Path) -> None:
    """A format module registers a loader for its suffixes and gets one call per module."""
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    target = "model.layers.3.mlp.experts.5.up_proj"
    w = sd.pop(f"{target}.weight")
    sd[f"{target}.weight_doubled"] = w * 2
    sd[f"{target}.weight_note"] = torch.tensor([7])
    save_file(sd, str(tmp_path / "model.safetensors"))
    model.config.save_pretrained(tmp_path)
    calls: list[tuple[str, set[str]]] = []

    def halve(m: torch.nn.Module, name: str, tensors: dict[str, torch.Tensor],
              ctx: LoadContext) -> None:
        calls.append((name, set(tensors)))
        lin = m.get_submodule(name)
        lin._parameters["weight"] = torch.nn.Parameter(tensors["weight_doubled"].to(ctx.dtype) / 2)
        ctx.loaded.add(f"{name}.weight")  # loaders report which model tensors they filled

    register_module_loader({"weight_doubled"}, halve)
    try:
        loaded = load_checkpoint(tmp_path)
    finally:
        from thinkact.model import checkpoint

        checkpoint._LOADERS[:] = [(t, f) for t, f in checkpoint._LOADERS if f is not halve]
    assert calls == [(target, {"weight_doubled", "weight_note"})]
    _same_weights(model, loaded)


def test_parse_size() -> None:
    assert parse_size("5GB") == 5_000_000_000
    assert parse_size("2KiB") == 2048
    assert parse_size(123) == 123
    with pytest.raises(ValueError, match="cannot parse size"):
        parse_size("lots")


def test_loading_into_an_existing_model_also_checks_completeness(model: K2ForCausalLM,
                                                                 tmp_path: Path) -> None:
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    sd.pop("model.norm.weight")
    save_file(sd, str(tmp_path / "model.safetensors"))
    model.config.save_pretrained(tmp_path)
    target = K2ForCausalLM(model.config)
    with pytest.raises(KeyError, match=r"model\.norm\.weight"):
        load_checkpoint(tmp_path, target)
    full = tmp_path / "full"
    save_checkpoint(model, full)
    _same_weights(model, load_checkpoint(full, K2ForCausalLM(model.config)))


_HF_TO_REF = {  # DeepSeek-V3 inference/convert.py, written out independently of the loader's table
    "embed_tokens": "embed", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm", "q_a_proj": "wq_a", "q_a_layernorm": "q_norm",
    "q_b_proj": "wq_b", "kv_a_proj_with_mqa": "wkv_a", "kv_a_layernorm": "kv_norm",
    "kv_b_proj": "wkv_b", "o_proj": "wo", "gate_proj": "w1", "down_proj": "w2",
    "up_proj": "w3", "lm_head": "head", "self_attn": "attn", "mlp": "ffn",
    "e_score_correction_bias": "bias",
}


def test_single_rank_reference_checkpoint_loads(model: K2ForCausalLM, tmp_path: Path) -> None:
    ref = {}
    for name, t in model.state_dict().items():
        parts = name.removeprefix("model.").split(".")
        ref[".".join(_HF_TO_REF.get(p, p) for p in parts)] = t.contiguous()
    assert "layers.3.ffn.gate.bias" in ref and "layers.0.attn.wq_a.weight" in ref
    save_file(ref, str(tmp_path / "model0-mp1.safetensors"))
    target = K2ForCausalLM(model.config, device="meta", init=False)
    _same_weights(model, load_checkpoint(tmp_path, target))


def test_model_level_save_and_from_pretrained(model: K2ForCausalLM, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path, max_shard_size="50KB")
    _same_weights(model, K2ForCausalLM.from_pretrained(tmp_path))
