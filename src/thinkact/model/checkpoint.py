"""HF-format safetensors checkpoints (DeepSeek-V3 on-disk names), both directions.

Loading reads tensor names, groups them by owning module (``a.b.c.weight`` -> module ``a.b.c``,
suffix ``weight``), and hands each group to a *module loader*. The default loader assigns plain
parameters/buffers; other formats register their own (``register_module_loader``). INT4
compressed-tensors groups (``weight_packed``/``weight_scale``/``weight_shape``) are handled by
``thinkact.model.int4_checkpoint``, imported on demand when such keys appear.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from thinkact.model.config import K2Config
from thinkact.model.model import K2ForCausalLM, Router

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.")
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq", "rotary_emb.original_inv_freq")


@dataclass
class LoadContext:
    """What a module loader needs besides the tensors: target dtype/device and the config."""

    config: K2Config
    dtype: torch.dtype
    device: torch.device
    loaded: set[str] = field(default_factory=set)  # full tensor names consumed so far


# A module loader gets (model, module_name, {suffix: tensor}, ctx) and installs the tensors.
ModuleLoader = Callable[[nn.Module, str, dict[str, torch.Tensor], LoadContext], None]
_LOADERS: list[tuple[frozenset[str], ModuleLoader]] = []


def register_module_loader(trigger_suffixes: frozenset[str] | set[str], fn: ModuleLoader) -> None:
    """Use ``fn`` for any module whose tensor group contains one of ``trigger_suffixes``.

    Later registrations win, so a format module can override the default for its keys. A
    loader must add the full names of the model tensors it filled to ``ctx.loaded`` (the
    completeness check compares them with the model's state_dict).
    """
    _LOADERS.insert(0, (frozenset(trigger_suffixes), fn))


def _loader_for(suffixes: set[str]) -> ModuleLoader:
    for trig, fn in _LOADERS:
        if trig & suffixes:
            return fn
    if {"weight_packed", "weight_scale"} & suffixes:
        import thinkact.model.int4_checkpoint as int4  # registers its loader on import

        for trig, fn in _LOADERS:
            if trig & suffixes:
                return fn
        raise ValueError(
            f"checkpoint has INT4 tensors ({sorted(suffixes)}) but {int4.__name__} registered "
            "no module loader for them"
        )
    return load_plain_module


def load_plain_module(model: nn.Module, name: str, tensors: dict[str, torch.Tensor],
                      ctx: LoadContext) -> None:
    """Assign float tensors onto an existing module's parameters/buffers (router stays fp32)."""
    module = model.get_submodule(name) if name else model
    keep_fp32 = isinstance(module, Router)
    for suffix, t in tensors.items():
        full = f"{name}.{suffix}" if name else suffix
        current = getattr(module, suffix, None)
        if not isinstance(current, torch.Tensor):
            raise KeyError(f"checkpoint tensor {full!r} has no matching parameter in the model")
        if tuple(current.shape) != tuple(t.shape):
            raise ValueError(f"shape mismatch for {full!r}: checkpoint {tuple(t.shape)}, "
                             f"model {tuple(current.shape)}")
        dtype = torch.float32 if keep_fp32 or not t.is_floating_point() else ctx.dtype
        t = t.to(device=ctx.device, dtype=dtype)
        if suffix in module._parameters:
            module._parameters[suffix] = nn.Parameter(t, requires_grad=current.requires_grad)
        else:
            module._buffers[suffix] = t
        ctx.loaded.add(full)


def checkpoint_files(path: Path) -> list[Path]:
    """The safetensors files of a checkpoint directory (sharded via index, or single)."""
    index = path / INDEX_NAME
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [path / f for f in sorted(set(weight_map.values()))]
    if (path / SINGLE_NAME).exists():
        return [path / SINGLE_NAME]
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no safetensors files in {path}")
    return files


# DeepSeek-V3 reference (inference/convert.py) component names -> HF names
# (docs/k2.md, "Reference checkpoint names").
_REF_COMPONENTS = {
    "embed": "embed_tokens", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "wq": "q_proj", "wq_a": "q_a_proj", "q_norm": "q_a_layernorm", "wq_b": "q_b_proj",
    "wkv_a": "kv_a_proj_with_mqa", "kv_norm": "kv_a_layernorm", "wkv_b": "kv_b_proj",
    "wo": "o_proj", "w1": "gate_proj", "w2": "down_proj", "w3": "up_proj", "head": "lm_head",
}
_REF_PREFIXES = ("layers.", "embed.", "norm.", "head.")


def reference_name_to_hf(name: str) -> str:
    """Map a single-rank DeepSeek-V3 reference tensor name to its HF on-disk name.

    ``layers.3.ffn.experts.5.w1.weight`` -> ``model.layers.3.mlp.experts.5.gate_proj.weight``;
    names already in HF form are returned unchanged.
    """
    if not name.startswith(_REF_PREFIXES):
        return name
    parts = name.split(".")
    if parts[-2:] == ["gate", "bias"]:
        parts[-1] = "e_score_correction_bias"
    elif len(parts) >= 2 and parts[-2] in _REF_COMPONENTS:
        parts[-2] = _REF_COMPONENTS[parts[-2]]
    parts = [{"attn": "self_attn", "ffn": "mlp"}.get(p, p) for p in parts]
    out = ".".join(parts)
    return out if out.startswith("lm_head.") else f"model.{out}"


def iter_checkpoint(path: str | Path, num_layers: int | None = None
                    ) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (HF name, tensor), skipping rotary buffers and MTP layers (index >= num_layers).

    Single-rank DeepSeek reference names (``layers.0.attn.wq_a.weight``) are mapped to HF names.
    """
    for f in checkpoint_files(Path(path)):
        with safe_open(str(f), framework="pt") as sf:
            for raw in sf.keys():  # noqa: SIM118 (safe_open is not a dict)
                name = reference_name_to_hf(raw)
                if name.endswith(_IGNORED_SUFFIXES):
                    continue
                m = _LAYER_RE.match(name)
                if num_layers is not None and m and int(m.group(1)) >= num_layers:
                    continue
                yield name, sf.get_tensor(raw)


def load_checkpoint(path: str | Path, model: K2ForCausalLM | None = None, *,
                    dtype: torch.dtype | None = None, device: torch.device | str = "cpu",
                    strict: bool = True) -> K2ForCausalLM:
    """Load a HF-format checkpoint directory into a K2ForCausalLM (built on meta if not given).

    ``dtype`` defaults to the config's ``torch_dtype``; the router stays fp32. With ``strict``
    every model tensor must come from the checkpoint.
    """
    path = Path(path)
    if model is None:
        cfg = K2Config.from_pretrained(path)
        model = K2ForCausalLM(cfg, device="meta", init=False)
    cfg = model.config
    if dtype is None:
        dtype = getattr(torch, cfg.torch_dtype, torch.float32) if model.lm_head.weight.is_meta \
            else model.lm_head.weight.dtype
    ctx = LoadContext(cfg, dtype, torch.device(device))
    groups: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    for name, t in iter_checkpoint(path, cfg.num_hidden_layers):
        module, _, suffix = name.rpartition(".")
        groups[module][suffix] = t
    if cfg.tie_word_embeddings:
        groups.pop("lm_head", None)
    for module_name, tensors in groups.items():
        _loader_for(set(tensors))(model, module_name, tensors, ctx)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # Missing = still on meta, or (for a model passed in) never assigned by any loader.
    expected = set(model.state_dict())
    if cfg.tie_word_embeddings:
        expected.discard("lm_head.weight")
    missing = sorted({n for n, t in _named_tensors(model) if t.is_meta} | (expected - ctx.loaded))
    if missing and strict:
        raise KeyError(f"checkpoint {path} lacks {len(missing)} tensors, e.g. {missing[:5]}")
    return model


def _named_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from model.named_parameters()
    yield from model.named_buffers()


def parse_size(size: int | str) -> int:
    """'5GB' / '500MB' / '2KiB' / 1234 -> bytes."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*", size, re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot parse size {size!r} (e.g. '5GB', '500MB', 1000000)")
    unit = (m.group(2) or "B").upper()
    base = 1024 if "I" in unit else 1000
    power = "BKMGT".index(unit[0]) if unit[0] != "B" else 0
    return int(float(m.group(1)) * base**power)


def save_checkpoint(model: K2ForCausalLM, path: str | Path, *,
                    max_shard_size: int | str = "5GB", dtype: torch.dtype | None = None,
                    generation_config: dict[str, object] | None = None,
                    legacy_rope: bool = False, model_type: str | None = None) -> Path:
    """Write config.json + safetensors (sharded with an index when over ``max_shard_size``).

    ``dtype`` casts float tensors except the router (kept as stored, fp32 by default) and
    non-float tensors (e.g. INT4 packed words). The config's torch_dtype follows ``dtype``;
    ``model_type`` overrides the written one (``"deepseek_v3"`` makes a kimi_k2 config loadable
    by transformers).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    state: dict[str, torch.Tensor] = {}
    router_prefixes = {n for n, m in model.named_modules() if isinstance(m, Router)}
    for name, t in model.state_dict().items():
        if cfg.tie_word_embeddings and name == "lm_head.weight":
            continue
        if dtype is not None and t.is_floating_point() and name.rpartition(".")[0] not in \
                router_prefixes:
            t = t.to(dtype)
        state[name] = t.detach().contiguous().cpu()
    limit = parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in state.items():
        n = t.numel() * t.element_size()
        if shards[-1] and size + n > limit:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += n
    for old in [*path.glob("model*.safetensors"), path / INDEX_NAME]:
        old.unlink(missing_ok=True)
    meta = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], str(path / SINGLE_NAME), metadata=meta)
    else:
        weight_map: dict[str, str] = {}
        for i, shard in enumerate(shards, 1):
            fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(path / fname), metadata=meta)
            weight_map.update(dict.fromkeys(shard, fname))
        total = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (path / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    if dtype is not None:
        cfg = cfg.replace(torch_dtype=str(dtype).removeprefix("torch."))
    cfg.save_pretrained(path, legacy_rope=legacy_rope, model_type=model_type)
    if generation_config is not None:
        (path / "generation_config.json").write_text(json.dumps(generation_config, indent=2) + "\n")
    return path
