"""Episodes → token ids with a loss mask, rendered exactly as the local backend prompts.

For each assistant message of the current turn, the prompt is ``render(messages[:k])`` with
the generation prompt (what :class:`~thinkact.backends.local.LocalBackend` would send at that
step) and the target is the assistant body plus ``<|im_end|>``: the tokens the model must
produce. Consecutive steps share their prefix, so one sequence holds the whole episode and
every assistant token of the current turn is learned; the rest (tool declarations, system,
user, tool output, history) is context only.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from thinkact.chat_format.render import ChatFormat, render, render_assistant_body
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.messages import ToolSpec
from thinkact.train.episodes import TOOL_NAMES, Episode, random_episode

Sample = tuple[list[int], list[bool]]  # token ids, and which ones are learned targets


@lru_cache(maxsize=1)
def _all_specs() -> dict[str, ToolSpec]:
    from thinkact.tools.registry import build_tools
    from thinkact.train.world import WORLD_DIR

    with tempfile.TemporaryDirectory() as ws:
        tools = build_tools([*TOOL_NAMES, "facts"], workspace=Path(ws),
                            facts_db=WORLD_DIR / "facts.sqlite")
        return {t.spec.name: t.spec for t in tools}


def tool_specs(names: Sequence[str]) -> list[ToolSpec]:
    """The built-in tools' real specs, in the order given."""
    specs = _all_specs()
    missing = [n for n in names if n not in specs]
    if missing:
        raise ValueError(f"no built-in tool named {missing}; available: {sorted(specs)}")
    return [specs[n] for n in names]


def episode_texts(ep: Episode, fmt: ChatFormat) -> list[tuple[str, bool]]:
    """The episode as (text, learned) segments whose concatenation is the full sequence."""
    specs = tool_specs(ep.tools)
    segments: list[tuple[str, bool]] = []
    done = ""
    for k in range(ep.train_from, len(ep.messages)):
        msg = ep.messages[k]
        if msg.role != "assistant":
            continue
        prompt = render(ep.messages[:k], specs, fmt=fmt)
        if not prompt.startswith(done):
            raise ValueError("rendered prompts are not prefixes of each other; the chat "
                             "format's retention rule would make training and serving differ")
        segments.append((prompt[len(done):], False))
        target = render_assistant_body(msg, True, fmt) + fmt.markers.im_end
        segments.append((target, True))
        done = prompt + target
    return segments


def encode_episode(ep: Episode, tok: K2Tokenizer, fmt: ChatFormat) -> Sample:
    """Token ids and target mask; segments are encoded separately (they meet at special
    tokens, so this equals encoding the joined text)."""
    ids: list[int] = []
    mask: list[bool] = []
    for text, learned in episode_texts(ep, fmt):
        piece = tok.encode(text)
        ids += piece
        mask += [learned] * len(piece)
    return ids, mask


def corpus_texts(n: int, fmt: ChatFormat, seed: int = 0) -> Iterator[str]:
    """Episode texts for training the tokenizer."""
    rng = random.Random(seed)
    for _ in range(n):
        yield "".join(t for t, _ in episode_texts(random_episode(rng), fmt))


def sample_stream(tok: K2Tokenizer, fmt: ChatFormat, seed: int, max_len: int
                  ) -> Iterator[Sample]:
    """An endless stream of encoded one-call episodes no longer than ``max_len`` tokens."""
    rng = random.Random(seed)
    return encoded_stream(iter(lambda: random_episode(rng), None), tok, fmt, max_len)


def encoded_stream(episodes: Iterator[Episode], tok: K2Tokenizer, fmt: ChatFormat,
                   max_len: int) -> Iterator[Sample]:
    """``episodes`` encoded, those longer than ``max_len`` tokens left out."""
    for ep in episodes:
        ids, mask = encode_episode(ep, tok, fmt)
        if len(ids) <= max_len:
            yield ids, mask
