"""K2Config: one dataclass that reads/writes HF ``config.json`` (``kimi_k2`` / ``deepseek_v3``).

Field names follow the HF config so a K2-Thinking or DeepSeek-V3 ``config.json`` maps onto it
directly. Values no primary source confirms (``rms_norm_eps``, ``beta_fast``; docs/k2.md) are
plain fields, never constants. No torch import: the CLI sizes configs without the model stack.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RopeScaling:
    """YaRN parameters (the only RoPE scaling K2 / DeepSeek-V3 use).

    ``factor`` None means ``max_position_embeddings / original_max_position_embeddings`` (HF rule).
    ``attention_factor`` None: HF's inferred cos/sin scale (``K2Config.rope_attention_factor``).
    """

    factor: float | None = None
    original_max_position_embeddings: int = 4096
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True
    type: str = "yarn"


# Keys of the HF dict that K2Config consumes itself (everything else is kept in ``extra``).
_ROPE_KEYS = ("rope_scaling", "rope_parameters", "rope_theta")


@dataclass
class K2Config:
    """Architecture of a K2 / DeepSeek-V3 model. Defaults are a tiny model, not the 1T one.

    Field names and meanings are the Hugging Face ``DeepseekV3Config``'s; K2-Thinking's values
    are in ``presets.kimi_k2_thinking`` and docs/k2.md ("Model config").
    """

    vocab_size: int = 256  # token ids 0..vocab_size-1, special tokens included
    hidden_size: int = 64  # width of the residual stream
    intermediate_size: int = 128  # hidden width of the dense (non-MoE) SwiGLU MLPs
    moe_intermediate_size: int = 32  # hidden width of each routed and shared expert
    num_hidden_layers: int = 2  # decoder layers
    num_attention_heads: int = 4  # MLA heads
    num_key_value_heads: int | None = None  # must equal the heads (MLA); None: the same
    n_shared_experts: int = 1  # experts every token goes through, unweighted (0: none)
    n_routed_experts: int = 8  # experts the router chooses among
    num_experts_per_tok: int = 2  # experts chosen per token (top-k)
    routed_scaling_factor: float = 2.827  # multiplies the routed experts' mixing weights
    kv_lora_rank: int = 32  # width of the compressed KV latent that the cache keeps
    q_lora_rank: int | None = 32  # width of the query's low-rank bottleneck; None: a plain q_proj
    qk_rope_head_dim: int = 8  # per-head query/key dims that get RoPE (the key part is shared)
    qk_nope_head_dim: int = 16  # per-head query/key dims without position
    v_head_dim: int = 16  # per-head value dims
    n_group: int = 1  # expert groups for group-limited routing (1: no group step)
    topk_group: int = 1  # groups kept per token before the top-k
    first_k_dense_replace: int = 1  # layers below this use a dense MLP, not MoE
    moe_layer_freq: int = 1  # from there, every this-many layers is MoE
    norm_topk_prob: bool = True  # normalise the chosen experts' scores to sum 1
    topk_method: str = "noaux_tc"  # routing rule: top-k on bias-corrected sigmoid scores
    scoring_func: str = "sigmoid"  # router score function
    hidden_act: str = "silu"  # MLP activation (SwiGLU gate)
    max_position_embeddings: int = 4096  # longest sequence (with YaRN: the extended length)
    initializer_range: float = 0.02  # std of the normal init of new weights
    rms_norm_eps: float = 1e-5  # epsilon of the layer RMSNorms
    # HF builds q_a_layernorm / kv_a_layernorm with its default eps (1e-6), ignoring rms_norm_eps.
    latent_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False  # lm_head shares the embedding matrix
    rope_theta: float = 10000.0  # RoPE base frequency
    rope_scaling: RopeScaling | None = None  # YaRN context extension; None: plain RoPE
    rope_interleave: bool = True  # rope dims stored interleaved (DeepSeek's checkpoint layout)
    attention_bias: bool = False  # biases on the attention projections
    bos_token_id: int | None = None  # begin-of-sequence token
    eos_token_id: int | list[int] | None = None  # token(s) that end generation
    pad_token_id: int | None = None  # padding token
    model_type: str = "deepseek_v3"  # "kimi_k2" for K2 checkpoints
    torch_dtype: str = "bfloat16"  # dtype of the unquantized weights on disk
    num_nextn_predict_layers: int = 0  # multi-token-prediction layers (not run here)
    quantization_config: dict[str, Any] | None = None  # compressed-tensors block (INT4 experts)
    extra: dict[str, Any] = field(default_factory=dict)  # other config.json keys, kept as read

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        self.validate()

    # ---------------------------------------------------------------- derived
    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def is_yarn(self) -> bool:
        return self.rope_scaling is not None

    def is_moe_layer(self, layer_idx: int) -> bool:
        """Dense below ``first_k_dense_replace``, then MoE every ``moe_layer_freq`` layers."""
        return layer_idx >= self.first_k_dense_replace and layer_idx % self.moe_layer_freq == 0

    def rope_factor(self) -> float:
        rs = self.rope_scaling
        if rs is None:
            return 1.0
        if rs.factor is not None:
            return float(rs.factor)
        return self.max_position_embeddings / rs.original_max_position_embeddings

    def rope_attention_factor(self) -> float:
        """Scale HF applies to cos/sin: mscale(f, mscale) / mscale(f, mscale_all_dim)."""
        rs = self.rope_scaling
        if rs is None:
            return 1.0
        if rs.attention_factor is not None:
            return float(rs.attention_factor)
        f = self.rope_factor()
        if rs.mscale and rs.mscale_all_dim:
            return yarn_mscale(f, rs.mscale) / yarn_mscale(f, rs.mscale_all_dim)
        return yarn_mscale(f, 1.0)

    def softmax_scale(self) -> float:
        """qk_head_dim^-0.5, times mscale(f, mscale_all_dim)^2 under YaRN if mscale_all_dim set."""
        scale = self.qk_head_dim**-0.5
        rs = self.rope_scaling
        if rs is not None and rs.mscale_all_dim:
            m = yarn_mscale(self.rope_factor(), rs.mscale_all_dim)
            scale *= m * m
        return scale

    def validate(self) -> None:
        """Reject configs the architecture cannot run, naming the offending field."""
        problems: list[str] = []
        if self.num_key_value_heads != self.num_attention_heads:
            problems.append(
                f"num_key_value_heads ({self.num_key_value_heads}) must equal "
                f"num_attention_heads ({self.num_attention_heads}) for MLA"
            )
        if self.n_group < 1 or self.n_routed_experts % self.n_group:
            problems.append(f"n_routed_experts ({self.n_routed_experts}) not divisible by n_group")
        if not 1 <= self.topk_group <= self.n_group:
            problems.append(f"topk_group ({self.topk_group}) not in [1, n_group={self.n_group}]")
        if self.n_group > 1 and self.n_routed_experts // self.n_group < 2:
            problems.append("group-limited routing needs at least 2 experts per group (top-2 sum)")
        if self.num_experts_per_tok > self.n_routed_experts:
            problems.append("num_experts_per_tok exceeds n_routed_experts")
        if self.qk_rope_head_dim % 2:
            problems.append(f"qk_rope_head_dim ({self.qk_rope_head_dim}) must be even")
        if self.hidden_act != "silu":
            problems.append(f"hidden_act {self.hidden_act!r} unsupported (only 'silu')")
        if self.scoring_func != "sigmoid" or self.topk_method != "noaux_tc":
            problems.append(
                f"router {self.scoring_func}/{self.topk_method} unsupported (only sigmoid/noaux_tc)"
            )
        if self.moe_layer_freq < 1:
            problems.append("moe_layer_freq must be >= 1")
        if self.rope_scaling is not None and self.rope_scaling.type != "yarn":
            problems.append(f"rope type {self.rope_scaling.type!r} unsupported (only yarn/default)")
        if problems:
            raise ValueError("invalid K2Config: " + "; ".join(problems))

    # ---------------------------------------------------------------- HF dict I/O
    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> K2Config:
        """Read a HF config dict (``kimi_k2`` or ``deepseek_v3``, 4.x ``rope_scaling`` or 5.x
        ``rope_parameters``). Unknown keys are kept in ``extra`` and written back unchanged."""
        d = dict(d)
        model_type = d.get("model_type", "deepseek_v3")
        if model_type not in ("deepseek_v3", "kimi_k2"):
            raise ValueError(f"model_type {model_type!r} is not a K2/DeepSeek-V3 config")
        if "text_config" in d:
            raise ValueError("multimodal config (text_config): pass the text_config dict instead")
        theta, scaling = _parse_rope(d)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra", "rope_scaling", "rope_theta"}
        kwargs: dict[str, Any] = {k: d.pop(k) for k in list(d) if k in names}
        for k in _ROPE_KEYS:
            d.pop(k, None)
        if "num_mtp_layers" in d:  # HF 5.x alias
            kwargs.setdefault("num_nextn_predict_layers", d.pop("num_mtp_layers"))
        if "dtype" in d:  # HF 5.x writes dtype instead of torch_dtype
            kwargs.setdefault("torch_dtype", d.pop("dtype"))
        for drop in ("transformers_version", "architectures", "qk_head_dim", "head_dim"):
            d.pop(drop, None)
        if kwargs.get("q_lora_rank") == 0:  # reference convention: 0 means no query LoRA
            kwargs["q_lora_rank"] = None
        if kwargs.get("n_group") is None:
            kwargs["n_group"] = 1
        if kwargs.get("topk_group") is None:
            kwargs["topk_group"] = 1
        return cls(rope_theta=theta, rope_scaling=scaling, extra=d, **kwargs)

    def to_hf_dict(self, legacy_rope: bool = False, model_type: str | None = None
                   ) -> dict[str, Any]:
        """The HF config dict (``legacy_rope``: 4.x ``rope_theta``/``rope_scaling`` keys).

        transformers loads it as DeepseekV3Config when model_type is ``deepseek_v3``; pass
        ``model_type="deepseek_v3"`` to make a ``kimi_k2`` config loadable there.
        """
        d: dict[str, Any] = dict(self.extra)
        d["architectures"] = ["DeepseekV3ForCausalLM"]
        skip = {"extra", "rope_scaling", "rope_theta", "quantization_config", "latent_norm_eps"}
        for f in dataclasses.fields(self):
            if f.name not in skip:
                d[f.name] = getattr(self, f.name)
        if model_type is not None:
            d["model_type"] = model_type
        d["qk_head_dim"] = self.qk_head_dim
        d["head_dim"] = self.qk_rope_head_dim
        if self.latent_norm_eps != 1e-6:
            d["latent_norm_eps"] = self.latent_norm_eps  # thinkact-only; HF ignores it
        rope: dict[str, Any] = {}
        if self.rope_scaling is not None:
            rs = dataclasses.asdict(self.rope_scaling)
            rope = {k: v for k, v in rs.items() if v is not None and k not in ("type", "truncate")}
            rope["factor"] = self.rope_factor()  # transformers requires the key; resolve None
            if not self.rope_scaling.truncate:
                rope["truncate"] = False
        if legacy_rope:
            d["rope_theta"] = self.rope_theta
            d["rope_scaling"] = {"type": "yarn", **rope} if self.rope_scaling else None
        else:
            rtype = "yarn" if self.rope_scaling else "default"
            d["rope_parameters"] = {"rope_type": rtype, "rope_theta": self.rope_theta, **rope}
        if self.quantization_config is not None:
            d["quantization_config"] = self.quantization_config
        return d

    @classmethod
    def from_pretrained(cls, path: str | Path) -> K2Config:
        """Read ``config.json`` from a checkpoint directory (or the file itself)."""
        p = Path(path)
        if p.is_dir():
            p = p / "config.json"
        if not p.exists():
            raise FileNotFoundError(f"no config.json at {p}")
        return cls.from_hf_dict(json.loads(p.read_text()))

    def save_pretrained(self, path: str | Path, legacy_rope: bool = False,
                        model_type: str | None = None) -> Path:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        out = p / "config.json"
        d = self.to_hf_dict(legacy_rope, model_type)
        out.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
        return out

    def replace(self, **changes: Any) -> K2Config:
        return dataclasses.replace(self, **changes)


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN magnitude correction 0.1·m·ln(f) + 1 (1 when f <= 1)."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def _parse_rope(d: dict[str, Any]) -> tuple[float, RopeScaling | None]:
    """Accept legacy ``rope_theta`` + ``rope_scaling`` and 5.x ``rope_parameters``."""
    params = d.get("rope_parameters") or d.get("rope_scaling") or {}
    theta = float(params.get("rope_theta", d.get("rope_theta", 10000.0)))
    rtype = params.get("rope_type", params.get("type", "default"))
    if rtype == "default":
        return theta, None
    if rtype != "yarn":
        raise ValueError(f"rope type {rtype!r} unsupported (K2/DeepSeek-V3 use 'yarn')")
    orig = params.get("original_max_position_embeddings", d.get("max_position_embeddings", 4096))
    return theta, RopeScaling(
        factor=params.get("factor"),
        original_max_position_embeddings=int(orig),
        beta_fast=float(params.get("beta_fast") or 32.0),
        beta_slow=float(params.get("beta_slow") or 1.0),
        mscale=params.get("mscale"),
        mscale_all_dim=params.get("mscale_all_dim"),
        attention_factor=params.get("attention_factor"),
        truncate=bool(params.get("truncate", True)),
    )
