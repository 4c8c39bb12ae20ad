"""Decode speed of thinkact's KV-cached engine vs transformers, against a measured roofline.

Model: the benchmark shape of docs/performance.md (preset ``bench-18m``: vocab 8192, hidden 256,
8 layers, 16 routed experts top-2, 1 shared, q_lora 128, kv_lora 64, YaRN), random init,
fp32. Both implementations load the same HF-format safetensors written by thinkact.

Printed: threads; decode tok/s at batch 1 for thinkact's default step (the C step of
``thinkact.model.native``), for its fused PyTorch step, for transformers eager ``generate``
and a hand-cached HF loop, and the ratios; the bandwidth roofline (active weight bytes + KV
bytes read per token / bandwidth measured here with a large fp32 GEMV) and the fraction of
it reached; batch-8 total tok/s, its ratio to batch 1, and the batch-8 roofline: 8 rows
read the weights of every expert any row picks (10.5 of 16 per MoE layer on average for a
uniform top-2), so a step reads ~1.9x the bytes of a batch-1 step and a bandwidth-bound
engine's batch ratio cannot exceed 8 / 1.9 ≈ 4.2x (printed as "bandwidth ceiling"; beside
it the roofline ceiling of ``roofline.py``, where 8 rows' multiply-adds may bound first); INT4
decode tok/s (module forward unpacking per call, the same with a hot-expert dequant cache,
the fused PyTorch path, the C step's INT4 kernel) and the INT4 C step's ratio to the float C
step; aten ops per token of the PyTorch paths (the C step is one call).
Targets (issue #4): >= 2x transformers at batch 1, >= 0.5 of the roofline, batch 8 >= 5x
batch 1.

Every figure is given twice: by wall clock and by process CPU time. On a shared machine
other processes steal the cores; with one thread the CPU clock excludes that, so it is the
figure to compare across runs. Runs of all implementations interleave, each timed
``--repeats`` times after a warm-up round, and the best run counts.

    .venv/bin/python benchmarks/decode.py [--threads 1] [--new-tokens 128] [--repeats 3]
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
from thinkact.model.fast_decode import fast_decoder_for
from thinkact.model.int4 import DequantCache
from thinkact.model.int4_checkpoint import quantize_checkpoint, set_dequant_cache
from thinkact.model.model import K2ForCausalLM
from thinkact.model.native.decoder import NativeDecoder
from thinkact.model.presets import bench_18m
from thinkact.model.sampling import SamplingParams
from thinkact.model.sizing import size_model

GREEDY = SamplingParams(temperature=0.0)


Clock = tuple[float, float]  # (wall seconds, process CPU seconds)


def clocked(fn: Callable[[], object]) -> Clock:
    """Wall and process-CPU time of one call. With one thread, CPU time excludes the time the
    OS gave to other processes, so it stays meaningful on a busy shared machine."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def best(times: list[Clock]) -> Clock:
    return min(t[0] for t in times), min(t[1] for t in times)


def gemv_bandwidth(mib: int = 256, repeats: int = 7) -> Clock:
    """GB/s (wall, CPU) reading an fp32 matrix of ``mib`` MiB once per torch.mv."""
    cols = 4096
    w = torch.randn(mib * 2**20 // 4 // cols, cols)
    v = torch.randn(cols)
    torch.mv(w, v)
    t = best([clocked(lambda: torch.mv(w, v)) for _ in range(repeats)])
    return w.numel() * 4 / t[0] / 1e9, w.numel() * 4 / t[1] / 1e9


def thinkact_run(
    model: Any, prompt: list[int], n: int, batch: int, fast: bool = True, native: bool = True
) -> Callable[[], Clock]:
    """One timed decode of n tokens per row (prefill and fork excluded)."""

    def once() -> Clock:
        s = Session(model, len(prompt) + n + 1, fast=fast, native=native)
        s.feed(prompt)
        runner = s.fork(batch) if batch > 1 else s
        params = GREEDY if batch == 1 else SamplingParams(temperature=1.0)
        out: list[Any] = []
        t = clocked(lambda: out.append(runner.generate(n, params, seeds=0)))
        assert all(len(r) == n for r in out[0].tokens)
        return t

    return once


def hf_generate_run(hf: Any, prompt: list[int], k: int) -> Callable[[], Clock]:
    """transformers ``generate`` of exactly k new tokens (greedy, eager attention)."""
    ids = torch.tensor([prompt])

    def once() -> Clock:
        kw = {"max_new_tokens": k, "min_new_tokens": k, "do_sample": False, "pad_token_id": 0}
        return clocked(lambda: hf.generate(ids, **kw))

    return once


def hf_loop_run(hf: Any, prompt: list[int], n: int) -> Callable[[], Clock]:
    """A hand-written greedy loop over HF's forward and its DynamicCache (no generate())."""
    from transformers import DynamicCache

    def once() -> Clock:
        cache = DynamicCache(config=hf.config)
        out = hf(input_ids=torch.tensor([prompt]), past_key_values=cache, use_cache=True)

        def loop() -> None:
            o = out
            tok = o.logits[:, -1:].argmax(-1)
            for _ in range(n):
                o = hf(input_ids=tok, past_key_values=o.past_key_values, use_cache=True)
                tok = o.logits[:, -1:].argmax(-1)

        return clocked(loop)

    return once


def ops_per_token(model: Any, prompt: list[int], n: int = 16, fast: bool = True) -> float:
    """aten ops (top level, as dispatched from Python) per decoded token at batch 1 of the
    PyTorch paths (fused or module-by-module)."""
    from torch.profiler import ProfilerActivity, profile

    s = Session(model, len(prompt) + n + 2, fast=fast, native=False)
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


def bytes_per_step(model: K2ForCausalLM, rows: int, context: float) -> float:
    """fp32 bytes one decode step of ``rows`` rows reads: the non-routed weights once, every
    routed expert that any row picks (expected count for uniform top-k routing), one
    embedding row and the KV cache per row."""
    cfg = model.config
    weights, kv = active_bytes_per_token(model, context)
    expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size * 4
    moe_layers = cfg.num_hidden_layers - cfg.first_k_dense_replace
    e, k = cfg.n_routed_experts, cfg.num_experts_per_tok
    chosen = moe_layers * k * expert  # in ``weights`` already
    hit = moe_layers * e * (1 - (1 - k / e) ** rows) * expert
    embed_row = cfg.hidden_size * 4
    return weights - chosen - embed_row + hit + rows * (kv + embed_row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for every measurement (1: the CPU-clock figures stay meaningful "
        "on a shared machine; docs/performance.md used 2)",
    )
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
        per_token = w_bytes + kv_bytes
        print(
            f"bandwidth (fp32 GEMV over 256 MiB): {bw[0]:.1f} GB/s wall, {bw[1]:.1f} GB/s CPU; "
            f"read per token {w_bytes / 1e6:.1f} MB weights + {kv_bytes / 1e6:.2f} MB KV"
        )

        # name -> (run once, tokens produced per run); runs interleave so that every
        # implementation sees the same phases of a shared machine's load.
        nb = args.batch
        runs: dict[str, tuple[Callable[[], Clock], int]] = {
            "thinkact_b1": (thinkact_run(model, prompt, n, 1), n),
            f"thinkact_b{nb}": (thinkact_run(model, prompt, n, nb), n * nb),
            "fused_b1": (thinkact_run(model, prompt, n, 1, native=False), n),
            f"fused_b{nb}": (thinkact_run(model, prompt, n, nb, native=False), n * nb),
        }
        native = fast_decoder_for(model)
        res["native"] = isinstance(native, NativeDecoder)
        if not res["native"]:
            print("(no C compiler or THINKACT_NATIVE=0: the default step is the fused PyTorch one)")
        hf = None
        if not args.no_hf:
            from transformers import DeepseekV3ForCausalLM

            hf = DeepseekV3ForCausalLM.from_pretrained(
                Path(tmp) / "f32", attn_implementation="eager", dtype=torch.float32
            ).eval()
            ids = torch.tensor([prompt])
            res["hf_logit_max_diff"] = (hf(input_ids=ids).logits - model(ids)).abs().max().item()
            runs["hf_generate_n"] = (hf_generate_run(hf, prompt, n), n)
            runs["hf_generate_1"] = (hf_generate_run(hf, prompt, 1), 1)
            runs["hf_loop"] = (hf_loop_run(hf, prompt, n), n)
        quantize_checkpoint(Path(tmp) / "f32", Path(tmp) / "int4")
        q = load_checkpoint(Path(tmp) / "int4").eval()
        q_cached = load_checkpoint(Path(tmp) / "int4").eval()
        cache = DequantCache(max_bytes=64 * 2**20)
        set_dequant_cache(q_cached, cache)
        # INT4, four ways: the module forward unpacking every chosen expert on every call
        # (packed weights only), the same with the hot-expert float cache, the fused PyTorch
        # step (experts unpacked once to int8, one multiply per use) and the C step's INT4
        # kernel (nibbles and group scales read as stored, no float copy of the experts).
        runs["int4_b1"] = (thinkact_run(q, prompt, n, 1, fast=False), n)
        runs["int4_cached_b1"] = (thinkact_run(q_cached, prompt, n, 1, fast=False), n)
        runs["int4_fused_b1"] = (thinkact_run(q, prompt, n, 1, native=False), n)
        runs["int4_c_b1"] = (thinkact_run(q, prompt, n, 1), n)
        res["int4_native"] = isinstance(fast_decoder_for(q), NativeDecoder)

        times: dict[str, list[Clock]] = {k: [] for k in runs}
        for fn, _ in runs.values():  # warm-up round (fused-decoder build, allocator, HF init)
            fn()
        for _ in range(reps):
            for name, (fn, _) in runs.items():
                times[name].append(fn())
        t = {k: best(v) for k, v in times.items()}
        context = args.prompt_len + n / 2
        step_n = bytes_per_step(model, nb, context)
        ceiling = nb * per_token / step_n  # batch ratio of a purely bandwidth-bound engine
        from roofline import Roofline  # here: it imports this module's helpers

        roof = Roofline.measure(model)
        roof_ceiling = roof.ratio_ceiling(model, nb, context)  # bytes or multiply-adds
        print(f"roofline rates: {roof.describe()}")

        def rate(name: str, c: int) -> float:
            return runs[name][1] / t[name][c]

        clocks = ("wall", "cpu")
        for c, clock in enumerate(clocks):
            b1, bn = rate("thinkact_b1", c), rate(f"thinkact_b{nb}", c)
            roofline = bw[c] * 1e9 / per_token
            roofline_n = nb * bw[c] * 1e9 / step_n
            fig: dict[str, Any] = {
                "thinkact_b1_tok_s": b1,
                "ms_per_token": 1e3 / b1,
                "roofline_tok_s": roofline,
                "roofline_fraction": b1 / roofline,
                f"thinkact_b{nb}_tok_s": bn,
                "batch_ratio": bn / b1,
                f"roofline_b{nb}_tok_s": roofline_n,
                f"roofline_fraction_b{nb}": bn / roofline_n,
                "batch_ratio_bandwidth_ceiling": ceiling,
                "batch_ratio_roofline_ceiling": roof_ceiling,
                "fused_b1_tok_s": rate("fused_b1", c),
                f"fused_b{nb}_tok_s": rate(f"fused_b{nb}", c),
                "int4_b1_tok_s": rate("int4_b1", c),
                "int4_cached_b1_tok_s": rate("int4_cached_b1", c),
                "int4_fused_b1_tok_s": rate("int4_fused_b1", c),
                "int4_c_b1_tok_s": rate("int4_c_b1", c),
                "int4_c_vs_float_c_b1": rate("int4_c_b1", c) / b1,
            }
            if hf is not None:
                hf_gen = (n - 1) / max(t["hf_generate_n"][c] - t["hf_generate_1"][c], 1e-9)
                fig.update(
                    hf_generate_tok_s=hf_gen,
                    hf_loop_tok_s=rate("hf_loop", c),
                    ratio_vs_hf_generate=b1 / hf_gen,
                    ratio_vs_hf_loop=b1 / rate("hf_loop", c),
                )
            res[clock] = {k: round(v, 3 if v < 10 else 1) for k, v in fig.items()}
            print(f"--- by {clock} clock" + (" (1 thread: robust to other load)" if c else ""))
            print(
                f"thinkact batch 1: {b1:.1f} tok/s ({1e3 / b1:.2f} ms/token); roofline "
                f"{roofline:.0f} tok/s -> {b1 / roofline:.2f} of roofline (target >= 0.5)"
            )
            if hf is not None:
                print(
                    f"transformers eager: generate {fig['hf_generate_tok_s']:.1f} tok/s, cached "
                    f"loop {fig['hf_loop_tok_s']:.1f} tok/s -> thinkact is "
                    f"{fig['ratio_vs_hf_generate']:.2f}x / {fig['ratio_vs_hf_loop']:.2f}x "
                    f"(target >= 2x)"
                )
            print(
                f"thinkact batch {nb}: {bn:.1f} tok/s total = {bn / b1:.2f}x batch 1 (target >= "
                f"5x); batch-{nb} roofline {roofline_n:.0f} tok/s ({step_n / 1e6:.1f} MB a step) "
                f"-> {bn / roofline_n:.2f} of it; bandwidth ceiling on the ratio {ceiling:.2f}x, "
                f"roofline ceiling (the lower of bandwidth and compute) {roof_ceiling:.2f}x -> "
                f"{bn / b1 / roof_ceiling:.2f} of it"
            )
            fb1, fbn = fig["fused_b1_tok_s"], fig[f"fused_b{nb}_tok_s"]
            print(
                f"fused PyTorch step (native=False): batch 1 {fb1:.1f} tok/s, batch {nb} "
                f"{fbn:.1f} tok/s -> the default step is {b1 / fb1:.2f}x / {bn / fbn:.2f}x faster"
            )
            print(
                f"INT4 batch 1: {fig['int4_b1_tok_s']:.1f} tok/s unpacking per call (module "
                f"forward), {fig['int4_cached_b1_tok_s']:.1f} with the hot-expert dequant cache, "
                f"{fig['int4_fused_b1_tok_s']:.1f} fused (int8-unpacked experts), "
                f"{fig['int4_c_b1_tok_s']:.1f} in the C step = "
                f"{fig['int4_c_vs_float_c_b1']:.2f}x the float C step (target >= 1)"
            )
        if hf is not None:
            print(f"(transformers vs thinkact logits max |diff| {res['hf_logit_max_diff']:.1e})")

        res["ops_per_token"] = round(ops_per_token(model, prompt), 1)
        res["ops_per_token_module_forward"] = round(ops_per_token(model, prompt, fast=False), 1)
        print(
            f"aten ops per decoded token (batch 1): {res['ops_per_token']} fused PyTorch step, "
            f"{res['ops_per_token_module_forward']} module-by-module forward (C step: one call)"
        )

    print(json.dumps(res))


if __name__ == "__main__":
    main()
