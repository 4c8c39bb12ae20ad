"""INT4 quantization-aware training of the routed experts (straight-through estimator).

``enable_qat(model)`` makes every routed-expert Linear compute with its weight quantized to
symmetric INT4 in groups of 32 input columns and dequantized again, exactly the weight that
:func:`~thinkact.model.int4_checkpoint.save_int4_checkpoint` will store. The rounding has no
gradient, so the backward pass treats it as the identity (straight-through): the float
weights keep learning, while the loss is that of the INT4 model. ``disable_qat`` undoes it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from thinkact.model.int4 import ScaleRule, fake_quantize
from thinkact.model.int4_checkpoint import is_expert_linear
from thinkact.model.quant_config import DEFAULT_GROUP_SIZE


def ste_int4(w: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE,
             rule: ScaleRule = "absmax/7.5") -> torch.Tensor:
    """The INT4 round trip of ``w`` forward, the identity backward."""
    return w + (fake_quantize(w.detach(), group_size, rule) - w).detach()


def _qat_forward(m: nn.Linear, group_size: int, rule: ScaleRule
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, ste_int4(m.weight, group_size, rule), m.bias)
    return forward


def expert_linears(model: nn.Module) -> list[nn.Linear]:
    return [m for name, m in model.named_modules()
            if is_expert_linear(name) and isinstance(m, nn.Linear)]


def enable_qat(model: nn.Module, group_size: int = DEFAULT_GROUP_SIZE,
               rule: ScaleRule = "absmax/7.5") -> int:
    """Fake-quantize every routed-expert Linear from now on; returns how many."""
    linears = expert_linears(model)
    for m in linears:
        m.forward = _qat_forward(m, group_size, rule)  # type: ignore[method-assign,assignment]
    return len(linears)


def disable_qat(model: nn.Module) -> None:
    for m in expert_linears(model):
        if "forward" in m.__dict__:
            del m.forward


def qat_enabled(model: nn.Module) -> bool:
    return any("forward" in m.__dict__ for m in expert_linears(model))
