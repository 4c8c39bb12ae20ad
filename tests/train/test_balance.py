"""Aux-loss-free balancing: an overloaded expert's bias goes down, underloaded ones go up, and
repeated updates pull a badly skewed router back toward balance."""

from __future__ import annotations

import pytest
import torch

from thinkact.model.model import K2ForCausalLM, MoE
from thinkact.model.presets import tiny
from thinkact.train.balance import moe_layers, set_load_recording, update_router_bias

pytestmark = pytest.mark.torch


def _model() -> K2ForCausalLM:
    torch.manual_seed(0)
    return K2ForCausalLM(tiny().replace(n_group=1, topk_group=1))


def _forward(model: K2ForCausalLM, seed: int = 0) -> None:
    ids = torch.randint(0, 256, (4, 16), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model(ids)


def test_overloaded_expert_bias_goes_down() -> None:
    model = _model()
    moe: MoE = moe_layers(model)[0]
    moe.gate.e_score_correction_bias[3] = 5.0  # expert 3 wins every token's first slot
    set_load_recording(model, True)
    _forward(model)
    assert moe.load is not None
    load = moe.load.clone()
    assert int(load[3]) == 4 * 16 and int(load.sum()) == 4 * 16 * moe.gate.top_k
    bias0 = moe.gate.e_score_correction_bias.clone()
    stats = update_router_bias(model, rate=0.01)
    delta = moe.gate.e_score_correction_bias - bias0
    mean = load.float().mean()
    assert float(delta[3]) == pytest.approx(-0.01, rel=1e-4)  # fp32 bias around 5.0
    torch.testing.assert_close(delta[load.float() < mean], torch.full_like(
        delta[load.float() < mean], 0.01))
    assert stats.layers[0].max_violation == pytest.approx(float(load.max() / mean - 1))
    assert stats.layers[0].tokens == int(load.sum())
    assert all(m.load is None for m in moe_layers(model))  # reset for the next step


def test_repeated_updates_restore_balance() -> None:
    model = _model()
    for moe in moe_layers(model):
        moe.gate.e_score_correction_bias[0] = 0.3
    set_load_recording(model, True)
    history = []
    for step in range(60):
        _forward(model, seed=step % 4)
        history.append(update_router_bias(model, rate=0.01).max_violation)
    assert history[-1] < 0.5 * history[0], history
    for moe in moe_layers(model):
        assert float(moe.gate.e_score_correction_bias[0]) < 0.3


def test_no_recording_no_update() -> None:
    model = _model()
    assert update_router_bias(model).layers == []
    with pytest.raises(ValueError, match="rate"):
        update_router_bias(model, rate=-1.0)
