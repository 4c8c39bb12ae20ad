"""Load a thinkact checkpoint (model + tokenizer in one directory), or make a random one.

A random checkpoint (:func:`make_random_checkpoint`) is how tests, benchmarks and demos get a
real model stack to run without downloading weights: gibberish text, working plumbing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from thinkact.chat_format.render import DEFAULT_FORMAT, ChatFormat, format_from_dict
from thinkact.chat_format.tokenizer import K2Tokenizer, train_tokenizer
from thinkact.chat_format.tokens import BOS, IM_END, PAD

CHAT_FORMAT_FILE = "chat_format.json"

DEFAULT_CORPUS = (
    "The quick brown fox jumps over the lazy dog. Let me think about this step by step.",
    'I will call a tool: {"city": "Beijing", "query": "weather", "n": 3}. The answer is 42.',
    "def add(a, b):\n    return a + b\nprint(add(17, 23))\n北京天气晴朗。",
)


def preset_for_tokenizer(preset: str, tok: K2Tokenizer, **config_changes: Any) -> Any:
    """``preset``'s config sized to ``tok``: its vocabulary and its BOS / end-of-turn / PAD ids."""
    from thinkact.model.presets import get_preset

    return get_preset(preset).replace(
        vocab_size=tok.vocab_size, bos_token_id=tok.specials.get(BOS),
        eos_token_id=tok.specials.get(IM_END), pad_token_id=tok.specials.get(PAD),
        **config_changes)


def make_random_checkpoint(
    path: str | Path,
    *,
    preset: str = "tiny",
    vocab_size: int = 512,
    corpus: Iterable[str] = DEFAULT_CORPUS,
    max_seq_len: int = 4096,
    seed: int = 0,
    tokenizer: K2Tokenizer | None = None,
    **config_changes: Any,
) -> Path:
    """Random-weight model of ``preset``'s shape with a tokenizer trained on ``corpus``."""
    import torch

    from thinkact.model.checkpoint import save_checkpoint
    from thinkact.model.model import K2ForCausalLM

    tok = tokenizer or train_tokenizer(list(corpus) * 10, vocab_size)
    cfg = preset_for_tokenizer(preset, tok, max_position_embeddings=max_seq_len,
                               **config_changes)
    torch.manual_seed(seed)
    model = K2ForCausalLM(cfg, dtype=torch.float32)
    out = save_checkpoint(model, path)
    tok.save(out)
    return out


def load_local_model(path: str | Path, dtype: Any = None) -> tuple[Any, K2Tokenizer]:
    """(model in eval mode, tokenizer) from a checkpoint directory (float or INT4)."""
    import thinkact.model.int4_checkpoint  # noqa: F401  (registers the INT4 loader)
    from thinkact.model.checkpoint import load_checkpoint

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a checkpoint directory (no config.json)")
    model = load_checkpoint(path, dtype=dtype).eval()
    return model, K2Tokenizer.load(path)


def load_chat_format(path: str | Path) -> ChatFormat:
    """The chat format a checkpoint was trained with: its ``chat_format.json`` (the fields that
    differ from K2's template), else the K2 template itself."""
    file = Path(path) / CHAT_FORMAT_FILE
    if not file.exists():
        return DEFAULT_FORMAT
    try:
        return format_from_dict(json.loads(file.read_text()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{file}: {exc}") from None
