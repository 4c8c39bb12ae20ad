"""Train a small K2-architecture thinking model on synthetic tool-use episodes, with MuonClip.

``train(TrainConfig(...))`` builds a tokenizer on the episode corpus, a model of the chosen
preset, and trains it on the assistant tokens of freshly generated episodes (never the same
episode twice). The loss is computed only where the model has to produce text, and lm_head runs
only on those positions, which is most of the speed on CPU. Every ``eval_every`` steps the
model runs real episodes through :class:`~thinkact.backends.local.LocalBackend` (see
``train.evaluate``). The result is an ordinary thinkact checkpoint directory: config,
safetensors, tokenizer, ``chat_format.json`` and ``training.json`` (settings and the log).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from thinkact.backends.local_checkpoint import CHAT_FORMAT_FILE, preset_for_tokenizer
from thinkact.chat_format.render import ChatFormat, format_to_dict
from thinkact.chat_format.tokenizer import K2Tokenizer, train_tokenizer
from thinkact.chat_format.tokens import PAD
from thinkact.model.checkpoint import save_checkpoint
from thinkact.model.model import K2ForCausalLM
from thinkact.train.data import Sample, corpus_texts, sample_stream
from thinkact.train.muonclip import StepStats

TINY_SYSTEM = "You are thinkact-tiny, a small model that thinks and uses tools."
TINY_FORMAT = ChatFormat(tool_declare="signatures", json_separators="compact",
                         default_system=TINY_SYSTEM, tool_envelope="strip")


@dataclass
class TrainConfig:
    """What to train and how. Learning rates follow Moonlight's rule (one lr for both groups)."""

    out: str
    preset: str = "thinkact-tiny"
    vocab_size: int = 1024
    steps: int = 1500
    batch_tokens: int = 6144
    max_len: int = 640
    lr: float = 3e-3
    warmup: int = 50
    final_lr_frac: float = 0.05
    weight_decay: float = 0.01
    qk_clip_tau: float = 30.0
    seed: int = 0
    threads: int | None = None
    eval_every: int = 250
    eval_tasks: int = 24
    tokenizer_episodes: int = 4000
    log: list[dict[str, Any]] = field(default_factory=list)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine down to ``final_lr_frac`` of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * t))
    return cfg.lr * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * cosine)


def batches(stream: Iterator[Sample], batch_tokens: int, pool: int = 256
            ) -> Iterator[list[Sample]]:
    """Length-bucketed batches of about ``batch_tokens`` padded tokens each."""
    while True:
        samples = sorted((next(stream) for _ in range(pool)), key=lambda s: len(s[0]))
        out: list[list[Sample]] = []
        cur: list[Sample] = []
        for s in samples:
            if cur and len(s[0]) * (len(cur) + 1) > batch_tokens:
                out.append(cur)
                cur = []
            cur.append(s)
        if cur:
            out.append(cur)
        random.Random(len(samples[0][0])).shuffle(out)
        yield from out


def collate(batch: list[Sample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids [B, T], positions whose next token is a target [N, 2], those targets [N])."""
    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    rows: list[int] = []
    cols: list[int] = []
    for b, (seq, mask) in enumerate(batch):
        ids[b, :len(seq)] = torch.tensor(seq)
        for i in range(len(seq) - 1):
            if mask[i + 1]:
                rows.append(b)
                cols.append(i)
    where = torch.tensor([rows, cols], dtype=torch.long).T
    targets = ids[where[:, 0], where[:, 1] + 1]
    return ids, where, targets


def masked_loss(model: K2ForCausalLM, ids: torch.Tensor, where: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the target positions only (lm_head runs on just those rows)."""
    hidden = model.hidden_states(ids)
    logits = model.lm_head(hidden[where[:, 0], where[:, 1]])
    return F.cross_entropy(logits.float(), targets)


def build_model(cfg: TrainConfig, tok: K2Tokenizer) -> K2ForCausalLM:
    torch.manual_seed(cfg.seed)
    return K2ForCausalLM(preset_for_tokenizer(cfg.preset, tok), dtype=torch.float32)


def save(model: K2ForCausalLM, tok: K2Tokenizer, cfg: TrainConfig, fmt: ChatFormat) -> Path:
    out = save_checkpoint(model, cfg.out)
    tok.save(out)
    (out / CHAT_FORMAT_FILE).write_text(json.dumps(format_to_dict(fmt), indent=1) + "\n")
    (out / "training.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    return out


def _summary(stats: StepStats) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if stats.qk_clip is not None:
        out["max_logit"] = round(stats.qk_clip.max_logit, 2)
        out["heads_clipped"] = stats.qk_clip.heads_clipped
    if stats.balance is not None:
        out["max_violation"] = round(stats.balance.max_violation, 3)
    return out


def train(cfg: TrainConfig, fmt: ChatFormat = TINY_FORMAT,
          report: Callable[[dict[str, Any]], None] = print) -> Path:
    """Train from scratch and write the checkpoint to ``cfg.out``; returns its path."""
    from thinkact.train.evaluate import evaluate
    from thinkact.train.muonclip import MuonClip, set_recording

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tok = train_tokenizer(corpus_texts(cfg.tokenizer_episodes, fmt, seed=cfg.seed + 1),
                          cfg.vocab_size)
    model = build_model(cfg, tok).train()
    opt = MuonClip(model, lr=cfg.lr, weight_decay=cfg.weight_decay, qk_clip_tau=cfg.qk_clip_tau)
    stream = batches(sample_stream(tok, fmt, cfg.seed + 2, cfg.max_len), cfg.batch_tokens)
    pad = tok.special_id(PAD)
    started = time.monotonic()
    for step in range(cfg.steps):
        opt.set_lr(lr_at(step, cfg))
        ids, where, targets = collate(next(stream), pad)
        loss = masked_loss(model, ids, where, targets)
        loss.backward()
        stats = opt.step()
        opt.zero_grad()
        if step % 10 == 0 or step == cfg.steps - 1:
            entry = {"step": step, "loss": round(loss.item(), 4), "lr": lr_at(step, cfg),
                     "tokens": int(ids.numel()), "elapsed_s": round(time.monotonic() - started, 1),
                     **_summary(stats)}
            cfg.log.append(entry)
            report(entry)
        if (cfg.eval_every and (step + 1) % cfg.eval_every == 0) or step == cfg.steps - 1:
            model.eval()
            set_recording(model, False)
            result = evaluate(model, tok, fmt, n=cfg.eval_tasks, seed=10_000 + step)
            set_recording(model, True)
            model.train()
            entry = {"step": step, "eval": result}
            cfg.log.append(entry)
            report(entry)
            if step < cfg.steps - 1:  # an intermediate checkpoint; the last is written below
                save(model, tok, cfg, fmt)
    return save(model.eval(), tok, cfg, fmt)
