"""Decode speed of thinkact's KV-cached engine vs transformers, against a measured roofline.

Model: the reference sheet's §11.3 shape (preset ``bench-18m``: vocab 8192, hidden 256,
8 layers, 16 routed experts top-2, 1 shared, q_lora 128, kv_lora 64, YaRN), random init,
fp32. Both implementations load the same HF-format safetensors written by thinkact.

Printed: threads, decode tok/s at batch 1 (thinkact, transformers eager ``generate`` and a
hand-cached HF loop), their ratio, the bandwidth roofline (active weight bytes + KV bytes
read per token / bandwidth measured here with a large fp32 GEMV), fraction of roofline,
batch-8 total tok/s and its ratio to batch 1, INT4 decode tok/s (cache-free and with a
hot-expert dequant cache), and aten ops per token. Targets: >= 2x transformers at batch 1,
>= 0.5 of the roofline, batch 8 >= 5x batch 1. Timings take the best of ``--repeats`` runs
(the machine is shared; the best run is the least disturbed one).

    .venv/bin/python benchmarks/decode.py [--threads 2] [--new-tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from thinkact.model.checkpoint import load_checkpoint, save_checkpoint
from thinkact.model.engine import Session
from thinkact.model.int4 import DequantCache
from thinkact.model.int4_checkpoint import quantize_checkpoint, set_dequant_cache
from thinkact.model.model import K2ForCausalLM
from thinkact.model.presets import bench_18m
from thinkact.model.sampling import SamplingParams
from thinkact.model.sizing import size_model

GREEDY = SamplingParams(temperature=0.0)


def best(fn: Callable[[], float], repeats: int) -> float:
    """Smallest of ``repeats`` timings (seconds)."""
    return min(fn() for _ in range(repeats))


def gemv_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """GB/s reading an fp32 matrix of ``mib`` MiB once per torch.mv (the decode access pattern)."""
    cols = 4096
    w = torch.randn(mib * 2**20 // 4 // cols, cols)
    v = torch.randn(cols)
    torch.mv(w, v)

    def once() -> float:
        t = time.perf_counter()
        torch.mv(w, v)
        return time.perf_counter() - t

    return w.numel() * 4 / best(once, repeats) / 1e9


def thinkact_decode(model: Any, prompt: list[int], n: int, batch: int, repeats: int) -> float:
    """Decode tok/s (all rows together), prefill excluded: prefill once, fork, decode."""

    def once() -> float:
        s = Session(model, len(prompt) + n + 1)
        s.feed(prompt)
        runner = s.fork(batch) if batch > 1 else s
        params = GREEDY if batch == 1 else SamplingParams(temperature=1.0)
        t = time.perf_counter()
        out = runner.generate(n, params, seeds=0)
        dt = time.perf_counter() - t
        assert all(len(r) == n for r in out.tokens)
        return dt

    return batch * n / best(once, repeats)


def hf_generate_decode(hf: Any, prompt: list[int], n: int, repeats: int) -> float:
    """transformers ``generate`` decode tok/s: (time for n tokens - time for 1) / (n - 1)."""
    ids = torch.tensor([prompt])

    def gen(k: int) -> float:
        t = time.perf_counter()
        out = hf.generate(ids, max_new_tokens=k, min_new_tokens=k, do_sample=False, pad_token_id=0)
        dt = time.perf_counter() - t
        assert out.shape[1] == len(prompt) + k
        return dt

    return (n - 1) / max(best(lambda: gen(n), repeats) - best(lambda: gen(1), repeats), 1e-9)


def hf_loop_decode(hf: Any, prompt: list[int], n: int, repeats: int) -> float:
    """A hand-written greedy loop over HF's forward with its DynamicCache (no generate())."""
    from transformers import DynamicCache

    def once() -> float:
        cache = DynamicCache(config=hf.config)
        out = hf(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)
        tok = out.logits[:, -1:].argmax(-1)
        t = time.perf_counter()
        for _ in range(n):
            out = hf(input_ids=tok, past_key_values=out.past_key_values, use_cache=True)
            tok = out.logits[:, -1:].argmax(-1)
        return time.perf_counter() - t

    return n / best(once, repeats)


def ops_per_token(model: Any, prompt: list[int], n: int = 16) -> float:
    """aten ops (top level, as dispatched from Python) per decoded token at batch 1."""
    from torch.profiler import ProfilerActivity, profile

    s = Session(model, len(prompt) + n + 2)
    s.feed(prompt)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        s.generate(n, GREEDY)
    top = [e for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None]
    return len(top) / n


def active_bytes_per_token(model: K2ForCausalLM, context: float) -> tuple[float, float]:
    """(weight bytes, KV bytes) read per decoded token in fp32 at the given mean context."""
    size = size_model(model.config)
    weights = (size.active + model.config.hidden_size) * 4  # + one embedding row
    kv = context * size.kv_values_latent_per_layer * size.num_layers * 4
    return float(weights), float(kv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-hf", action="store_true", help="skip transformers (no oracle)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    n, reps = args.new_tokens, args.repeats
    prompt = [(7 * i + 3) % 8000 + 1 for i in range(args.prompt_len)]
    res: dict[str, Any] = {"threads": torch.get_num_threads(), "new_tokens": n}

    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        torch.manual_seed(0)
        src = K2ForCausalLM(bench_18m()).eval()
        save_checkpoint(src, Path(tmp) / "f32")
        model = load_checkpoint(Path(tmp) / "f32").eval()
        size = size_model(model.config)
        print(f"model: {size.total / 1e6:.1f}M params, {size.active / 1e6:.2f}M active")

        bw = gemv_bandwidth()
        w_bytes, kv_bytes = active_bytes_per_token(model, args.prompt_len + n / 2)
        roofline = bw * 1e9 / (w_bytes + kv_bytes)
        res.update(bandwidth_gb_s=round(bw, 1), roofline_tok_s=round(roofline, 1))
        print(
            f"bandwidth (fp32 GEMV, 256 MiB): {bw:.1f} GB/s; per token {w_bytes / 1e6:.1f} MB "
            f"weights + {kv_bytes / 1e6:.2f} MB KV -> roofline {roofline:.0f} tok/s"
        )

        b1 = thinkact_decode(model, prompt, n, 1, reps)
        res.update(thinkact_b1_tok_s=round(b1, 1), roofline_fraction=round(b1 / roofline, 3))
        print(
            f"thinkact batch 1: {b1:.1f} tok/s ({1e3 / b1:.2f} ms/token), "
            f"{b1 / roofline:.2f} of roofline"
        )

        if not args.no_hf:
            from transformers import DeepseekV3ForCausalLM

            hf = DeepseekV3ForCausalLM.from_pretrained(
                Path(tmp) / "f32", attn_implementation="eager", dtype=torch.float32
            ).eval()
            ids = torch.tensor([prompt])
            diff = (hf(input_ids=ids).logits - model(ids)).abs().max().item()
            hf_gen = hf_generate_decode(hf, prompt, n, reps)
            hf_loop = hf_loop_decode(hf, prompt, n, reps)
            res.update(
                hf_logit_max_diff=diff,
                hf_generate_tok_s=round(hf_gen, 1),
                hf_loop_tok_s=round(hf_loop, 1),
                ratio_vs_hf_generate=round(b1 / hf_gen, 2),
                ratio_vs_hf_loop=round(b1 / hf_loop, 2),
            )
            print(
                f"transformers eager generate: {hf_gen:.1f} tok/s, cached loop "
                f"{hf_loop:.1f} tok/s (logits max |diff| vs thinkact {diff:.1e})"
            )
            print(
                f"ratio thinkact / transformers: {b1 / hf_gen:.2f}x (generate), "
                f"{b1 / hf_loop:.2f}x (loop)"
            )
            del hf

        bn = thinkact_decode(model, prompt, n, args.batch, reps)
        res.update(
            batch=args.batch, thinkact_batch_tok_s=round(bn, 1), batch_ratio=round(bn / b1, 2)
        )
        print(f"thinkact batch {args.batch}: {bn:.1f} tok/s total, {bn / b1:.2f}x batch 1")

        res["ops_per_token"] = round(ops_per_token(model, prompt), 1)
        print(f"aten ops per decoded token (batch 1): {res['ops_per_token']}")

        quantize_checkpoint(Path(tmp) / "f32", Path(tmp) / "int4")
        q = load_checkpoint(Path(tmp) / "int4").eval()
        q1 = thinkact_decode(q, prompt, n, 1, reps)
        cache = DequantCache(max_bytes=64 * 2**20)
        set_dequant_cache(q, cache)
        q1c = thinkact_decode(q, prompt, n, 1, reps)
        res.update(int4_b1_tok_s=round(q1, 1), int4_cached_b1_tok_s=round(q1c, 1))
        hit = cache.hits / max(cache.hits + cache.misses, 1)
        print(
            f"INT4 batch 1: {q1:.1f} tok/s dequantizing on the fly, {q1c:.1f} tok/s with a "
            f"hot-expert dequant cache (hit rate {hit:.2f})"
        )

    print(json.dumps(res))


if __name__ == "__main__":
    main()
