"""thinkact.model: the K2 / DeepSeek-V3 architecture, HF checkpoints, presets and sizing.

Public API (imported lazily so ``import thinkact.model`` does not pull in torch):
``K2Config``, ``RopeScaling`` (config), ``K2ForCausalLM`` (model), ``KVCache`` (cache),
``load_checkpoint`` / ``save_checkpoint`` / ``register_module_loader`` (checkpoint),
``get_preset`` / ``PRESETS`` (presets), ``size_model`` (sizing).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "K2Config": "config",
    "RopeScaling": "config",
    "K2ForCausalLM": "model",
    "KVCache": "cache",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "register_module_loader": "checkpoint",
    "get_preset": "presets",
    "PRESETS": "presets",
    "size_model": "sizing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"thinkact.model.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'thinkact.model' has no attribute {name!r}")
