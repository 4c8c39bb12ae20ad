"""INT4 (compressed-tensors ``pack-quantized``) checkpoints: convert, save, load.

Only the routed experts (``model.layers.L.mlp.experts.E.{gate,up,down}_proj``) are INT4, as in
K2 Thinking; attention, shared experts, dense MLPs, the router and lm_head stay float. The
on-disk triple per expert Linear ``P`` is ``P.weight_packed`` / ``P.weight_scale`` /
``P.weight_shape`` and config.json gains a K2-shaped ``quantization_config``.

Three layers, usable separately:

* state dicts: :func:`quantize_state_dict`, :func:`dequantize_state_dict`;
* directories: :func:`quantize_checkpoint` (float HF dir -> INT4 HF dir, shard layout kept,
  one shard in memory at a time; what ``thinkact model quantize`` runs),
  :func:`read_state_dict`;
* modules: :func:`convert_experts_to_int4` (swap expert ``nn.Linear`` for
  :class:`~thinkact.model.int4.Int4Linear`, quantizing), :func:`save_int4_checkpoint`, and
  :func:`load_int4_module`, the module loader registered with
  ``thinkact.model.checkpoint``: its ``load_checkpoint`` sees ``weight_packed`` keys and lets
  this module build the Int4Linear, so ``load_checkpoint(path)`` loads INT4 checkpoints.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from thinkact.model.checkpoint import (
    INDEX_NAME,
    LoadContext,
    checkpoint_files,
    register_module_loader,
    save_checkpoint,
)
from thinkact.model.int4 import (
    DEFAULT_GROUP_SIZE,
    Int4Linear,
    ScaleRule,
    compute_scales,
    dequantize_int4,
    pack_int4,
    quantize_int4,
    unpack_int4,
)
from thinkact.model.quant_config import int4_quantization_config

EXPERT_LINEAR_RE = re.compile(r"(?:^|\.)mlp\.experts\.\d+\.(?:gate|up|down)_proj$")


def is_expert_linear(module_name: str) -> bool:
    """True for a routed-expert projection name (HF per-expert naming)."""
    return EXPERT_LINEAR_RE.search(module_name) is not None


def int4_group_size(config: Mapping[str, Any]) -> int | None:
    """Group size if an HF config dict declares our INT4 scheme, else None."""
    qc = config.get("quantization_config")
    if not isinstance(qc, Mapping) or qc.get("quant_method") != "compressed-tensors":
        return None
    if qc.get("format") != "pack-quantized":
        raise ValueError(f"unsupported compressed-tensors format {qc.get('format')!r}")
    weights = qc["config_groups"]["group_0"]["weights"]
    if weights.get("num_bits") != 4 or not weights.get("symmetric", False):
        raise ValueError("only symmetric 4-bit pack-quantized weights are supported")
    if weights.get("strategy") != "group":
        raise ValueError(f"unsupported quantization strategy {weights.get('strategy')!r}")
    return int(weights["group_size"])


# -- state dicts -----------------------------------------------------------------------------


def quantize_state_dict(
    state: Mapping[str, torch.Tensor],
    group_size: int = DEFAULT_GROUP_SIZE,
    rule: ScaleRule = "absmax/7.5",
) -> dict[str, torch.Tensor]:
    """Replace every routed-expert ``P.weight`` by the packed triple; keep the rest."""
    out: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        prefix = key[: -len(".weight")] if key.endswith(".weight") else None
        if prefix is None or not is_expert_linear(prefix):
            out[key] = t
            continue
        if t.ndim != 2 or not t.is_floating_point():
            raise ValueError(f"{key}: expected a float 2-D weight, got {t.dtype} {tuple(t.shape)}")
        scales = compute_scales(t, group_size, rule)
        out[f"{prefix}.weight_packed"] = pack_int4(quantize_int4(t, scales, group_size))
        out[f"{prefix}.weight_scale"] = scales
        out[f"{prefix}.weight_shape"] = torch.tensor(list(t.shape), dtype=torch.int64)
    return out


def dequantize_state_dict(
    state: Mapping[str, torch.Tensor], group_size: int = DEFAULT_GROUP_SIZE
) -> dict[str, torch.Tensor]:
    """Inverse of :func:`quantize_state_dict`: triples become float ``P.weight`` (scale dtype)."""
    out: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        if key.endswith(".weight_packed"):
            prefix = key[: -len(".weight_packed")]
            try:
                scale = state[f"{prefix}.weight_scale"]
                rows, cols = (int(v) for v in state[f"{prefix}.weight_shape"].tolist())
            except KeyError as exc:
                raise ValueError(f"{prefix}: packed weight without {exc.args[0]}") from exc
            q = unpack_int4(t, cols)[:rows]
            out[f"{prefix}.weight"] = dequantize_int4(q, scale, group_size)
        elif not key.endswith((".weight_scale", ".weight_shape")):
            out[key] = t
    return out


# -- directories -----------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of an HF safetensors checkpoint directory (single file or sharded)."""
    state: dict[str, torch.Tensor] = {}
    for f in checkpoint_files(Path(path)):
        state.update(load_file(str(f)))
    return state


def quantize_checkpoint(
    src: str | Path,
    dst: str | Path,
    group_size: int = DEFAULT_GROUP_SIZE,
    rule: ScaleRule = "absmax/7.5",
) -> dict[str, int]:
    """Convert a float HF checkpoint dir to INT4 experts; returns counts for reporting.

    Shards are converted one at a time (memory stays ~one shard) and keep their file names;
    non-weight files (tokenizer, generation config, ...) are copied unchanged.
    """
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise ValueError("SRC and DST must differ")
    config = json.loads((src / "config.json").read_text())
    if config.get("quantization_config") is not None:
        raise ValueError(f"{src} is already quantized ({config['quantization_config']!r:.80})")
    dst.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    n_quantized = bytes_in = bytes_out = 0
    for f in checkpoint_files(src):
        state = load_file(str(f))
        qstate = quantize_state_dict(state, group_size, rule)
        n_quantized += sum(k.endswith(".weight_packed") for k in qstate)
        bytes_in += sum(t.numel() * t.element_size() for t in state.values())
        bytes_out += sum(t.numel() * t.element_size() for t in qstate.values())
        save_file(
            {k: t.contiguous() for k, t in qstate.items()}, str(dst / f.name), {"format": "pt"}
        )
        weight_map.update(dict.fromkeys(qstate, f.name))
    if (src / INDEX_NAME).exists():
        index = {"metadata": {"total_size": bytes_out}, "weight_map": weight_map}
        (dst / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    for other in src.iterdir():
        if (
            other.is_file()
            and other.suffix != ".safetensors"
            and other.name
            not in (
                INDEX_NAME,
                "config.json",
            )
        ):
            shutil.copy2(other, dst / other.name)
    config["quantization_config"] = int4_quantization_config(group_size)
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return {"quantized_linears": n_quantized, "bytes_in": bytes_in, "bytes_out": bytes_out}


# -- modules ---------------------------------------------------------------------------------


def _expert_linears(model: nn.Module) -> Iterable[tuple[nn.Module, str, str, nn.Module]]:
    for name, mod in list(model.named_modules()):
        if is_expert_linear(name):
            parent_name, _, child = name.rpartition(".")
            yield model.get_submodule(parent_name), child, name, mod


def convert_experts_to_int4(
    model: nn.Module, group_size: int = DEFAULT_GROUP_SIZE, rule: ScaleRule = "absmax/7.5"
) -> int:
    """Quantize every routed-expert ``nn.Linear`` in place; returns how many were swapped.

    Experts that already are :class:`Int4Linear` are left alone (idempotent).
    """
    n = 0
    for parent, child, name, mod in _expert_linears(model):
        if isinstance(mod, Int4Linear):
            continue
        if not isinstance(mod, nn.Linear) or mod.bias is not None:
            raise TypeError(f"{name}: expected a bias-free nn.Linear, got {type(mod).__name__}")
        setattr(parent, child, Int4Linear.from_float(mod.weight.detach(), group_size, rule))
        n += 1
    return n


def prepare_int4_experts(model: nn.Module, group_size: int = DEFAULT_GROUP_SIZE) -> int:
    """Swap expert ``nn.Linear`` for empty Int4Linears (scales in the Linear's dtype)."""
    n = 0
    for parent, child, name, mod in _expert_linears(model):
        if isinstance(mod, Int4Linear):
            continue
        if not isinstance(mod, nn.Linear):
            raise TypeError(f"{name}: expected nn.Linear, got {type(mod).__name__}")
        w = mod.weight
        new = Int4Linear(mod.in_features, mod.out_features, group_size, w.dtype, w.device)
        setattr(parent, child, new)
        n += 1
    return n


def set_dequant_cache(model: nn.Module, cache: Any) -> None:
    """Attach one shared :class:`~thinkact.model.int4.DequantCache` (or None) to all experts."""
    for mod in model.modules():
        if isinstance(mod, Int4Linear):
            mod.cache = cache


def save_int4_checkpoint(
    model: Any,
    path: str | Path,
    group_size: int = DEFAULT_GROUP_SIZE,
    rule: ScaleRule = "absmax/7.5",
    **save_kwargs: Any,
) -> Path:
    """Quantize ``model``'s float experts IN PLACE, then save it with a quantization_config.

    In place on purpose: the model then computes exactly what the saved checkpoint will
    (no second copy of a large model). Extra kwargs go to ``checkpoint.save_checkpoint``.
    """
    convert_experts_to_int4(model, group_size, rule)
    model.config.quantization_config = int4_quantization_config(group_size)
    out: Path = save_checkpoint(model, path, **save_kwargs)
    return out


def load_int4_module(
    model: nn.Module, name: str, tensors: dict[str, torch.Tensor], ctx: LoadContext
) -> None:
    """Module loader for ``checkpoint.load_checkpoint``: install one packed expert Linear."""
    full = f"{name}.weight_packed"
    missing = {"weight_packed", "weight_scale", "weight_shape"} - set(tensors)
    if missing:
        raise ValueError(f"{name}: INT4 tensors incomplete, missing {sorted(missing)}")
    extra = set(tensors) - {"weight_packed", "weight_scale", "weight_shape"}
    if extra:
        raise ValueError(f"{name}: unexpected tensors next to weight_packed: {sorted(extra)}")
    if not is_expert_linear(name):
        raise ValueError(f"{full}: only routed-expert Linears may be INT4 in a K2 checkpoint")
    group_size = int4_group_size(ctx.config.to_hf_dict())
    if group_size is None:
        raise ValueError(f"{full} found but config.json has no pack-quantized quantization_config")
    out_f, in_f = (int(v) for v in tensors["weight_shape"].tolist())
    old = model.get_submodule(name)
    if isinstance(old, nn.Linear) and (old.out_features, old.in_features) != (out_f, in_f):
        raise ValueError(
            f"{name}: weight_shape {(out_f, in_f)} != model Linear "
            f"{(old.out_features, old.in_features)}"
        )
    mod = Int4Linear(in_f, out_f, group_size, dtype=ctx.dtype, device=ctx.device)
    for suffix in ("weight_packed", "weight_scale"):
        want = getattr(mod, suffix)
        got = tensors[suffix]
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(
                f"{name}.{suffix}: shape {tuple(got.shape)}, expected {tuple(want.shape)} "
                f"for weight_shape {(out_f, in_f)} and group_size {group_size}"
            )
        want.copy_(got.to(dtype=want.dtype))
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, mod)
    ctx.loaded.update(f"{name}.{s}" for s in tensors)


register_module_loader(frozenset({"weight_packed"}), load_int4_module)


__all__ = [
    "EXPERT_LINEAR_RE",
    "convert_experts_to_int4",
    "dequantize_state_dict",
    "int4_group_size",
    "int4_quantization_config",
    "is_expert_linear",
    "load_int4_module",
    "prepare_int4_experts",
    "quantize_checkpoint",
    "quantize_state_dict",
    "read_state_dict",
    "save_int4_checkpoint",
    "set_dequant_cache",
]
