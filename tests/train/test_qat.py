"""INT4 QAT: the fake-quantized forward is the INT4 checkpoint's forward, and gradients pass
straight through the rounding to the float weights."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from support.k2_hf import make_routing_nontrivial, tiny_config
from thinkact.model.checkpoint import load_checkpoint
from thinkact.model.int4 import Int4Linear, fake_quantize
from thinkact.model.int4_checkpoint import is_expert_linear, save_int4_checkpoint
from thinkact.model.model import K2ForCausalLM
from thinkact.train.qat import disable_qat, enable_qat, qat_enabled

IDS = torch.tensor([[3, 17, 99, 4, 55, 21, 8, 120, 64, 1, 2, 77]])


def _model() -> K2ForCausalLM:
    torch.manual_seed(0)
    model = K2ForCausalLM(tiny_config(moe_intermediate_size=32, initializer_range=0.1))
    make_routing_nontrivial(model)
    return model.eval()


def test_qat_forward_is_the_fake_quantized_model_and_the_gradient_passes_straight_through(
        ) -> None:
    model = _model()
    ref = copy.deepcopy(model)
    with torch.no_grad():
        for name, mod in ref.named_modules():
            if is_expert_linear(name):
                mod.weight.copy_(fake_quantize(mod.weight))
    plain = model(IDS).detach()
    assert enable_qat(model) == 2 * 8 * 3 and qat_enabled(model)
    out = model(IDS)
    assert torch.equal(out, ref(IDS))
    assert not torch.allclose(out, plain)  # quantization changes the logits
    out.square().mean().backward()
    ref(IDS).square().mean().backward()
    name = "model.layers.2.mlp.experts.0.up_proj.weight"
    got, want = model.get_parameter(name).grad, ref.get_parameter(name).grad
    assert got is not None and want is not None and got.abs().sum() > 0
    assert torch.allclose(got, want)  # d loss / d w == d loss / d fake_quant(w)
    disable_qat(model)
    assert not qat_enabled(model) and torch.equal(model(IDS), plain)


@torch.no_grad()
def test_the_exported_int4_checkpoint_reproduces_the_qat_logits(tmp_path: Path) -> None:
    model = _model()
    enable_qat(model)
    qat_logits = model(IDS)
    disable_qat(model)
    save_int4_checkpoint(model, tmp_path / "int4")
    loaded = load_checkpoint(tmp_path / "int4")
    assert sum(isinstance(m, Int4Linear) for m in loaded.modules()) == 2 * 8 * 3
    assert torch.allclose(loaded(IDS), qat_logits, atol=1e-5, rtol=0)
