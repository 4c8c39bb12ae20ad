"""A short real training run: MuonClip on synthetic episodes writes a checkpoint that the
local backend loads with the chat format it was trained with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from thinkact.backends.local import LocalBackend
from thinkact.train.trainer import TINY_FORMAT, TrainConfig, batches, collate, lr_at, train

pytestmark = pytest.mark.torch


def test_short_run_learns_and_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = TrainConfig(out=str(tmp_path / "ckpt"), steps=12, batch_tokens=1200, vocab_size=600,
                      tokenizer_episodes=200, eval_every=0, eval_tasks=2, warmup=3)
    logged: list[dict] = []  # type: ignore[type-arg]
    path = train(cfg, report=logged.append)
    losses = [e["loss"] for e in logged if "loss" in e]
    assert losses[-1] < losses[0] - 1.0  # from ~ln(600) down, in 12 steps
    assert [e for e in logged if "eval" in e][-1]["eval"]["tasks"] == 2
    saved = json.loads((path / "training.json").read_text())
    assert saved["steps"] == 12 and saved["log"][0]["step"] == 0
    backend = LocalBackend.from_checkpoint(path)
    assert backend.fmt == TINY_FORMAT  # chat_format.json round trip
    assert backend.tokenizer.vocab_size == 600


def test_batches_are_length_bucketed_and_collate_marks_next_token_targets() -> None:
    samples = [([1] * n, [False] * (n - 3) + [True] * 3) for n in range(10, 74)]
    stream = iter(samples * 4)
    batch = next(batches(stream, batch_tokens=200, pool=64))
    lengths = [len(ids) for ids, _ in batch]
    assert max(lengths) * len(batch) <= 200 or len(batch) == 1
    assert max(lengths) - min(lengths) < 10  # neighbours in length
    ids, where, targets = collate([([5, 6, 7, 8], [False, False, True, True])], pad_id=0)
    assert where.tolist() == [[0, 1], [0, 2]]  # positions predicting tokens 2 and 3
    assert targets.tolist() == [7, 8] and ids.tolist() == [[5, 6, 7, 8]]


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    cfg = TrainConfig(out="x", steps=100, warmup=10, lr=1.0, final_lr_frac=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1, abs=1e-3)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def test_qk_clip_bounds_attention_logits_in_a_real_run(tmp_path: Path) -> None:
    """The same short run twice: unclipped, the largest attention logit grows about tenfold;
    with a small tau QK-Clip rescales the heads over it every step and the largest logit
    stays near tau, while the loss falls about as much."""
    torch.set_num_threads(1)
    runs = {}
    for tau in (100.0, 0.2):
        cfg = TrainConfig(out=str(tmp_path / f"tau{tau}"), steps=12, batch_tokens=1200,
                          vocab_size=600, tokenizer_episodes=200, eval_every=0, eval_tasks=1,
                          warmup=3, lr=0.05, qk_clip_tau=tau)
        logged: list[dict] = []  # type: ignore[type-arg]
        train(cfg, report=logged.append)
        runs[tau] = [e for e in logged if "loss" in e]
    free, clipped = runs[100.0], runs[0.2]
    assert all(e["heads_clipped"] == 0 for e in free)
    assert all(e["heads_clipped"] > 0 for e in clipped)
    assert free[-1]["max_logit"] > 1.0 > 0.4 > clipped[-1]["max_logit"]
    assert clipped[-1]["loss"] < clipped[0]["loss"] - 2.0
    assert abs(clipped[-1]["loss"] - free[-1]["loss"]) < 0.5


class Killed(Exception):
    pass


def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_weights(tmp_path: Path) -> None:
    """Kill a run after its first checkpoint, resume it: the weights equal those of the same
    run never stopped, and the log carries on from the saved step."""
    from safetensors.torch import load_file

    torch.set_num_threads(1)

    def cfg(out: str) -> TrainConfig:
        return TrainConfig(out=str(tmp_path / out), steps=4, batch_tokens=600, vocab_size=600,
                           tokenizer_episodes=60, eval_every=2, eval_tasks=1, warmup=2)

    train(cfg("whole"), report=lambda e: None)

    def kill_late(entry: dict) -> None:  # type: ignore[type-arg]
        if entry.get("step") == 3 and "loss" in entry:  # after the step-2 checkpoint
            raise Killed

    with pytest.raises(Killed):
        train(cfg("cut"), report=kill_late)
    seen: list[dict] = []  # type: ignore[type-arg]
    path = train(cfg("cut"), report=seen.append, resume=True)
    assert seen[0] == {"resumed_at": 2}
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    again = load_file(path / "model.safetensors")
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    log = json.loads((path / "training.json").read_text())["log"]
    assert [e["step"] for e in log] == [0, 1, 3, 3]  # losses at 0 and 3, evals at 1 and 3
    assert (path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_config_file_sets_the_run_and_flags_override_it(tmp_path: Path) -> None:
    from thinkact.backends.embedded import EMBEDDED_DIR
    from thinkact.train.trainer import load_config

    shipped = load_config(EMBEDDED_DIR / "training.json", out=str(tmp_path))
    assert (shipped.steps, shipped.lr, shipped.out, shipped.log) == (1500, 3e-3, str(tmp_path), [])
    assert load_config(EMBEDDED_DIR / "training.json", steps=7, lr=None).steps == 7
    (tmp_path / "bad.json").write_text(json.dumps({"steps": 3, "stpes": 4}))
    with pytest.raises(ValueError, match="stpes"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "split.json").write_text(json.dumps({"eval_split": "train"}))
    with pytest.raises(ValueError, match="eval_split must be test or combo"):
        load_config(tmp_path / "split.json", out=str(tmp_path))
