"""``thinkact model train OUT``: train a small thinking model on synthetic tool-use episodes.

This is how the bundled ``thinkact-tiny`` was made (see ``thinkact.train.trainer``); torch and
the training code are imported inside the command. ``--config FILE`` reads every setting from
a JSON file (the ``training.json`` beside a checkpoint reproduces it); ``--resume`` continues
a run killed in ``OUT`` from its last saved state.
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
    config: Annotated[Path | None, Opt(help="JSON file of training settings (e.g. a "
                                            "checkpoint's training.json); flags given "
                                            "override it.")] = None,
    preset: Annotated[str | None, Opt(help="Model shape preset (default thinkact-tiny).")
                      ] = None,
    steps: Annotated[int | None, Opt(help="Optimizer steps (default 1500).")] = None,
    lr: Annotated[float | None, Opt(help="Peak learning rate (Muon and AdamW, Moonlight "
                                         "scaling) (default 3e-3).")] = None,
    batch_tokens: Annotated[int | None, Opt(help="Padded tokens per batch (default 6144).")
                            ] = None,
    vocab_size: Annotated[int | None, Opt(help="BPE vocabulary, K2 special tokens included "
                                               "(default 1024).")] = None,
    qk_clip_tau: Annotated[float | None, Opt(help="QK-Clip threshold on max attention "
                                                  "logits (default 30).")] = None,
    eval_every: Annotated[int | None, Opt(help="Evaluate and save every N steps; 0: at the "
                                               "end (default 250).")] = None,
    data: Annotated[str | None, Opt(help="'tasks' (one python call) or 'families' (the task "
                                         "families) (default tasks).")] = None,
    seed: Annotated[int | None, Opt(help="Seed for data, tokenizer and weights (default 0).")
                    ] = None,
    threads: Annotated[int, Opt(help="torch threads (0: leave default).")] = 0,
    resume: Annotated[bool, Opt("--resume", help="Continue the run saved in OUT.")] = False,
    log_json: Annotated[bool, Opt("--json", help="Log lines as JSON, no progress bar.")
                        ] = False,
) -> None:
    """Train from scratch with MuonClip: a progress bar with loss, tokens/s, the largest
    attention logit and QK-Clip events; periodic held-out evals and checkpoints."""
    from thinkact.model.presets import PRESETS
    from thinkact.train.trainer import TrainConfig, load_config, train

    flags: dict[str, Any] = {"preset": preset, "steps": steps, "lr": lr,
                             "batch_tokens": batch_tokens, "vocab_size": vocab_size,
                             "qk_clip_tau": qk_clip_tau, "eval_every": eval_every,
                             "data": data, "seed": seed, "threads": threads or None}
    try:
        cfg = (load_config(config, **flags, out=str(out)) if config is not None else
               TrainConfig(out=str(out), **{k: v for k, v in flags.items() if v is not None}))
    except (OSError, ValueError, TypeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc
    if cfg.preset not in PRESETS:
        raise typer.BadParameter(f"unknown preset {cfg.preset!r}; one of "
                                 f"{', '.join(sorted(PRESETS))}")
    if cfg.steps < 1:
        raise typer.BadParameter("--steps must be at least 1")
    report = (lambda e: typer.echo(json.dumps(e))) if log_json else Progress(cfg.steps)
    path = train(cfg, report=report, resume=resume)
    if isinstance(report, Progress):
        report.close()
    typer.echo(f"wrote {path}")


class Progress:
    """A tqdm bar over the steps; evals and other events are printed above it."""

    def __init__(self, steps: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=steps, unit="step", dynamic_ncols=True)

    def __call__(self, entry: dict[str, Any]) -> None:
        if "loss" in entry:
            self.bar.n = entry["step"] + 1
            self.bar.set_postfix(loss=f"{entry['loss']:.3f}", tok_s=entry["tokens_per_s"],
                                 max_logit=f"{entry.get('max_logit', 0):.1f}",
                                 clips=entry["clip_events"], refresh=False)
            self.bar.refresh()
        elif "eval" in entry:
            self.bar.write(f"step {entry['step']:>5}  eval: {describe_eval(entry['eval'])}")
        else:
            self.bar.write(json.dumps(entry))

    def close(self) -> None:
        self.bar.close()


def describe_eval(e: dict[str, Any]) -> str:
    if "families" in e:
        fams = "  ".join(f"{f} {v['correct']:.0%}" for f, v in e["families"].items())
        return f"{e['correct']:.0%} of {e['tasks']} held-out agent runs ({fams})"
    return f"call {e['call_ok']:.0%}  answer {e['answer_ok']:.0%} of {e['tasks']} tasks"
