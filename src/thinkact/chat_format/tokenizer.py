"""Byte-level BPE tokenizer with K2's special tokens as single tokens (docs/k2.md,
"Special tokens").

Two interchangeable engines behind one :class:`K2Tokenizer` interface:

* ``tokenizers`` BPE (what :func:`train_tokenizer` produces and thinkact checkpoints carry:
  ``tokenizer.json`` + ``tokenizer_config.json``);
* ``tiktoken`` over a K2-style ``tiktoken.model`` file (base64 token + rank per line), for a
  user who has the real K2 tokenizer on disk (``tiktoken`` is imported only then).

Special tokens are looked up by name (``special_id("<|im_end|>")``): a real K2 vocab keeps
them at 163584+, a small trained vocab appends them after its merges.
"""

from __future__ import annotations

import base64
import codecs
import importlib.util
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from thinkact.chat_format.tokens import K2_SPECIAL_IDS, K2_SPECIAL_NAMES

# Pre-tokenizer split close to K2's (docs/k2.md): Han runs; letter words (Han excluded) with English
# contractions, split at case changes; 1-3 digit numbers; punctuation runs; newlines; spaces.
_LETTERS_UPPER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]"
_LETTERS_LOWER = r"[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]"
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
PRETOKENIZE_PATTERN = "|".join([
    r"[\p{Han}]+",
    rf"[^\r\n\p{{L}}\p{{N}}]?{_LETTERS_UPPER}*{_LETTERS_LOWER}+{_CONTRACTION}",
    rf"[^\r\n\p{{L}}\p{{N}}]?{_LETTERS_UPPER}+{_LETTERS_LOWER}*{_CONTRACTION}",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])

CONFIG_FILE = "tokenizer_config.json"
HF_FILE = "tokenizer.json"
TIKTOKEN_FILE = "tiktoken.model"


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """The byte-level BPE alphabet: printable Latin-1 bytes map to themselves, the rest of the
    256 bytes to code points from 256 upwards, so every byte is one visible character."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


class _Engine(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    @property
    def vocab_size(self) -> int: ...

    def save(self, directory: Path) -> dict[str, Any]: ...


class _HFEngine:
    """``tokenizers`` byte-level BPE; specials are added tokens matched before the BPE."""

    def __init__(self, tok: Any, specials: Mapping[str, int]) -> None:
        self.tok = tok
        self._special_bytes = {i: s.encode() for s, i in specials.items()}
        inverse = unicode_to_byte()
        self._bytes: dict[int, bytes] = {}
        for piece, i in tok.get_vocab(with_added_tokens=False).items():
            self._bytes[i] = bytes(inverse[c] for c in piece)

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False).ids)

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._special_bytes:
            return self._special_bytes[token_id]
        try:
            return self._bytes[token_id]
        except KeyError:
            raise ValueError(f"token id {token_id} is not in the vocabulary") from None

    @property
    def vocab_size(self) -> int:
        return int(self.tok.get_vocab_size(with_added_tokens=True))

    def save(self, directory: Path) -> dict[str, Any]:
        self.tok.save(str(directory / HF_FILE))
        return {"backend": "tokenizers"}


class _TiktokenEngine:
    """A K2-style ``tiktoken.model`` run by ``tiktoken`` itself (exact K2 behaviour)."""

    def __init__(self, ranks: dict[bytes, int], specials: Mapping[str, int], pattern: str) -> None:
        try:
            import tiktoken
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("loading a tiktoken.model needs the 'tiktoken' package") from exc
        self.ranks, self.pattern = ranks, pattern
        self.enc = tiktoken.Encoding(
            name="k2", pat_str=pattern, mergeable_ranks=ranks, special_tokens=dict(specials)
        )
        self._special_ids = set(specials.values())

    def encode(self, text: str) -> list[int]:
        return list(self.enc.encode(text, allowed_special="all"))

    def token_bytes(self, token_id: int) -> bytes:
        return bytes(self.enc.decode_single_token_bytes(token_id))

    @property
    def vocab_size(self) -> int:
        return int(self.enc.n_vocab)

    def save(self, directory: Path) -> dict[str, Any]:
        write_tiktoken_model(self.ranks, directory / TIKTOKEN_FILE)
        return {"backend": "tiktoken", "pat_str": self.pattern}


class StreamDecoder:
    """Token ids in, text out, never splitting a UTF-8 character across two pieces."""

    def __init__(self, tokenizer: K2Tokenizer) -> None:
        self._tok = tokenizer
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, ids: Iterable[int]) -> str:
        return str(self._dec.decode(b"".join(self._tok.token_bytes(i) for i in ids)))

    def flush(self) -> str:
        return str(self._dec.decode(b"", final=True))


class K2Tokenizer:
    """Encode/decode with K2 special tokens kept as single tokens."""

    def __init__(self, engine: _Engine, specials: Mapping[str, int]) -> None:
        self._engine = engine
        self.specials: dict[str, int] = dict(specials)
        self._special_names = {i: s for s, i in self.specials.items()}

    @property
    def vocab_size(self) -> int:
        return max(self._engine.vocab_size, max(self.specials.values(), default=-1) + 1)

    def special_id(self, name: str) -> int:
        try:
            return self.specials[name]
        except KeyError:
            raise KeyError(f"tokenizer has no special token {name!r}") from None

    def is_special(self, token_id: int) -> bool:
        return token_id in self._special_names

    def encode(self, text: str) -> list[int]:
        """Special-token strings in ``text`` become their single ids (chat-template text)."""
        return self._engine.encode(text)

    def token_bytes(self, token_id: int) -> bytes:
        return self._engine.token_bytes(token_id)

    def decode(self, ids: Sequence[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def stream_decoder(self) -> StreamDecoder:
        return StreamDecoder(self)

    def save(self, directory: str | Path) -> Path:
        """Write the tokenizer files next to a checkpoint (``tokenizer_config.json`` + data)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = self._engine.save(path)
        config["special_tokens"] = self.specials
        (path / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path, engine: str = "auto") -> K2Tokenizer:
        """Load ``tokenizer.json`` (thinkact) or ``tiktoken.model`` (a real K2 tokenizer).

        A tiktoken file runs on ``tiktoken`` when installed (``engine="auto"``) or on a
        ``tokenizers`` BPE rebuilt from its ranks (``engine="tokenizers"``).
        """
        if engine not in ("auto", "tiktoken", "tokenizers"):
            raise ValueError(f"engine must be auto, tiktoken or tokenizers, not {engine!r}")
        path = Path(directory)
        config = _read_config(path)
        if (path / HF_FILE).exists():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path / HF_FILE))
            specials = _specials_from_config(config) or {
                t.content: i for i, t in tok.get_added_tokens_decoder().items()
            }
            return cls(_HFEngine(tok, specials), specials)
        if (path / TIKTOKEN_FILE).exists():
            ranks = read_tiktoken_model(path / TIKTOKEN_FILE)
            specials = _specials_from_config(config) or dict(K2_SPECIAL_IDS)
            pattern = str(config.get("pat_str", PRETOKENIZE_PATTERN))
            if engine == "auto":
                engine = "tiktoken" if importlib.util.find_spec("tiktoken") else "tokenizers"
            if engine == "tiktoken":
                return cls(_TiktokenEngine(ranks, specials, pattern), specials)
            from thinkact.chat_format.tiktoken_bpe import hf_bpe_from_ranks

            tok, added = hf_bpe_from_ranks(ranks, specials, pattern)
            return cls(_HFEngine(tok, added), specials)
        raise FileNotFoundError(f"no {HF_FILE} or {TIKTOKEN_FILE} in {path}")

    # -- export ---------------------------------------------------------------------------

    def mergeable_ranks(self) -> dict[bytes, int]:
        """Non-special tokens as bytes -> id (a tiktoken-style rank table)."""
        specials = set(self.specials.values())
        return {
            self.token_bytes(i): i for i in range(self._engine.vocab_size) if i not in specials
        }


def _read_config(path: Path) -> dict[str, Any]:
    file = path / CONFIG_FILE
    return dict(json.loads(file.read_text())) if file.exists() else {}


def _specials_from_config(config: Mapping[str, Any]) -> dict[str, int]:
    """Our ``special_tokens`` {name: id}, or HF's ``added_tokens_decoder`` {id: {content}}."""
    if "special_tokens" in config:
        return {str(k): int(v) for k, v in config["special_tokens"].items()}
    decoder = config.get("added_tokens_decoder") or {}
    return {str(v["content"]): int(k) for k, v in decoder.items()}


def read_tiktoken_model(file: str | Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(Path(file).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise ValueError(f"{file}:{n}: expected 'BASE64 RANK', got {line[:60]!r}") from exc
    return ranks


def write_tiktoken_model(ranks: Mapping[bytes, int], file: str | Path) -> None:
    lines = [f"{base64.b64encode(t).decode()} {r}" for t, r in sorted(ranks.items(),
                                                                     key=lambda kv: kv[1])]
    Path(file).write_text("\n".join(lines) + "\n")


def _hf_skeleton() -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, special_names: Sequence[str] = K2_SPECIAL_NAMES
) -> K2Tokenizer:
    """Train a byte-level BPE; specials take the top ``len(special_names)`` ids, in order."""
    from tokenizers import AddedToken, pre_tokenizers, trainers

    n_base = vocab_size - len(special_names)
    if n_base <= 256:
        raise ValueError(
            f"vocab_size {vocab_size} leaves {n_base} ids for BPE; need more than 256 bytes"
        )
    tok = _hf_skeleton()
    trainer = trainers.BpeTrainer(
        vocab_size=n_base,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special_names])
    specials = {s: int(tok.token_to_id(s)) for s in special_names}
    return K2Tokenizer(_HFEngine(tok, specials), specials)


def export_tiktoken(tokenizer: K2Tokenizer, directory: str | Path) -> Path:
    """Write ``tokenizer``'s vocab as a K2-style tiktoken directory (ranks = ids)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    write_tiktoken_model(tokenizer.mergeable_ranks(), path / TIKTOKEN_FILE)
    config = {"backend": "tiktoken", "pat_str": PRETOKENIZE_PATTERN,
              "special_tokens": tokenizer.specials}
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    return path


def load_tokenizer(directory: str | Path | None = None) -> K2Tokenizer:
    """:meth:`K2Tokenizer.load`; ``None`` raises FileNotFoundError (no default location)."""
    if directory is None:
        raise FileNotFoundError("no tokenizer directory given")
    return K2Tokenizer.load(directory)
