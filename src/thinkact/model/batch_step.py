"""One decode step over several conversations, each a batch-1 :class:`Session` with its own
KV cache at its own position (continuous batching: rows join and leave between steps).

The rule: every session must be batch 1, over the same model, with nothing pending. The C
step (and the fused PyTorch one) run all rows in one call, reading each weight once; a
model neither supports is fed session by session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from thinkact.model.engine import Session


def decoder_for(session: Session) -> Any:
    """The decoder a shared step of ``session``'s model uses (rebuilt if its weights
    changed), or None. Look it up when a conversation joins, not per step: the staleness
    check walks every parameter."""
    if not session.fast or not isinstance(session.model, torch.nn.Module):
        return None
    from thinkact.model.fast_decode import fast_decoder_for

    return fast_decoder_for(session.model, session.native)


def feed_each(sessions: Sequence[Session], tokens: Sequence[int], decoder: Any = None
              ) -> torch.Tensor:
    """Feed ``tokens[i]`` to ``sessions[i]`` in one step; next-token logits [B, V]."""
    if len(sessions) != len(tokens) or not sessions:
        raise ValueError(f"{len(tokens)} tokens for {len(sessions)} sessions")
    if len({id(s) for s in sessions}) != len(sessions):
        raise ValueError("a session appears twice in one step")
    model = sessions[0].model
    for s in sessions:
        if s.model is not model or s.batch_size != 1 or s._pending is not None:
            raise ValueError("feed_each() needs batch-1 sessions of one model, none pending")
        if s.position + 1 > s.max_seq_len:
            raise ValueError(f"sequence would reach {s.position + 1} tokens, over "
                             f"max_seq_len {s.max_seq_len}")
    if decoder is None or not hasattr(decoder, "step_rows"):
        return torch.stack([s.feed([t]) for s, t in zip(sessions, tokens, strict=True)])
    logits = decoder.step_rows([int(t) for t in tokens], [s.position for s in sessions],
                               [s.cache for s in sessions])
    for i, (s, t) in enumerate(zip(sessions, tokens, strict=True)):
        s.record_step(t, logits[i])
    return logits
