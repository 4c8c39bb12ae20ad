"""NativeDecoder: :class:`~thinkact.model.fast_decode.FastDecoder`'s step in one C call.

Same contract (``step(tokens, pos, cache) -> logits [B, V]``, same KV cache), same prepared
math (:class:`~thinkact.model.fast_layers.PreparedLayer`), but each weight is repacked into
column panels (``pack``) and the whole step runs in ``decode_step.c``. Eager PyTorch pays ~5 µs
of dispatch for each of ~400 ops per token and small-row GEMMs read wide weights in strided
panels; here neither happens, so batch 1 runs near the memory-bandwidth roofline and a
batch of rows reads each weight once. Float32 models, with float or INT4 routed experts (INT4:
16-byte nibble rows per panel and per-group scales, ``pack_int4_panels``; bf16 models keep the
PyTorch path); everything the model supports in routing (group-limited ``noaux_tc``, shared
experts or none, ``norm_topk_prob``) runs here.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_float, c_int32, c_int64, c_void_p
from typing import Any

import torch
from torch import nn

from thinkact.model.fast_layers import (
    ParamWatch,
    PreparedLayer,
    RopeRotations,
    check_rows,
    check_step,
)
from thinkact.model.int4 import Int4Linear
from thinkact.model.native.build import load_library

PANEL = 32  # must equal PW in decode_step.c


class Mat(ctypes.Structure):
    _fields_ = [("w", c_void_p), ("k", c_int32), ("n", c_int32)]


class Mat4(ctypes.Structure):
    _fields_ = [("q", c_void_p), ("s", c_void_p), ("k", c_int32), ("n", c_int32),
                ("g", c_int32)]


class Layer(ctypes.Structure):
    _fields_ = [
        *((name, c_void_p) for name in ("in_norm", "post_norm", "kv_norm", "q_norm")),
        *((name, c_float) for name in ("eps_in", "eps_post", "eps_kv", "eps_q")),
        ("w_a", Mat), ("w_q", Mat), ("w_uv", c_void_p), ("w_o", Mat),
        ("gu", Mat), ("down", Mat), ("router", Mat), ("bias", c_void_p),
        ("e_gu", POINTER(Mat)), ("e_down", POINTER(Mat)), ("moe", c_int32),
        ("e_gu4", POINTER(Mat4)), ("e_down4", POINTER(Mat4)),
    ]  # fmt: skip


class Model(ctypes.Structure):
    _fields_ = [
        *((name, c_int32) for name in (
            "n_layers", "hidden", "heads", "q_rank", "kv", "rope", "v_dim", "vocab",
            "n_experts", "top_k", "n_group", "topk_group", "norm_topk")),
        ("routed_scale", c_float), ("eps_final", c_float), ("max_ffn", c_int32),
        ("embed", c_void_p), ("final_norm", c_void_p), ("lm_head", Mat),
        ("layers", POINTER(Layer)),
    ]  # fmt: skip


def pack(w: torch.Tensor) -> torch.Tensor:
    """[k, n] -> [ceil(n / PANEL), k, PANEL] zero-padded column panels (contiguous)."""
    k, n = w.shape
    panels = -(-n // PANEL)
    padded = torch.nn.functional.pad(w, (0, panels * PANEL - n))
    return padded.view(k, panels, PANEL).transpose(0, 1).contiguous()


def pack_int4_panels(q: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 values [k, n] in [-8, 7] and group scales [k / g, n] -> the C step's INT4 panels:
    uint8 [panels, k, 16] (column j low nibble, j + 16 high, offset +8) and float scales
    [panels, k / g, PANEL] (zero padded)."""
    u = (pack(q.to(torch.int16) + 8)).to(torch.uint8)  # [panels, k, 32]; padding becomes 0
    nibbles = u[..., :16] | (u[..., 16:] << 4)
    return nibbles.contiguous(), pack(scales.float())


def supports(model: Any) -> bool:
    """True when the C step can run ``model``: the fused path's conditions, float32 weights
    on the CPU, routed experts float or INT4 with float32 scales."""
    from thinkact.model.fast_decode import supports as fused_ok

    if not fused_ok(model):
        return False
    params = list(model.parameters())
    int4 = [m for m in model.modules() if isinstance(m, Int4Linear)]
    return all(p.dtype == torch.float32 and p.device.type == "cpu" for p in params) and all(
        b.dtype == torch.float32 for b in model.buffers() if b.is_floating_point()
    ) and all(m.weight_scale.dtype == torch.float32 and m.weight_packed.device.type == "cpu"
              and m.in_features % m.group_size == 0 for m in int4)


class NativeDecoder:
    """``step(tokens, pos, cache) -> logits [B, V]`` by ``ta_decode_step`` (see module doc)."""

    def __init__(self, model: Any, lib: ctypes.CDLL) -> None:
        if not supports(model):
            raise ValueError("NativeDecoder needs a float32 CPU K2ForCausalLM (absorb; INT4 "
                             "experts with float32 scales)")
        cfg = model.config
        self._fn = lib.ta_decode_step
        self._fn.restype = c_int32
        self._fn.argtypes = [POINTER(Model), c_void_p, c_int32, c_int32, c_void_p,
                             c_int64, c_int64, c_void_p, c_void_p]  # fmt: skip
        self._rows_fn = lib.ta_decode_rows
        self._rows_fn.restype = c_int32
        self._rows_fn.argtypes = [POINTER(Model), c_void_p, c_int32, c_void_p, c_void_p,
                                  c_void_p, c_void_p, c_void_p]  # fmt: skip
        self._watch = ParamWatch(model)
        self._rot = RopeRotations(model, torch.float32, torch.device("cpu"))
        self._keep: list[Any] = []  # every tensor and array the C structs point into
        with torch.no_grad():
            layers = [self._layer(PreparedLayer(lay)) for lay in model.model.layers]
        self._layers = (Layer * len(layers))(*layers)
        embed = model.model.embed_tokens.weight.detach()
        self.vocab = embed.shape[0]
        self._model = Model(
            n_layers=len(layers), hidden=cfg.hidden_size, heads=cfg.num_attention_heads,
            q_rank=cfg.q_lora_rank or 0, kv=cfg.kv_lora_rank, rope=cfg.qk_rope_head_dim,
            v_dim=cfg.v_head_dim, vocab=self.vocab, n_experts=cfg.n_routed_experts,
            top_k=cfg.num_experts_per_tok, n_group=cfg.n_group, topk_group=cfg.topk_group,
            norm_topk=int(cfg.norm_topk_prob), routed_scale=float(cfg.routed_scaling_factor),
            eps_final=float(model.model.norm.eps), max_ffn=2 * max(  # widest [gate | up]
                cfg.intermediate_size, cfg.moe_intermediate_size * max(cfg.n_shared_experts, 1)),
            embed=self._ptr(embed), final_norm=self._ptr(model.model.norm.weight.detach()),
            lm_head=self._mat(model.lm_head.weight.detach().t()), layers=self._layers,
        )  # fmt: skip

    def _ptr(self, t: torch.Tensor) -> int:
        t = t.contiguous()
        self._keep.append(t)
        return int(t.data_ptr())

    def _mat(self, w_kn: torch.Tensor) -> Mat:
        """A [k, n] matrix (y = x @ W) packed into panels."""
        return Mat(self._ptr(pack(w_kn)), w_kn.shape[0], w_kn.shape[1])

    def _mats(self, ws: list[torch.Tensor]) -> Any:
        arr = (Mat * len(ws))(*(self._mat(w) for w in ws))
        self._keep.append(arr)
        return arr

    def _layer(self, p: PreparedLayer) -> Layer:
        norms = (p.in_norm, p.post_norm, p.kv_norm, p.q_norm)
        lay = Layer(
            **{n: self._ptr(f.w) if f is not None else None for n, f in
               zip(("in_norm", "post_norm", "kv_norm", "q_norm"), norms, strict=True)},
            **{n: f.eps if f is not None else 0.0 for n, f in
               zip(("eps_in", "eps_post", "eps_kv", "eps_q"), norms, strict=True)},
            w_a=self._mat(p.w_a), w_q=self._mat(p.w_q), w_uv=self._ptr(p.w_uv),
            w_o=self._mat(p.w_o), moe=int(p.moe),
        )  # fmt: skip
        if not p.moe:
            lay.gu, lay.down = self._mat(p.dense[0]), self._mat(p.dense[1])
            return lay
        if p.shared is not None:
            lay.gu, lay.down = self._mat(p.shared[0]), self._mat(p.shared[1])
        lay.router = self._mat(p.router_t)
        lay.bias = self._ptr(p.router_bias.detach().float())
        if p.int4:
            assert p.int8 is not None  # PreparedLayer's default int4_mode
            lay.e_gu4 = self._mat4s([(q, s) for q, s, _, _ in p.int8])
            lay.e_down4 = self._mat4s([(q, s) for _, _, q, s in p.int8])
            return lay
        lay.e_gu = self._mats(p.gu_of)
        lay.e_down = self._mats(p.down_of)
        return lay

    def _mat4s(self, experts: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        """Per expert (int8 values [k, n], scales [k / g, 1, n]) -> an array of Mat4."""
        mats = []
        for q, s in experts:
            qp, sp = pack_int4_panels(q, s.squeeze(1))
            mats.append(Mat4(self._ptr(qp), self._ptr(sp), q.shape[0], q.shape[1],
                             q.shape[0] // s.shape[0]))
        arr = (Mat4 * len(mats))(*mats)
        self._keep.append(arr)
        return arr

    def stale(self, model: nn.Module) -> bool:
        """True if ``model``'s parameters were replaced or changed in place since build."""
        return self._watch.stale(model)

    @torch.inference_mode()
    def step(self, tokens: list[int] | torch.Tensor, pos: int, cache: Any) -> torch.Tensor:
        b = check_step("NativeDecoder", tokens, pos, cache)
        buf = cache.buffers[0]  # [L, B, S, C]
        if buf.dtype != torch.float32 or not buf.is_contiguous() or buf.device.type != "cpu":
            raise ValueError("NativeDecoder.step needs a contiguous float32 CPU cache")
        ids = torch.as_tensor(tokens, dtype=torch.int64).contiguous()
        rot = self._rot.at(pos)
        logits = torch.empty(b, self.vocab)
        _, rows, seq, width = buf.shape
        rc = self._fn(ctypes.byref(self._model), ids.data_ptr(), b, pos, buf.data_ptr(),
                      rows * seq * width, seq * width, rot.data_ptr(), logits.data_ptr())
        if rc == -1:
            bad = next(int(t) for t in ids.tolist() if not 0 <= t < self.vocab)
            raise ValueError(f"token id {bad} outside the vocabulary [0, {self.vocab})")
        if rc != 0:
            raise MemoryError("native decode step could not allocate its workspace")
        cache.length = max(cache.length, pos + 1)
        return logits

    @torch.inference_mode()
    def step_rows(self, tokens: list[int], positions: list[int], caches: list[Any]
                  ) -> torch.Tensor:
        """One token for each of several batch-1 caches, row b at ``positions[b]`` of
        ``caches[b]``, in one call (weights read once for all rows); logits [B, V]."""
        b = check_rows("NativeDecoder", tokens, positions, caches)
        bufs = [c.buffers[0] for c in caches]  # [L, 1, S, C] each
        if any(x.dtype != torch.float32 or not x.is_contiguous() or x.device.type != "cpu"
               for x in bufs):
            raise ValueError("NativeDecoder.step_rows needs contiguous float32 CPU caches")
        ids = torch.as_tensor(tokens, dtype=torch.int64)
        pos = torch.tensor(positions, dtype=torch.int32)
        ptrs = torch.tensor([x.data_ptr() for x in bufs], dtype=torch.int64)
        strides = torch.tensor([x.stride(0) for x in bufs], dtype=torch.int64)
        rots = [self._rot.at(p) for p in positions]  # views into one table: kept alive
        rot_ptrs = torch.tensor([r.data_ptr() for r in rots], dtype=torch.int64)
        logits = torch.empty(b, self.vocab)
        rc = self._rows_fn(ctypes.byref(self._model), ids.data_ptr(), b, pos.data_ptr(),
                           ptrs.data_ptr(), strides.data_ptr(), rot_ptrs.data_ptr(),
                           logits.data_ptr())
        if rc == -1:
            bad = next(int(t) for t in tokens if not 0 <= t < self.vocab)
            raise ValueError(f"token id {bad} outside the vocabulary [0, {self.vocab})")
        if rc != 0:
            raise MemoryError("native decode step could not allocate its workspace")
        for c, p in zip(caches, positions, strict=True):
            c.length = max(c.length, p + 1)
        return logits


def native_decoder(model: Any) -> NativeDecoder | None:
    """A NativeDecoder for ``model``, or None when the model or the machine cannot run one
    (see :mod:`thinkact.model.native.build`)."""
    if not supports(model):
        return None
    lib = load_library()
    return NativeDecoder(model, lib) if lib is not None else None
