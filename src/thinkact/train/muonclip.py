"""MuonClip: Muon for hidden matrices, AdamW for the rest, then QK-Clip and router balance.

Follows the K2 tech report's Algorithm 1 with Moonlight's update scale 0.2·sqrt(max(n, m)) so
AdamW learning rates and weight decay carry over (docs/k2.md, "MuonClip and QK-Clip"):
every 2-D hidden matrix gets Muon; embeddings, lm_head, norm gains, biases and router weights get
AdamW; the router's ``e_score_correction_bias`` is a buffer and is moved only by
``balance.update_router_bias``. One ``MuonClip.step()`` = Muon step, AdamW step, QK-Clip
(``qk_clip.qk_clip``), router-bias update, in that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from thinkact.model.model import MLA, Router
from thinkact.train.balance import BalanceStats, set_load_recording, update_router_bias
from thinkact.train.qk_clip import QKClipStats, qk_clip, set_max_logit_recording

NS_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)
UpdateScale = Literal["match_rms_adamw", "original"]
Split = tuple[int, int] | None  # (dim, chunk): orthogonalize each chunk of `dim` separately


def newton_schulz(m: torch.Tensor, steps: int = 5,
                  coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  eps: float = 1e-7, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Approximate U·Vᵀ of ``m`` [..., n, m] (batched over leading dims) by the quintic iteration.

    Singular values come out roughly in (0.5, 1.5), not exactly 1 (Moonlight); that is intended.
    ``dtype`` None: bfloat16 on an accelerator, float32 on CPU.
    """
    if m.ndim < 2:
        raise ValueError(f"newton_schulz needs a matrix, got shape {tuple(m.shape)}")
    a, b, c = coefficients
    if dtype is None:
        # CPU bfloat16 matmuls without AMX run 10-20x slower than float32 at these sizes.
        dtype = torch.float32 if m.device.type == "cpu" else torch.bfloat16
    x = m.to(dtype)
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    if tall:
        x = x.mT
    return x.to(m.dtype)


def _scale(rows: int, cols: int, kind: UpdateScale) -> float:
    if kind == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return math.sqrt(max(1.0, rows / cols))


def orthogonalized_update(u: torch.Tensor, split: Split, steps: int,
                          coefficients: tuple[float, float, float], eps: float,
                          dtype: torch.dtype | None, kind: UpdateScale) -> torch.Tensor:
    """NS(u) times the shape-dependent scale; with ``split`` each chunk is its own matrix."""
    if split is None:
        o = newton_schulz(u, steps, coefficients, eps, dtype)
        return o * _scale(u.size(-2), u.size(-1), kind)
    if u.ndim != 2:
        raise ValueError("per-chunk Muon needs a 2-D parameter")
    dim, chunk = split
    rows, cols = u.shape
    if dim == 0:
        batch = u.reshape(rows // chunk, chunk, cols)
    else:
        batch = u.reshape(rows, cols // chunk, chunk).transpose(0, 1)
    o = newton_schulz(batch, steps, coefficients, eps, dtype)
    o = o * _scale(batch.size(-2), batch.size(-1), kind)
    return o.reshape(rows, cols) if dim == 0 else o.transpose(0, 1).reshape(rows, cols)


class Muon(torch.optim.Optimizer):
    """Muon with sum-style Nesterov momentum and decoupled weight decay (Moonlight form).

    Per param group: lr, weight_decay, momentum, nesterov, ns_steps, ns_coefficients, eps,
    ns_dtype, update_scale, split. Decay uses the plain lr, the update the scaled one (Moonlight).
    """

    def __init__(self, params: Any, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                 eps: float = 1e-7, ns_dtype: torch.dtype | None = None,
                 update_scale: UpdateScale = "match_rms_adamw", split: Split = None) -> None:
        if lr < 0 or weight_decay < 0 or not 0 <= momentum < 1:
            raise ValueError(f"bad Muon hyperparameters: lr={lr} wd={weight_decay} "
                             f"momentum={momentum}")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_steps=ns_steps, ns_coefficients=ns_coefficients, eps=eps,
                        ns_dtype=ns_dtype, update_scale=update_scale, split=split)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(f"Muon takes matrices only, got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(g)
                buf = state["momentum_buffer"]
                buf.mul_(mu).add_(g)
                u = g.add(buf, alpha=mu) if group["nesterov"] else buf
                o = orthogonalized_update(u, group["split"], group["ns_steps"],
                                          group["ns_coefficients"], group["eps"],
                                          group["ns_dtype"], group["update_scale"])
                if wd:
                    p.mul_(1.0 - lr * wd)
                p.add_(o.to(p.dtype), alpha=-lr)
        return loss


@dataclass
class ParamGroups:
    """Which parameter goes to which optimizer (names for logging and tests)."""

    muon: list[tuple[str, nn.Parameter, Split]] = field(default_factory=list)
    adamw_decay: list[tuple[str, nn.Parameter]] = field(default_factory=list)
    adamw_no_decay: list[tuple[str, nn.Parameter]] = field(default_factory=list)


def group_parameters(model: nn.Module, per_head: bool = False) -> ParamGroups:
    """The grouping of the module docstring. ``per_head`` splits MLA's q/kv_b rows and
    o_proj columns by head (unconfirmed for K2; default whole matrix)."""
    groups = ParamGroups()
    split_of: dict[int, Split] = {}
    if per_head:
        for mla in (m for m in model.modules() if isinstance(m, MLA)):
            qk, kv = mla.nope + mla.rope, mla.nope + mla.v_dim
            for attr, split in (("q_proj", (0, qk)), ("q_b_proj", (0, qk)),
                                ("kv_b_proj", (0, kv)), ("o_proj", (1, mla.v_dim))):
                lin = getattr(mla, attr, None)
                if isinstance(lin, nn.Linear):
                    split_of[id(lin.weight)] = split
    embed_like = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    lm_head = getattr(model, "lm_head", None)
    if isinstance(lm_head, nn.Linear):
        embed_like.add(id(lm_head.weight))
    seen: set[int] = set()
    for mod_name, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            name = f"{mod_name}.{pname}" if mod_name else pname
            if p.ndim < 2:
                groups.adamw_no_decay.append((name, p))
            elif id(p) in embed_like or isinstance(mod, Router):
                groups.adamw_decay.append((name, p))
            else:
                groups.muon.append((name, p, split_of.get(id(p))))
    return groups


@dataclass
class StepStats:
    """What one MuonClip step did beyond the update, for logging."""

    qk_clip: QKClipStats | None
    balance: BalanceStats | None


class MuonClip:
    """Muon + AdamW + QK-Clip + router-bias balance behind one step()/zero_grad() object.

    Construction turns on max-logit and expert-load recording in the model (needed by QK-Clip and
    balance); turn it off around eval forwards with ``set_recording(model, False)`` if desired.
    """

    def __init__(self, model: nn.Module, *, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 ns_dtype: torch.dtype | None = None,
                 update_scale: UpdateScale = "match_rms_adamw", per_head: bool = False,
                 adamw_lr: float | None = None, adamw_weight_decay: float | None = None,
                 adamw_betas: tuple[float, float] = (0.9, 0.95), adamw_eps: float = 1e-8,
                 qk_clip_tau: float | None = 100.0, qk_clip_include_mscale: bool = True,
                 bias_update_rate: float = 1e-3) -> None:
        self.model = model
        self.groups = group_parameters(model, per_head)
        by_split: dict[Split, list[nn.Parameter]] = {}
        for _, p, split in self.groups.muon:
            by_split.setdefault(split, []).append(p)
        muon_groups = [{"params": ps, "split": s, "base_lr": lr} for s, ps in by_split.items()]
        self.muon = Muon(muon_groups or [{"params": []}], lr=lr, weight_decay=weight_decay,
                         momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                         ns_dtype=ns_dtype, update_scale=update_scale)
        a_lr = lr if adamw_lr is None else adamw_lr
        a_wd = weight_decay if adamw_weight_decay is None else adamw_weight_decay
        adamw_groups = [
            {"params": [p for _, p in self.groups.adamw_decay], "weight_decay": a_wd,
             "base_lr": a_lr},
            {"params": [p for _, p in self.groups.adamw_no_decay], "weight_decay": 0.0,
             "base_lr": a_lr},
        ]
        self.adamw = torch.optim.AdamW([g for g in adamw_groups if g["params"]] or
                                       [{"params": []}], lr=a_lr, betas=adamw_betas,
                                       eps=adamw_eps)
        self.qk_clip_tau = qk_clip_tau
        self.qk_clip_include_mscale = qk_clip_include_mscale
        self.bias_update_rate = bias_update_rate
        self.steps = 0
        set_max_logit_recording(model, qk_clip_tau is not None)
        set_load_recording(model, bias_update_rate > 0)

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        return self.muon, self.adamw

    def step(self) -> StepStats:
        """Apply the update, then QK-Clip (from this step's recorded logits), then balance."""
        self.muon.step()
        self.adamw.step()
        self.steps += 1
        clip = (qk_clip(self.model, self.qk_clip_tau, self.qk_clip_include_mscale)
                if self.qk_clip_tau is not None else None)
        bal = (update_router_bias(self.model, self.bias_update_rate)
               if self.bias_update_rate > 0 else None)
        return StepStats(qk_clip=clip, balance=bal)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def set_lr(self, muon_lr: float, adamw_lr: float | None = None) -> None:
        """Set this step's learning rates (AdamW defaults to the Muon value, as Moonlight)."""
        for g in self.muon.param_groups:
            g["lr"] = muon_lr
        for g in self.adamw.param_groups:
            g["lr"] = muon_lr if adamw_lr is None else adamw_lr

    def set_lr_scale(self, scale: float) -> None:
        """Schedules: every group's lr = its constructor lr × ``scale`` (warm-up, cosine …)."""
        for opt in self.optimizers:
            for g in opt.param_groups:
                g["lr"] = g.get("base_lr", g["lr"]) * scale

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict(),
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"muon", "adamw"} - state.keys()
        if missing:
            raise KeyError(f"MuonClip state_dict lacks {sorted(missing)}")
        # the Newton-Schulz dtype is this machine's setting, not run state: keep ours
        ns = [g["ns_dtype"] for g in self.muon.param_groups]
        self.muon.load_state_dict(state["muon"])
        for group, dtype in zip(self.muon.param_groups, ns, strict=True):
            group["ns_dtype"] = dtype
        self.adamw.load_state_dict(state["adamw"])
        self.steps = int(state.get("steps", 0))


def set_recording(model: nn.Module, on: bool) -> None:
    """Turn max-logit and expert-load recording on or off for every layer."""
    set_max_logit_recording(model, on)
    set_load_recording(model, on)
