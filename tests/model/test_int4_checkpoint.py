"""INT4 checkpoints end to end: quantize -> save -> load -> logits, CLI round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32
from compressed_tensors.quantization import QuantizationConfig
from typer.testing import CliRunner

from support.k2_hf import make_routing_nontrivial, tiny_config
from thinkact.model.checkpoint import load_checkpoint, save_checkpoint
from thinkact.model.int4 import Int4Linear, compute_scales, fake_quantize, quantize_int4
from thinkact.model.int4_checkpoint import (
    convert_experts_to_int4,
    dequantize_state_dict,
    int4_quantization_config,
    is_expert_linear,
    quantize_checkpoint,
    read_state_dict,
    save_int4_checkpoint,
)
from thinkact.model.model import K2ForCausalLM

pytestmark = pytest.mark.torch

EXPERT_LINEARS = 2 * 8 * 3  # MoE layers x routed experts x (gate, up, down)


def _model(seed: int = 0, dtype: torch.dtype = torch.float32) -> K2ForCausalLM:
    torch.manual_seed(seed)
    cfg = tiny_config(moe_intermediate_size=32, initializer_range=0.1)
    model = K2ForCausalLM(cfg).to(dtype).eval()
    make_routing_nontrivial(model)
    return model


@torch.no_grad()
def _fake_quant_copy(model: K2ForCausalLM) -> K2ForCausalLM:
    """The float model whose expert weights are replaced by their dequantized INT4 values."""
    ref = _model()
    ref.load_state_dict(model.state_dict())
    for name, mod in ref.named_modules():
        if is_expert_linear(name):
            assert isinstance(mod, torch.nn.Linear)
            mod.weight.copy_(fake_quantize(mod.weight))
    return ref


IDS = torch.tensor([[3, 17, 99, 4, 55, 21, 8, 120, 64, 1, 2, 77]])


@torch.no_grad()
def test_quantize_checkpoint_logits_match_dequantized_float(tmp_path: Path) -> None:
    model = _model()
    save_checkpoint(model, tmp_path / "float")
    stats = quantize_checkpoint(tmp_path / "float", tmp_path / "int4")
    assert stats["quantized_linears"] == EXPERT_LINEARS
    assert stats["bytes_out"] < stats["bytes_in"]

    loaded = load_checkpoint(tmp_path / "int4").eval()
    int4_mods = [n for n, m in loaded.named_modules() if isinstance(m, Int4Linear)]
    assert len(int4_mods) == EXPERT_LINEARS and all(is_expert_linear(n) for n in int4_mods)
    shared = loaded.model.layers[2].mlp.shared_experts  # type: ignore[union-attr]
    assert isinstance(shared.gate_proj, torch.nn.Linear)

    ref = _fake_quant_copy(model)
    want = ref(IDS)
    got = loaded(IDS)
    assert torch.allclose(got, want, atol=1e-4, rtol=0)
    # and the quantization is visible: the pure float model differs
    assert not torch.allclose(model(IDS), want, atol=1e-4, rtol=0)


def test_on_disk_format_is_compressed_tensors(tmp_path: Path) -> None:
    model = _model()
    save_checkpoint(model, tmp_path / "float")
    quantize_checkpoint(tmp_path / "float", tmp_path / "int4")
    state = read_state_dict(tmp_path / "int4")
    prefix = "model.layers.3.mlp.experts.5.down_proj"
    assert f"{prefix}.weight" not in state
    packed, scale, shape = (
        state[f"{prefix}.{s}"] for s in ("weight_packed", "weight_scale", "weight_shape")
    )
    w = model.get_submodule(prefix).weight.detach()
    assert packed.dtype == torch.int32 and packed.shape == (32, 4)
    assert scale.dtype == torch.float32 and scale.shape == (32, 1)
    assert shape.dtype == torch.int64 and shape.tolist() == [32, 32]
    s = compute_scales(w)
    assert torch.equal(scale, s)
    assert torch.equal(packed, pack_to_int32(quantize_int4(w, s), 4))
    q = unpack_from_int32(packed, 4, torch.Size(shape.tolist()))
    assert torch.equal(q.float() * scale.repeat_interleave(32, dim=1), fake_quantize(w))
    # shared experts, dense MLP, attention, lm_head stay float
    assert state["model.layers.3.mlp.shared_experts.up_proj.weight"].dtype == torch.float32
    assert "model.layers.0.mlp.gate_proj.weight" in state
    assert "lm_head.weight" in state

    cfg = json.loads((tmp_path / "int4" / "config.json").read_text())
    qc = cfg["quantization_config"]
    assert qc == int4_quantization_config(32)
    parsed = QuantizationConfig.model_validate(qc)
    weights = parsed.config_groups["group_0"].weights
    assert weights is not None
    assert (weights.num_bits, weights.group_size, weights.symmetric) == (4, 32, True)
    assert parsed.format == "pack-quantized" and parsed.quantization_status == "compressed"
    assert parsed.ignore == [
        "lm_head",
        "re:.*self_attn.*",
        "re:.*shared_experts.*",
        r"re:.*mlp\.(gate|up|gate_up|down)_proj.*",
    ]

    deq = dequantize_state_dict(state)
    assert torch.equal(deq[f"{prefix}.weight"], fake_quantize(w))


@torch.no_grad()
def test_save_int4_model_roundtrip_bf16_and_sharded(tmp_path: Path) -> None:
    model = _model(dtype=torch.bfloat16)
    n = convert_experts_to_int4(model)
    assert n == EXPERT_LINEARS
    want = model(IDS)
    save_int4_checkpoint(model, tmp_path / "q", max_shard_size=20_000, dtype=torch.bfloat16)
    assert (tmp_path / "q" / "model.safetensors.index.json").exists()
    state = read_state_dict(tmp_path / "q")
    assert state["model.layers.2.mlp.experts.0.gate_proj.weight_scale"].dtype == torch.bfloat16
    loaded = load_checkpoint(tmp_path / "q").eval()
    assert loaded.lm_head.weight.dtype == torch.bfloat16
    assert torch.equal(loaded(IDS), want)


def test_load_rejects_packed_tensors_without_quantization_config(tmp_path: Path) -> None:
    model = _model()
    convert_experts_to_int4(model)
    save_checkpoint(model, tmp_path / "bad")  # config has no quantization_config
    with pytest.raises(ValueError, match="quantization_config"):
        load_checkpoint(tmp_path / "bad")


def test_quantize_refuses_quantized_source(tmp_path: Path) -> None:
    model = _model()
    save_int4_checkpoint(model, tmp_path / "q")
    with pytest.raises(ValueError, match="already quantized"):
        quantize_checkpoint(tmp_path / "q", tmp_path / "qq")


@torch.no_grad()
def test_quantize_cli_roundtrip(tmp_path: Path) -> None:
    from thinkact.cli.main import app

    model = _model(seed=5)
    save_checkpoint(model, tmp_path / "float", max_shard_size=30_000)
    (tmp_path / "float" / "tokenizer_config.json").write_text("{}")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "model",
            "quantize",
            str(tmp_path / "float"),
            str(tmp_path / "int4"),
            "--group-size",
            "32",
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"quantized {EXPERT_LINEARS} expert Linears" in res.output
    assert (tmp_path / "int4" / "tokenizer_config.json").exists()
    index = json.loads((tmp_path / "int4" / "model.safetensors.index.json").read_text())
    assert "model.layers.2.mlp.experts.7.up_proj.weight_packed" in index["weight_map"]
    loaded = load_checkpoint(tmp_path / "int4").eval()
    assert torch.allclose(loaded(IDS), _fake_quant_copy(model)(IDS), atol=1e-4, rtol=0)

    res = runner.invoke(
        app,
        [
            "model",
            "generate",
            str(tmp_path / "int4"),
            "--prompt-ids",
            "3,17,99",
            "--max-new-tokens",
            "4",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    tokens = out["rows"][0]["tokens"]
    assert len(tokens) == 4
    greedy = []
    ids = [3, 17, 99]
    for _ in range(4):
        nxt = int(loaded(torch.tensor([ids]))[0, -1].argmax())
        greedy.append(nxt)
        ids.append(nxt)
    assert tokens == greedy


@torch.no_grad()
def test_prepare_experts_then_load_state_dict() -> None:
    from thinkact.model.int4_checkpoint import prepare_int4_experts

    src = _model(seed=3)
    convert_experts_to_int4(src)
    dst = _model(seed=4)
    assert prepare_int4_experts(dst) == EXPERT_LINEARS
    assert prepare_int4_experts(dst) == 0  # already INT4: nothing to swap
    dst.load_state_dict(src.state_dict())
    assert torch.equal(dst(IDS), src(IDS))
