"""Train a small K2-architecture thinking model on synthetic tool-use episodes, with MuonClip.

``train(TrainConfig(...))`` builds a tokenizer on the episode corpus, a model of the chosen
preset, and trains it on the assistant tokens only (lm_head runs only on those positions,
which is most of the speed on CPU). ``data="tasks"``: freshly generated one-call episodes;
``data="families"``: a pool of task-family trajectories made once with the real tools
(``pool.jsonl`` in the output). From ``qat_from`` (a fraction of the steps) on, the routed
experts train through INT4 fake quantization; with ``int4`` the result is saved as a
compressed-tensors INT4 checkpoint. Every ``eval_every`` steps the model is evaluated
(``train.evaluate`` or, for families, ``train.agent_eval``) and the run state is saved, so
``resume=True`` continues a killed run. The output is an ordinary checkpoint directory plus
``training.json`` (the config and the log) and ``curves.png``.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from thinkact.backends.local_checkpoint import CHAT_FORMAT_FILE, preset_for_tokenizer
from thinkact.chat_format.jinja import write_chat_template
from thinkact.chat_format.render import ChatFormat, format_to_dict
from thinkact.chat_format.tokenizer import K2Tokenizer, train_tokenizer
from thinkact.chat_format.tokens import PAD
from thinkact.model.checkpoint import save_checkpoint
from thinkact.model.model import K2ForCausalLM
from thinkact.train.data import Sample, encoded_stream, episode_texts
from thinkact.train.episodes import Episode, random_episode
from thinkact.train.muonclip import StepStats
from thinkact.train.trajectory import Split

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
    data: str = "tasks"  # "tasks" (one python call) or "families" (train.families)
    pool_size: int = 4000  # trajectories in the families pool
    eval_per_family: int = 2  # held-out agent runs per family at each families eval
    eval_split: str = "test"  # the families eval's held-out split: "test" or "combo"
    qat_from: float = 1.0  # fraction of the steps after which the experts train as INT4
    int4: bool = False  # save the final checkpoint with INT4 routed experts
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.eval_split not in ("test", "combo"):
            raise ValueError(f"eval_split must be test or combo, not {self.eval_split!r}")


STATE_FILE = "train_state.pt"


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a JSON file (a ``training.json`` works; its log is
    dropped); unknown keys are an error that names them."""
    data = json.loads(Path(path).read_text())
    data.pop("log", None)
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{path}: unknown training settings {sorted(unknown)}; "
                         f"known: {sorted(known - {'log'})}")
    return TrainConfig(**{**data, **{k: v for k, v in overrides.items() if v is not None}})


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


def save(model: K2ForCausalLM, tok: K2Tokenizer, cfg: TrainConfig, fmt: ChatFormat,
         int4: bool = False) -> Path:
    """The checkpoint directory; ``int4`` quantizes the routed experts in place first."""
    if int4:
        from thinkact.model.int4_checkpoint import save_int4_checkpoint

        out = save_int4_checkpoint(model, cfg.out)
    else:
        out = save_checkpoint(model, cfg.out)
    tok.save(out)
    write_chat_template(out, fmt)
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


def _episodes(cfg: TrainConfig, seed: int, report: Callable[[dict[str, Any]], None]
              ) -> Iterator[Episode]:
    """The training episodes: fresh one-call ones, or passes over the families pool."""
    if cfg.data == "tasks":
        rng = random.Random(seed)
        while True:
            yield random_episode(rng)
    if cfg.data != "families":
        raise ValueError(f"unknown data {cfg.data!r}; use 'tasks' or 'families'")
    from thinkact.train.pool import generate_pool, load_pool, pool_episodes, save_pool

    path = Path(cfg.out) / "pool.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        n = save_pool(generate_pool(cfg.pool_size, cfg.seed + 3), path)
        report({"pool": n, "elapsed_s": round(time.monotonic() - started, 1)})
    yield from pool_episodes(load_pool(path), seed)


def _evaluate(model: K2ForCausalLM, tok: K2Tokenizer, fmt: ChatFormat, cfg: TrainConfig,
              step: int) -> dict[str, Any]:
    from thinkact.train.muonclip import set_recording

    model.eval()
    set_recording(model, False)
    try:
        if cfg.data == "families":
            from thinkact.train.agent_eval import evaluate_agent

            split: Split = "combo" if cfg.eval_split == "combo" else "test"
            return evaluate_agent(model, tok, fmt, per_family=cfg.eval_per_family,
                                  seed=10_000 + step, split=split)
        from thinkact.train.evaluate import evaluate

        return evaluate(model, tok, fmt, n=cfg.eval_tasks, seed=10_000 + step)
    finally:
        set_recording(model, True)
        model.train()


def _checkpoint(model: K2ForCausalLM, opt: Any, tok: K2Tokenizer, cfg: TrainConfig,
                fmt: ChatFormat, next_step: int) -> None:
    """The float checkpoint, the run state to resume from, and the curves."""
    from thinkact.train.curves import plot_curves

    out = save(model, tok, cfg, fmt)
    state = {"step": next_step, "model": model.state_dict(), "opt": opt.state_dict(),
             "log": cfg.log}
    torch.save(state, out / (STATE_FILE + ".tmp"))
    (out / (STATE_FILE + ".tmp")).replace(out / STATE_FILE)
    plot_curves(cfg.log, out / "curves.png")


def train(cfg: TrainConfig, fmt: ChatFormat = TINY_FORMAT,
          report: Callable[[dict[str, Any]], None] = print, resume: bool = False) -> Path:
    """Train (from scratch, or from the run state in ``cfg.out`` with ``resume``) and write
    the checkpoint to ``cfg.out``; returns its path."""
    from thinkact.train.muonclip import MuonClip
    from thinkact.train.qat import enable_qat

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    state_path = Path(cfg.out) / STATE_FILE
    resuming = resume and state_path.exists()
    if resuming:
        tok = K2Tokenizer.load(cfg.out)
    else:
        texts = (t for ep in _episodes(cfg, cfg.seed + 1, report)
                 for t in ["".join(s for s, _ in episode_texts(ep, fmt))])
        tok = train_tokenizer(itertools.islice(texts, cfg.tokenizer_episodes), cfg.vocab_size)
    model = build_model(cfg, tok).train()
    opt = MuonClip(model, lr=cfg.lr, weight_decay=cfg.weight_decay, qk_clip_tau=cfg.qk_clip_tau)
    start = 0
    if resuming:
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, cfg.log = int(state["step"]), list(state["log"])
        report({"resumed_at": start})
    stream = batches(encoded_stream(_episodes(cfg, cfg.seed + 2, report), tok, fmt,
                                    cfg.max_len), cfg.batch_tokens)
    for _ in range(start):  # the data a resumed run already trained on
        next(stream)
    pad = tok.special_id(PAD)
    qat_step = math.ceil(cfg.qat_from * cfg.steps)
    started, tokens, clips = time.monotonic(), 0, 0
    for step in range(start, cfg.steps):
        if step == qat_step or (step == start and step > qat_step):
            report({"step": step, "qat": enable_qat(model)})
        opt.set_lr(lr_at(step, cfg))
        ids, where, targets = collate(next(stream), pad)
        loss = masked_loss(model, ids, where, targets)
        loss.backward()
        stats = opt.step()
        opt.zero_grad()
        tokens += int(ids.numel())
        summary = _summary(stats)
        clips += summary.get("heads_clipped", 0)
        if step % 10 == 0 or step == cfg.steps - 1:
            elapsed = time.monotonic() - started
            entry = {"step": step, "loss": round(loss.item(), 4), "lr": lr_at(step, cfg),
                     "tokens": int(ids.numel()), "elapsed_s": round(elapsed, 1),
                     "tokens_per_s": round(tokens / max(elapsed, 1e-9)), "clip_events": clips,
                     **summary}
            cfg.log.append(entry)
            report(entry)
        if (cfg.eval_every and (step + 1) % cfg.eval_every == 0) or step == cfg.steps - 1:
            entry = {"step": step, "eval": _evaluate(model, tok, fmt, cfg, step)}
            cfg.log.append(entry)
            report(entry)
            _checkpoint(model, opt, tok, cfg, fmt, step + 1)
    if start >= cfg.steps:
        report({"step": cfg.steps, "done": True})
    return save(model.eval(), tok, cfg, fmt, int4=cfg.int4)
