"""QK-Clip for MLA (K2 tech report; docs/k2.md, "MuonClip and QK-Clip"), applied after the
optimizer update.

Each ``MLA`` with ``record_max_logits`` keeps the per-head running max of its scaled pre-softmax
logits. For a head whose max S exceeds τ, γ = τ/S; scaling its nope query rows and nope key rows
(kv_b_proj) by √γ and its rope query rows by γ multiplies every logit of that head by exactly γ
(RoPE is linear), so the next forward's max is τ. The shared rope key (kv_a_proj_with_mqa) serves
all heads and the v rows do not enter the logits: both stay untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from thinkact.model.model import MLA


@dataclass
class LayerClip:
    """One attention layer's recorded max logit and how many of its heads were clipped."""

    layer: int
    max_logit: float
    heads_clipped: int


@dataclass
class QKClipStats:
    """Per-layer results of one QK-Clip pass (layers without a recording are absent)."""

    layers: list[LayerClip] = field(default_factory=list)

    @property
    def max_logit(self) -> float:
        return max((c.max_logit for c in self.layers), default=float("nan"))

    @property
    def heads_clipped(self) -> int:
        return sum(c.heads_clipped for c in self.layers)


def attention_layers(model: nn.Module) -> list[MLA]:
    """Every MLA module, in model order."""
    return [m for m in model.modules() if isinstance(m, MLA)]


def set_max_logit_recording(model: nn.Module, on: bool) -> None:
    """Turn per-head max-logit recording on/off (on forces the non-SDPA attention path)."""
    for attn in attention_layers(model):
        attn.record_max_logits = on
        attn.max_logits = None


def recorded_max_logits(attn: MLA, include_mscale: bool = True) -> torch.Tensor | None:
    """The head maxima [H] as QK-Clip compares them with τ.

    The recording uses the softmax's own scale (qk_head_dim^-0.5 × YaRN mscale²). With
    ``include_mscale=False`` the mscale² factor is divided out, giving the plain
    (1/√d)·max q·k of the tech report (UNCONFIRMED which one K2 used once YaRN was on).
    """
    if attn.max_logits is None:
        return None
    m = attn.max_logits.float()
    if not include_mscale:
        m = m * ((attn.nope + attn.rope) ** -0.5 / attn.scale)
    return m


@torch.no_grad()
def clip_heads(attn: MLA, gamma: torch.Tensor) -> None:
    """Scale head h's query/key weights so its logits scale by gamma[h] (gamma in (0, 1])."""
    h, nope, rope = attn.n_heads, attn.nope, attn.rope
    if gamma.shape != (h,):
        raise ValueError(f"gamma must have shape ({h},), got {tuple(gamma.shape)}")
    q_lin = attn.q_proj if attn.q_proj is not None else attn.q_b_proj
    wq = q_lin.weight.view(h, nope + rope, -1)
    g = gamma.to(device=wq.device, dtype=torch.float32)
    root = g.sqrt()
    wq[:, :nope].mul_(root.to(wq.dtype).view(h, 1, 1))
    wq[:, nope:].mul_(g.to(wq.dtype).view(h, 1, 1))
    wkv = attn.kv_b_proj.weight.view(h, nope + attn.v_dim, -1)
    wkv[:, :nope].mul_(root.to(wkv.dtype).view(h, 1, 1))


@torch.no_grad()
def qk_clip(model: nn.Module, tau: float = 100.0, include_mscale: bool = True,
            reset: bool = True) -> QKClipStats:
    """Per-head QK-Clip from the recorded maxima; resets the recordings (``reset``) for the next
    step. Returns per-layer max logit and clipped-head counts for logging."""
    if tau <= 0:
        raise ValueError(f"QK-Clip threshold tau must be positive, got {tau}")
    stats = QKClipStats()
    for i, attn in enumerate(attention_layers(model)):
        s = recorded_max_logits(attn, include_mscale)
        if s is None:
            continue
        over = s > tau
        n = int(over.sum())
        if n:
            gamma = torch.where(over, tau / s, torch.ones_like(s))
            clip_heads(attn, gamma)
        stats.layers.append(LayerClip(layer=i, max_logit=float(s.max()), heads_clipped=n))
        if reset:
            attn.max_logits = None
    return stats
