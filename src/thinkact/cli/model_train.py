"""``thinkact model train OUT``: train a small thinking model on synthetic tool-use episodes.

This is how the bundled ``thinkact-tiny`` was made (see ``thinkact.train.trainer``); torch and
the training code are imported inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option


def register_commands(model_app: typer.Typer) -> None:
    """Add ``train`` to the ``thinkact model`` sub-app."""
    model_app.command("train")(train_command)


def train_command(
    out: Annotated[Path, typer.Argument(help="Directory to write the checkpoint to.")],
    preset: Annotated[str, Opt(help="Model shape preset.")] = "thinkact-tiny",
    steps: Annotated[int, Opt(help="Optimizer steps.")] = 1500,
    lr: Annotated[float, Opt(help="Peak learning rate (Muon and AdamW, Moonlight scaling).")
                  ] = 3e-3,
    batch_tokens: Annotated[int, Opt(help="Padded tokens per batch.")] = 6144,
    vocab_size: Annotated[int, Opt(help="BPE vocabulary, K2 special tokens included.")] = 1024,
    qk_clip_tau: Annotated[float, Opt(help="QK-Clip threshold on max attention logits.")
                           ] = 30.0,
    eval_every: Annotated[int, Opt(help="Evaluate (and save) every N steps; 0: at the end.")
                          ] = 250,
    seed: Annotated[int, Opt(help="Seed for data, tokenizer and weights.")] = 0,
    threads: Annotated[int, Opt(help="torch threads (0: leave default).")] = 0,
    log_json: Annotated[bool, Opt("--json", help="Log lines as JSON.")] = False,
) -> None:
    """Train from scratch with MuonClip, printing loss, QK-Clip stats and periodic evals."""
    from thinkact.model.presets import PRESETS
    from thinkact.train.trainer import TrainConfig, train

    if preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; one of {', '.join(sorted(PRESETS))}")
    if steps < 1:
        raise typer.BadParameter("--steps must be at least 1")

    def report(entry: dict[str, Any]) -> None:
        if log_json:
            typer.echo(json.dumps(entry))
        elif "eval" in entry:
            e = entry["eval"]
            typer.echo(f"step {entry['step']:>5}  eval: call {e['call_ok']:.0%}  "
                       f"answer {e['answer_ok']:.0%} of {e['tasks']} tasks")
        else:
            typer.echo(f"step {entry['step']:>5}  loss {entry['loss']:.4f}  "
                       f"lr {entry['lr']:.2e}  max logit {entry.get('max_logit', 0):.1f}  "
                       f"{entry['elapsed_s']:.0f}s")

    cfg = TrainConfig(out=str(out), preset=preset, steps=steps, lr=lr, batch_tokens=batch_tokens,
                      vocab_size=vocab_size, qk_clip_tau=qk_clip_tau, eval_every=eval_every,
                      seed=seed, threads=threads or None)
    path = train(cfg, report=report)
    typer.echo(f"wrote {path}")
