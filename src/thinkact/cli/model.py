"""``thinkact model …``: inspect K2-architecture models (presets or checkpoint directories).

Extension point: other model commands (``quantize``, ``generate``) live in
``thinkact/cli/model_engine.py``, which defines ``register_commands(model_app: typer.Typer)``
adding its commands to ``model_app``; ``register`` below calls it when that module exists.
Keep torch imports inside command functions (the core CLI runs without the model stack).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(
    name="model", help="K2-architecture model tools (sizing, checkpoints).", no_args_is_help=True
)


def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000 or prefix == "T":
            return f"{n:,.2f} {prefix}{unit}" if prefix else f"{n:,.0f} {unit}"
        n /= 1000
    return f"{n} {unit}"  # unreachable


def resolve_config(spec: str) -> tuple[str, object]:
    """A preset name or a directory/config.json path -> (label, K2Config)."""
    from thinkact.model.config import K2Config
    from thinkact.model.presets import PRESETS, get_preset

    if spec in PRESETS:
        return f"preset {spec}", get_preset(spec)
    path = Path(spec)
    if path.exists():
        return str(path), K2Config.from_pretrained(path)
    raise typer.BadParameter(
        f"{spec!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor an existing path"
    )


@model_app.command("info")
def info(spec: str = typer.Argument("kimi-k2-thinking", help="Preset name or checkpoint dir.")
         ) -> None:
    """Parameters (total / active), KV-cache bytes per token and weight bytes (BF16 vs INT4)."""
    from thinkact.model.config import K2Config
    from thinkact.model.sizing import BF16, size_model

    label, cfg = resolve_config(spec)
    assert isinstance(cfg, K2Config)
    s = size_model(cfg)
    moe_layers = sum(cfg.is_moe_layer(i) for i in range(cfg.num_hidden_layers))
    lines = [
        f"model: {label} ({cfg.model_type}, {cfg.num_hidden_layers} layers: "
        f"{cfg.num_hidden_layers - moe_layers} dense + {moe_layers} MoE, "
        f"{cfg.n_routed_experts} experts top-{cfg.num_experts_per_tok}, "
        f"{cfg.n_shared_experts} shared)",
        f"parameters total:          {s.total:>18,}  ({_human(s.total, '')})",
        f"parameters active/token:   {s.active:>18,}  ({_human(s.active, '')}; "
        "excludes the input embedding table)",
        f"  active incl. embedding:  {s.active_with_embedding:>18,}",
        f"  routed experts:          {s.routed_experts:>18,}",
        f"  attention:               {s.attention:>18,}",
        f"  embedding + lm_head:     {s.embedding + s.lm_head:>18,}",
        "KV cache per token (BF16):",
        f"  latent (absorb): {s.kv_values_latent_per_layer} values/layer = "
        f"{s.kv_values_latent_per_layer * BF16:,.0f} B/layer, "
        f"{_human(s.kv_bytes_per_token(latent=True))} "
        f"({s.kv_bytes_per_token(latent=True) / 1024:,.1f} KiB) whole model",
        f"  naive (per-head K,V): {s.kv_values_naive_per_layer} values/layer = "
        f"{s.kv_values_naive_per_layer * BF16:,.0f} B/layer, "
        f"{_human(s.kv_bytes_per_token(latent=False))} whole model",
        f"  {cfg.max_position_embeddings:,}-token sequence, latent: "
        f"{_human(s.kv_bytes_per_token() * cfg.max_position_embeddings)}",
        "weights:",
        f"  BF16:                         {_human(s.weight_bytes_bf16())}",
        f"  INT4 routed experts (0.5625 B/weight) + BF16 rest: {_human(s.weight_bytes_int4())}",
    ]
    typer.echo("\n".join(lines))


@model_app.command("init")
def init(
    out: Annotated[Path, typer.Argument(help="Directory to write the checkpoint to.")],
    preset: Annotated[str, typer.Option(help="Shape preset (see `thinkact model info`).")
                      ] = "tiny",
    vocab_size: Annotated[int, typer.Option(help="Tokenizer vocabulary (BPE trained on a "
                                            "small built-in corpus; K2 specials included).")
                          ] = 512,
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
) -> None:
    """Write a random-weight checkpoint with a tokenizer: plumbing tests, serving, benchmarks."""
    from thinkact.backends.local_checkpoint import make_random_checkpoint
    from thinkact.model.presets import PRESETS

    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; one of {', '.join(sorted(PRESETS))}")
    path = make_random_checkpoint(out, preset=preset, vocab_size=vocab_size, seed=seed)
    typer.echo(f"wrote a random {preset} checkpoint to {path} (weights are untrained)")


def register(app: typer.Typer) -> None:
    """Add ``thinkact model`` (and the engine commands, when present) to the top-level app."""
    for name in ("thinkact.cli.model_engine", "thinkact.cli.model_train"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
        else:
            module.register_commands(model_app)
    app.add_typer(model_app, name="model")
