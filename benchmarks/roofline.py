"""The roofline of an n-row decode step: the lower of its bandwidth and compute bounds.

A step of n rows takes at least the time to read its bytes (every weight once for all rows,
each row's own KV cache) at the bandwidth of a working set the model's size, and at least the
time to do its multiply-adds at the rate the C step's own matmul reaches on n rows with its
weights in cache. Both rates are measured in the same run. The ceiling on the batch ratio
(n-row tok/s over 1-row tok/s) is n * t(1) / t(n), t being the larger of the two bounds.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass

import torch

from decode import bytes_per_step, clocked
from thinkact.model.model import K2ForCausalLM
from thinkact.model.native.build import load_library
from thinkact.model.native.decoder import Mat, pack
from thinkact.model.sizing import size_model


def step_macs(model: K2ForCausalLM, rows: int, context: float
              ) -> tuple[float, float, float, float]:
    """Multiply-adds of a ``rows``-row step at the given mean context: (non-routed weights,
    routed experts, the rows each chosen expert multiplies on average, attention). Each row
    multiplies its own active weights; an expert runs once on the rows that chose it (for
    uniform top-k routing: rows * k over the experts any row picks); each row's attention runs
    over its own latent cache (scores over latent + rope, then the sum over the latent)."""
    cfg = model.config
    size = size_model(cfg)
    e, k = cfg.n_routed_experts, cfg.num_experts_per_tok
    hit = e * (1 - (1 - k / e) ** rows) if e else 1.0
    per_pos = cfg.num_attention_heads * (2 * cfg.kv_lora_rank + cfg.qk_rope_head_dim)
    return (rows * float(size.active - size.active_routed), rows * float(size.active_routed),
            max(1.0, rows * k / hit), rows * context * per_pos * cfg.num_hidden_layers)


def matmul_rates(rows: tuple[int, ...] = (1, 2, 4, 8), k: int = 256, n: int = 256,
                 seconds: float = 0.3) -> dict[int, float]:
    """Multiply-adds per CPU second of the C step's matmul (``ta_matmul``) for each row
    count, on a [k, n] weight (256 KiB by default: in cache) in its packed panels. Empty
    without the native library."""
    lib = load_library()
    if lib is None:
        return {}
    w = pack(torch.randn(k, n))
    mat = Mat(w.data_ptr(), k, n)
    x, y = torch.randn(max(rows), k), torch.empty(max(rows), n)
    fn = lib.ta_matmul
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Mat), ctypes.c_void_p,
                   ctypes.c_int, ctypes.c_int, ctypes.c_float, ctypes.c_int]
    out: dict[int, float] = {}
    for r in rows:
        def call(r: int = r, reps: int = 200) -> None:
            for _ in range(reps):
                fn(x.data_ptr(), k, ctypes.byref(mat), y.data_ptr(), n, r, 1.0, 0)
        call()
        best = float("inf")
        end = time.process_time() + seconds
        while time.process_time() < end:
            best = min(best, clocked(call)[1] / 200)
        out[r] = r * k * n / best
    return out


def stream_bandwidth(nbytes: float, seconds: float = 0.3) -> float:
    """Bytes per CPU second torch.mv reads from an fp32 matrix of ``nbytes`` (at least 1 MiB),
    read again and again: from cache when the model's weights fit there, else from memory.
    The best of the reads in ``seconds`` of CPU time (other jobs only ever slow one down)."""
    cols = 1024
    w = torch.randn(max(int(nbytes) // 4 // cols, 256), cols)
    v = torch.randn(cols)
    torch.mv(w, v)
    best = float("inf")
    end = time.process_time() + seconds
    while time.process_time() < end:
        best = min(best, clocked(lambda: torch.mv(w, v))[1])
    return w.numel() * 4 / best


@dataclass(frozen=True)
class Roofline:
    """The rates one run measured: bytes/s for the model's working set, MAC/s per row count."""

    bandwidth: float
    rates: dict[int, float]

    @classmethod
    def measure(cls, model: K2ForCausalLM) -> Roofline:
        weights = sum(p.numel() for p in model.parameters()) * 4
        return cls(stream_bandwidth(weights), matmul_rates())

    def step_time(self, model: K2ForCausalLM, rows: int, context: float) -> dict[str, float]:
        """Lower bounds on one step's time: by bytes, by multiply-adds (non-routed weights at
        the n-row matmul rate, each expert at the rate for its rows, attention at the best
        rate measured), and the larger."""
        bw = bytes_per_step(model, rows, context) / self.bandwidth
        if not self.rates:
            return {"bandwidth": bw, "compute": 0.0, "roofline": bw}
        dense, routed, per_expert, attn = step_macs(model, rows, context)
        compute = (dense / self.rate(rows) + routed / self.rate(per_expert)
                   + attn / max(self.rates.values()))
        return {"bandwidth": bw, "compute": compute, "roofline": max(bw, compute)}

    def rate(self, rows: float) -> float:
        """The matmul rate measured for the largest row count not above ``rows``."""
        return self.rates[max(r for r in self.rates if r <= max(rows, 1))]

    def ratio_ceiling(self, model: K2ForCausalLM, rows: int, context: float) -> float:
        """The most an n-row step can gain in tok/s over a 1-row step under this roofline."""
        one = self.step_time(model, 1, context)["roofline"]
        return rows * one / self.step_time(model, rows, context)["roofline"]

    def describe(self) -> str:
        rates = ", ".join(f"{r} row{'s' * (r > 1)} {v / 1e9:.1f}" for r, v in self.rates.items())
        return (f"bandwidth {self.bandwidth / 1e9:.1f} GB/s (working set the model's size); "
                f"C matmul in cache, GMAC/s: {rates or 'no native library'}")
