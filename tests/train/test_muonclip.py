"""MuonClip: Newton–Schulz properties, the Muon update against a hand computation and
torch.optim.Muon, the MuonClip grouping, learning-rate control, state round trip, and real
training."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from thinkact.model.model import K2ForCausalLM
from thinkact.model.presets import tiny
from thinkact.train.muonclip import (
    Muon,
    MuonClip,
    group_parameters,
    newton_schulz,
)

pytestmark = pytest.mark.torch


def _model(seed: int = 0, **changes: object) -> K2ForCausalLM:
    torch.manual_seed(seed)
    return K2ForCausalLM(tiny().replace(**changes) if changes else tiny())


def _batch(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (4, 24), generator=torch.Generator().manual_seed(seed))


def _loss(model: K2ForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def _ns_by_hand(g: torch.Tensor) -> torch.Tensor:
    """The Newton–Schulz recipe (docs/k2.md) written out for one fp32 matrix."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.T if g.shape[0] > g.shape[1] else g
    x = x / (x.norm() + 1e-7)
    for _ in range(5):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if g.shape[0] > g.shape[1] else x


@pytest.mark.parametrize("shape", [(32, 64), (64, 32), (48, 48), (3, 16, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_newton_schulz_orthogonalizes(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    o = newton_schulz(g, dtype=dtype)
    assert o.shape == g.shape and o.dtype == g.dtype
    sv = torch.linalg.svdvals(o)
    assert sv.min() > 0.5 and sv.max() < 1.5, sv
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    cos = F.cosine_similarity(o.flatten(-2), (u @ vh).flatten(-2), dim=-1)
    assert (cos > 0.95).all(), cos  # same singular vectors, roughly equalized spectrum


def test_newton_schulz_matches_hand_computation() -> None:
    g = torch.randn(24, 40, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(newton_schulz(g, dtype=torch.float32), _ns_by_hand(g))
    torch.testing.assert_close(newton_schulz(g.T.contiguous(), dtype=torch.float32),
                               _ns_by_hand(g.T))


def test_muon_two_steps_match_direct_computation() -> None:
    gen = torch.Generator().manual_seed(3)
    w0 = torch.randn(16, 40, generator=gen)
    grads = [torch.randn(16, 40, generator=gen) for _ in range(2)]
    p = torch.nn.Parameter(w0.clone())
    opt = Muon([p], lr=0.05, weight_decay=0.1, momentum=0.95, ns_dtype=torch.float32)
    w, buf = w0.clone(), torch.zeros_like(w0)
    for g in grads:
        p.grad = g.clone()
        opt.step()
        buf = 0.95 * buf + g
        o = _ns_by_hand(g + 0.95 * buf) * 0.2 * math.sqrt(40)
        w = w - 0.05 * (o + 0.1 * w)
    torch.testing.assert_close(p.detach(), w)


def test_muon_agrees_with_torch_optim_muon() -> None:
    gen = torch.Generator().manual_seed(4)
    w0 = torch.randn(32, 64, generator=gen)
    mine = torch.nn.Parameter(w0.clone())
    ref = torch.nn.Parameter(w0.clone())
    a = Muon([mine], lr=0.02, weight_decay=0.1, ns_dtype=torch.float32)
    b = torch.optim.Muon([ref], lr=0.02, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    for _ in range(3):
        g = torch.randn(32, 64, generator=gen)
        mine.grad, ref.grad = g.clone(), g.clone()
        a.step()
        b.step()
    # EMA vs sum momentum differ by a constant factor that NS normalizes away; torch runs NS in
    # bf16 (about 1-3% relative error), ours here in fp32. A wrong scale, momentum or decay rule
    # would be off by far more.
    delta_mine, delta_ref = mine.detach() - w0, ref.detach() - w0
    assert (delta_mine - delta_ref).norm() < 0.03 * delta_ref.norm()


def test_grouping_follows_section_7_7() -> None:
    model = _model()
    groups = group_parameters(model)
    muon = {n for n, _, _ in groups.muon}
    decay = {n for n, _ in groups.adamw_decay}
    no_decay = {n for n, _ in groups.adamw_no_decay}
    all_params = {n for n, _ in model.named_parameters()}
    assert muon | decay | no_decay == all_params
    assert len(muon) + len(decay) + len(no_decay) == len(all_params)  # each exactly once
    attn = "model.layers.1.self_attn."
    for name in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"):
        assert attn + name + ".weight" in muon
    for name in ("model.layers.0.mlp.gate_proj.weight", "model.layers.2.mlp.experts.7.down_proj"
                 ".weight", "model.layers.1.mlp.shared_experts.up_proj.weight"):
        assert name in muon
    assert decay == {"model.embed_tokens.weight", "lm_head.weight", "model.layers.1.mlp.gate"
                     ".weight", "model.layers.2.mlp.gate.weight"}
    assert "model.norm.weight" in no_decay and attn + "q_a_layernorm.weight" in no_decay
    assert not any("e_score_correction_bias" in n for n in all_params)  # a buffer: neither
    assert all(s is None for _, _, s in groups.muon)
    no_lora = {n for n, _, _ in group_parameters(_model(q_lora_rank=None)).muon}
    assert attn + "q_proj.weight" in no_lora


def test_per_head_split_orthogonalizes_each_head() -> None:
    model = _model()
    cfg = model.config
    splits = {n: s for n, _, s in group_parameters(model, per_head=True).muon if s is not None}
    qk, kv = cfg.qk_head_dim, cfg.qk_nope_head_dim + cfg.v_head_dim
    assert splits["model.layers.0.self_attn.q_b_proj.weight"] == (0, qk)
    assert splits["model.layers.0.self_attn.kv_b_proj.weight"] == (0, kv)
    assert splits["model.layers.0.self_attn.o_proj.weight"] == (1, cfg.v_head_dim)
    assert len(splits) == 3 * cfg.num_hidden_layers
    w0 = torch.randn(4 * 6, 10)
    p = torch.nn.Parameter(w0.clone())
    p.grad = torch.randn(24, 10)
    Muon([p], lr=1.0, weight_decay=0.0, nesterov=False, ns_dtype=torch.float32,
         split=(0, 6)).step()
    for h in range(4):
        want = w0[h * 6:(h + 1) * 6] - _ns_by_hand(p.grad[h * 6:(h + 1) * 6]) * 0.2 * math.sqrt(10)
        torch.testing.assert_close(p.detach()[h * 6:(h + 1) * 6], want)
    q = torch.nn.Parameter(w0.T.clone())
    q.grad = p.grad.T.clone()
    Muon([q], lr=1.0, weight_decay=0.0, nesterov=False, ns_dtype=torch.float32,
         split=(1, 6)).step()
    torch.testing.assert_close(q.detach(), p.detach().T)  # column split = row split transposed


def test_set_lr_reaches_both_optimizers() -> None:
    model = _model()
    opt = MuonClip(model, lr=0.02, adamw_lr=0.003, qk_clip_tau=None, bias_update_rate=0.0)
    before = copy.deepcopy(model.state_dict())
    opt.set_lr(0.0)  # lr 0 also switches off the (lr-scaled) weight decay: nothing may move
    _loss(model, _batch()).backward()
    opt.step()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    opt.set_lr_scale(0.5)
    assert {g["lr"] for g in opt.muon.param_groups} == {0.01}
    assert {g["lr"] for g in opt.adamw.param_groups} == {0.0015}
    opt.set_lr(0.1, 0.2)
    assert {g["lr"] for g in opt.adamw.param_groups} == {0.2}


def _train(model: K2ForCausalLM, opt: MuonClip, ids: torch.Tensor, steps: int,
           clipped: list[int] | None = None) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = _loss(model, ids)  # recording is on: the non-SDPA path must carry autograd
        loss.backward()
        stats = opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if clipped is not None and stats.qk_clip is not None:
            clipped.append(stats.qk_clip.heads_clipped)
    return losses


@pytest.mark.parametrize("tau", [100.0, 0.5])
def test_training_with_muonclip_reduces_loss(tau: float) -> None:
    """Memorizing one fixed batch; tau 0.5 makes QK-Clip fire on most later steps."""
    torch.set_num_threads(1)
    model = _model()
    opt = MuonClip(model, lr=0.02, weight_decay=0.01, qk_clip_tau=tau, bias_update_rate=1e-3)
    clipped: list[int] = []
    losses = _train(model, opt, _batch(), 25, clipped)
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.1 * losses[0], losses
    assert opt.steps == 25 and len(clipped) == 25
    assert (sum(clipped) > 0) == (tau < 1.0)


def test_state_dict_round_trip_resumes_identically() -> None:
    torch.set_num_threads(1)
    ids = _batch(5)
    model = _model()
    opt = MuonClip(model, lr=0.01, qk_clip_tau=100.0)
    _train(model, opt, ids, 3)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    _train(model, opt, ids, 2)

    clone = _model(seed=123)
    clone.load_state_dict(saved_model)
    opt2 = MuonClip(clone, lr=0.5, qk_clip_tau=100.0)  # lr comes back from the state too
    opt2.load_state_dict(saved_opt)
    assert opt2.steps == 3
    _train(clone, opt2, ids, 2)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(clone.state_dict()[k], v)
    with pytest.raises(KeyError, match="adamw"):
        opt2.load_state_dict({"muon": saved_opt["muon"]})


def test_a_resumed_state_keeps_this_machines_newton_schulz_dtype() -> None:
    """A run state saved with bfloat16 Newton-Schulz (the old default) resumes with the
    dtype the new optimizer was built with: it is a setting of the machine, not run state."""
    model = _model()
    old = MuonClip(model, lr=0.01, ns_dtype=torch.bfloat16)
    _train(model, old, _batch(5), 1)
    resumed = MuonClip(_model(seed=1), lr=0.01)
    resumed.load_state_dict(copy.deepcopy(old.state_dict()))
    assert {g["ns_dtype"] for g in resumed.muon.param_groups} == {None}
    assert len(resumed.muon.state) == len(old.muon.state) > 0  # the momentum came back
