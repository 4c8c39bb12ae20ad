"""Aux-loss-free router balancing (DeepSeek-V3's bias update; docs/k2.md, "Router").

Each ``MoE`` with ``record_load`` counts how many (token, slot) picks each expert got. After the
optimizer step, every expert's ``e_score_correction_bias`` moves by ``rate`` toward balance:
down if it got more than the mean load, up if less. The bias steers selection only, never the
mixing weights, so no gradient flows through it and no auxiliary loss is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from thinkact.model.model import MoE


@dataclass
class LayerBalance:
    """One MoE layer's recorded load: max violation = max load / mean load - 1 (0 = balanced)."""

    layer: int
    max_violation: float
    tokens: int


@dataclass
class BalanceStats:
    layers: list[LayerBalance] = field(default_factory=list)

    @property
    def max_violation(self) -> float:
        return max((b.max_violation for b in self.layers), default=float("nan"))


def moe_layers(model: nn.Module) -> list[MoE]:
    return [m for m in model.modules() if isinstance(m, MoE)]


def set_load_recording(model: nn.Module, on: bool) -> None:
    """Turn per-expert load counting on/off and clear what was counted."""
    for moe in moe_layers(model):
        moe.record_load = on
        moe.load = None


@torch.no_grad()
def update_router_bias(model: nn.Module, rate: float = 1e-3, reset: bool = True) -> BalanceStats:
    """bias += rate · sign(mean_load − load) for each MoE layer with a recording."""
    if rate < 0:
        raise ValueError(f"bias update rate must be >= 0, got {rate}")
    stats = BalanceStats()
    for i, moe in enumerate(moe_layers(model)):
        if moe.load is None:
            continue
        load = moe.load.float()
        mean = load.mean()
        bias = moe.gate.e_score_correction_bias
        bias.add_(torch.sign(mean - load).to(bias.device, bias.dtype), alpha=rate)
        vio = float(load.max() / mean - 1) if float(mean) > 0 else 0.0
        stats.layers.append(LayerBalance(layer=i, max_violation=vio, tokens=int(load.sum())))
        if reset:
            moe.load = None
    return stats
