"""Meta-device sizing: the 1T K2-Thinking shape against its derived figures (docs/k2.md,
"Sizes"), a tiny model against its real parameter count, and ``thinkact model info``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from thinkact.cli.main import app
from thinkact.model.checkpoint import save_checkpoint
from thinkact.model.model import K2ForCausalLM, MoE
from thinkact.model.presets import PRESETS, get_preset
from thinkact.model.sizing import size_model

pytestmark = pytest.mark.torch


def test_kimi_k2_thinking_matches_reference_figures() -> None:
    s = size_model(get_preset("kimi-k2-thinking"))
    assert s.total == pytest.approx(1.026e12, rel=1e-3)
    assert s.routed_experts == pytest.approx(1.015e12, rel=1e-3)
    assert s.attention / 61 == pytest.approx(101.1e6, rel=1e-3)
    # Active: ≈31.7B without the input embedding table, ≈32.9B with it (docs/k2.md, "Sizes").
    assert s.active == pytest.approx(31.7e9, rel=2e-3)
    assert s.active_with_embedding == pytest.approx(32.9e9, rel=2e-3)
    assert s.kv_values_latent_per_layer == 576
    assert s.kv_values_naive_per_layer == 64 * 320
    assert s.kv_bytes_per_token() == 35_136 * 2  # 68.6 KiB per token over 61 layers
    assert s.kv_bytes_per_token() * 262_144 == pytest.approx(18.4e9, rel=2e-3)
    assert s.weight_bytes_int4() == pytest.approx(594e9, rel=2e-3)


def test_bench_18m_matches_the_benchmark_shape() -> None:
    s = size_model(get_preset("bench-18m"))
    assert s.total == pytest.approx(18.1e6, rel=5e-3)
    assert s.active == pytest.approx(6.4e6, rel=5e-3)


@pytest.mark.parametrize("name", ["tiny", "tiny-int4", "bench-18m"])
def test_meta_sizing_equals_a_real_models_counts(name: str) -> None:
    cfg = get_preset(name)
    s = size_model(cfg)
    m = K2ForCausalLM(cfg, init=False)
    assert s.total == sum(p.numel() for p in m.parameters())
    routed = sum(p.numel() for layer in m.model.layers if isinstance(layer.mlp, MoE)
                 for p in layer.mlp.experts.parameters())
    assert s.routed_experts == routed
    per_token = routed * cfg.num_experts_per_tok // cfg.n_routed_experts
    assert s.active == s.total - routed + per_token - m.model.embed_tokens.weight.numel()


def test_every_preset_is_valid() -> None:
    for name in PRESETS:
        assert get_preset(name).num_hidden_layers > 0
    with pytest.raises(KeyError, match="unknown preset"):
        get_preset("gpt-5")


def test_cli_info_for_preset_and_checkpoint_dir(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["model", "info", "kimi-k2-thinking"])
    assert res.exit_code == 0, res.output
    assert "1,026,408,209,408" in res.output and "594.21 GB" in res.output
    assert "576 values/layer" in res.output

    torch.manual_seed(0)
    save_checkpoint(K2ForCausalLM(get_preset("tiny")), tmp_path)
    res = runner.invoke(app, ["model", "info", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert f"{size_model(get_preset('tiny')).total:,}" in res.output

    res = runner.invoke(app, ["model", "info", "no-such-thing"])
    assert res.exit_code != 0 and "neither a preset" in res.output
