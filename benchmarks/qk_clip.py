"""QK-Clip at work: the same short training run twice, at a learning rate high enough to make
attention logits grow, without clipping and with it.

Both runs use the same seed, data, tokenizer and weights at step 0; only ``qk_clip_tau``
differs (``--tau`` against a threshold no logit reaches). Printed: the largest attention logit
and the loss every ``--every`` steps for both runs, the clip events of the clipped run, and
the ratio of the final max logits. Saves the curves side by side as a PNG (``--png``).

    .venv/bin/python benchmarks/qk_clip.py [--steps 60] [--lr 0.05] [--tau 5] [--png out.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from thinkact.train.curves import plot_runs
from thinkact.train.trainer import TrainConfig, train


def run(tau: float, args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    cfg = TrainConfig(out=str(out), steps=args.steps, batch_tokens=args.batch_tokens,
                      vocab_size=600, tokenizer_episodes=200, eval_every=0, eval_tasks=1,
                      warmup=3, lr=args.lr, qk_clip_tau=tau, seed=args.seed)
    log: list[dict[str, Any]] = []
    train(cfg, report=log.append)
    return [e for e in log if "loss" in e]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--tau", type=float, default=5.0)
    p.add_argument("--batch-tokens", type=int, default=1200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", type=Path, default=Path("qk_clip.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        free = run(1e9, args, Path(tmp) / "free")
        clipped = run(args.tau, args, Path(tmp) / "clipped")
    print(f"lr {args.lr:g}, {args.steps} steps, seed {args.seed}; QK-Clip tau {args.tau:g}")
    print(f"{'step':>5} | {'max logit, no clip':>18} | {'max logit, clip':>15} | "
          f"{'loss, no clip':>13} | {'loss, clip':>10} | clip events")
    for a, b in zip(free, clipped, strict=True):
        print(f"{a['step']:>5} | {a['max_logit']:>18.2f} | {b['max_logit']:>15.2f} | "
              f"{a['loss']:>13.3f} | {b['loss']:>10.3f} | {b['clip_events']}")
    print(f"final max logit: {free[-1]['max_logit']:.2f} without clipping, "
          f"{clipped[-1]['max_logit']:.2f} with (ratio "
          f"{free[-1]['max_logit'] / clipped[-1]['max_logit']:.1f}x)")
    png = plot_runs({"no clip": free, f"QK-Clip tau={args.tau:g}": clipped}, args.png,
                    tau=args.tau)
    print(f"curves: {png}")


if __name__ == "__main__":
    main()
