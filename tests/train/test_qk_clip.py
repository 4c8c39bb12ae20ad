"""QK-Clip scales each over-threshold head's logits by exactly gamma = tau / S_max: a fresh
forward then records tau for clipped heads and the old maxima for the rest, while the value rows
and the shared rope key stay bit-identical."""

from __future__ import annotations

import pytest
import torch

from thinkact.model.model import MLA, K2ForCausalLM
from thinkact.model.presets import tiny
from thinkact.train.qk_clip import (
    attention_layers,
    qk_clip,
    recorded_max_logits,
    set_max_logit_recording,
)

pytestmark = pytest.mark.torch


def _model(q_lora: bool) -> K2ForCausalLM:
    torch.manual_seed(0)
    cfg = tiny().replace(initializer_range=0.3)  # large weights: logits of order 1-10
    if not q_lora:
        cfg = cfg.replace(q_lora_rank=None)
    return K2ForCausalLM(cfg)


def _ids() -> torch.Tensor:
    return torch.randint(0, 256, (2, 20), generator=torch.Generator().manual_seed(7))


def _record(model: K2ForCausalLM, include_mscale: bool = True) -> list[torch.Tensor]:
    set_max_logit_recording(model, True)
    with torch.no_grad():
        model(_ids())
    out = [recorded_max_logits(a, include_mscale) for a in attention_layers(model)]
    assert all(m is not None for m in out)
    return [m for m in out if m is not None]


def _capture_inputs(model: K2ForCausalLM) -> list[tuple[object, ...]]:
    """Each attention layer's forward arguments, so layers can be re-run on the same input."""
    captured: list[tuple[object, ...]] = []
    hooks = [a.register_forward_pre_hook(lambda _m, args: captured.append(args))
             for a in attention_layers(model)]
    with torch.no_grad():
        model(_ids())
    for h in hooks:
        h.remove()
    return captured


def _rerun(model: K2ForCausalLM, inputs: list[tuple[object, ...]],
           include_mscale: bool) -> list[torch.Tensor]:
    """Fresh per-layer forwards on the pre-clip inputs: clipping an early layer changes the
    input of later ones, so whole-model maxima would not isolate each layer's rule."""
    set_max_logit_recording(model, True)
    out = []
    with torch.no_grad():
        for attn, args in zip(attention_layers(model), inputs, strict=True):
            attn(*args)
            m = recorded_max_logits(attn, include_mscale)
            assert m is not None
            out.append(m)
    return out


def _untouched(attn: MLA) -> dict[str, torch.Tensor]:
    h, nope = attn.n_heads, attn.nope
    return {
        "v_rows": attn.kv_b_proj.weight.view(h, nope + attn.v_dim, -1)[:, nope:].clone(),
        "kv_a (shared rope key and latent)": attn.kv_a_proj_with_mqa.weight.clone(),
        "o_proj": attn.o_proj.weight.clone(),
    }


@pytest.mark.parametrize("q_lora", [True, False])
@pytest.mark.parametrize("include_mscale", [True, False])
def test_clipped_heads_land_exactly_on_tau(q_lora: bool, include_mscale: bool) -> None:
    model = _model(q_lora)
    inputs = _capture_inputs(model)
    before = _rerun(model, inputs, include_mscale)
    heads = torch.cat(before)
    tau = float(heads.median())  # about half the heads over the threshold
    over = [m > tau for m in before]
    assert 0 < int(torch.cat(over).sum()) < heads.numel()
    kept = [_untouched(a) for a in attention_layers(model)]

    stats = qk_clip(model, tau, include_mscale)
    assert all(a.max_logits is None for a in attention_layers(model))  # reset for next step
    assert [c.heads_clipped for c in stats.layers] == [int(o.sum()) for o in over]
    assert stats.max_logit == pytest.approx(float(heads.max()))

    after = _rerun(model, inputs, include_mscale)
    for m0, m1, o in zip(before, after, over, strict=True):
        torch.testing.assert_close(m1[o], torch.full_like(m1[o], tau), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(m1[~o], m0[~o], rtol=1e-6, atol=1e-7)
    for attn, old in zip(attention_layers(model), kept, strict=True):
        for name, t in _untouched(attn).items():
            assert torch.equal(t, old[name]), name


def test_mscale_choice_changes_the_compared_value() -> None:
    """tiny() runs YaRN (factor 4): the softmax scale carries mscale² = (1 + 0.1 ln 4)²."""
    model = _model(True)
    with_m = _record(model, True)
    without = _record(model, False)
    mscale_sq = (1 + 0.1 * torch.log(torch.tensor(4.0))) ** 2
    for a, b in zip(with_m, without, strict=True):
        torch.testing.assert_close(a, b * mscale_sq)
    tau = float(torch.cat(without).max()) * 1.01  # above every plain max, below some scaled ones
    assert float(torch.cat(with_m).max()) > tau
    assert qk_clip(model, tau, include_mscale=False).heads_clipped == 0
    _record(model)
    assert qk_clip(model, tau, include_mscale=True).heads_clipped > 0


def test_no_head_over_tau_changes_nothing() -> None:
    model = _model(True)
    heads = torch.cat(_record(model))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    stats = qk_clip(model, float(heads.max()) + 1.0)
    assert stats.heads_clipped == 0 and len(stats.layers) == model.config.num_hidden_layers
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_unrecorded_layers_are_skipped_and_bad_tau_rejected() -> None:
    model = _model(True)
    assert qk_clip(model, 1.0).layers == []
    with pytest.raises(ValueError, match="tau"):
        qk_clip(model, 0.0)


def test_training_forward_records_the_same_maxima_and_output_as_the_naive_cache() -> None:
    """Uncached training forwards take fused SDPA (V padded to the query width) and record the
    causal maxima in row blocks; a cached naive forward forms the full score matrix. 600
    positions cross two block boundaries and end in a partial block."""
    torch.manual_seed(0)
    model = K2ForCausalLM(tiny().replace(initializer_range=0.3, max_position_embeddings=1024))
    model.attn_impl = "naive"
    ids = torch.randint(0, 256, (2, 600), generator=torch.Generator().manual_seed(3))
    set_max_logit_recording(model, True)
    with torch.no_grad():
        fused = model.hidden_states(ids)
        fused_max = [a.max_logits for a in attention_layers(model)]
        for a in attention_layers(model):
            a.max_logits = None
        cached = model.hidden_states(ids, cache=model.new_cache(2, 600))
        cached_max = [a.max_logits for a in attention_layers(model)]
    torch.testing.assert_close(fused, cached, atol=1e-4, rtol=1e-4)
    for f, c in zip(fused_max, cached_max, strict=True):
        assert f is not None and c is not None
        torch.testing.assert_close(f, c, atol=1e-5, rtol=1e-5)
