"""The ``quantization_config`` block of an INT4 K2 checkpoint (docs/k2.md, "INT4
checkpoints"), torch-free.

Only routed experts are INT4 (symmetric, group-wise, compressed-tensors ``pack-quantized``);
attention, shared experts, dense MLPs, the router and lm_head stay in full precision.
"""

from __future__ import annotations

from typing import Any

DEFAULT_GROUP_SIZE = 32


def int4_quantization_config(group_size: int = DEFAULT_GROUP_SIZE) -> dict[str, Any]:
    """The ``quantization_config`` block of config.json, shaped like K2 Thinking's."""
    return {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "quantization_status": "compressed",
        "kv_cache_scheme": None,
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "input_activations": None,
                "output_activations": None,
                "weights": {
                    "num_bits": 4, "type": "int", "symmetric": True, "strategy": "group",
                    "group_size": group_size, "dynamic": False, "observer": "minmax",
                    "actorder": None, "block_structure": None,
                },
            }
        },
        "ignore": [
            "lm_head",
            "re:.*self_attn.*",
            "re:.*shared_experts.*",
            r"re:.*mlp\.(gate|up|gate_up|down)_proj.*",
        ],
    }
