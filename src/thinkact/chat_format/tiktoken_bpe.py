"""Rebuild a ``tokenizers`` BPE from a tiktoken rank table (no ``tiktoken`` needed).

A tiktoken file lists token bytes with ranks; BPE needs merges. Each multi-byte token's merge
is found by running rank-ordered BPE on its own bytes using only lower-ranked tokens: the last
two pieces are the pair that forms it (priority = its rank). Tokens that never end in exactly
two pieces cannot be produced by BPE and get no merge (they stay decodable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thinkact.chat_format.tokenizer import byte_to_unicode


def _split(token: bytes, ranks: Mapping[bytes, int], below: int) -> list[bytes]:
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best: tuple[int, int] | None = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < below and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def merges_from_ranks(ranks: Mapping[bytes, int]) -> list[tuple[bytes, bytes]]:
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = _split(token, ranks, rank)
        if len(parts) == 2 and all(ranks.get(p, rank) < rank for p in parts):
            merges.append((parts[0], parts[1]))
    return merges


def hf_bpe_from_ranks(ranks: Mapping[bytes, int], specials: Mapping[str, int],
                      pattern: str) -> tuple[Any, dict[str, int]]:
    """(``tokenizers.Tokenizer``, {special or placeholder text: id}) equivalent to tiktoken."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    table = byte_to_unicode()

    def text(b: bytes) -> str:
        return "".join(table[x] for x in b)

    vocab = {text(t): r for t, r in ranks.items()}
    merges = [(text(a), text(b)) for a, b in merges_from_ranks(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    by_id = {i: s for s, i in specials.items()}
    added: dict[str, int] = {}
    start = tok.get_vocab_size(with_added_tokens=True)
    if by_id and (min(by_id) < start or max(by_id) - start > 4096):
        raise ValueError(f"special ids {min(by_id)}..{max(by_id)} do not sit just above the "
                         f"{start}-token vocabulary; pass the tokenizer's own special ids")
    for i in range(start, max(by_id, default=start - 1) + 1):  # ids are assigned in order
        content = by_id.get(i, f"<|reserved_token_{i}|>")
        tok.add_special_tokens([AddedToken(content, special=True, normalized=False)])
        if tok.token_to_id(content) != i:
            raise ValueError(f"special token {content!r} cannot take id {i} (vocab has gaps)")
        added[content] = i
    return tok, added
