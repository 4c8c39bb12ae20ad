"""Tokens in a text without a tokenizer: characters / 3.5 for Latin scripts and code, one
per character for every other script. The one rule: never below what a real tokenizer
counts for CJK text (the costliest case), so a request sized by it fits the window."""

from __future__ import annotations

import math
import re

CHARS_PER_TOKEN = 3.5

# Latin scripts (Basic Latin to Latin Extended-B, Latin Extended Additional) and general
# punctuation are counted as text; any other character is a token of its own.
_WIDE = re.compile("[^\u0000-\u024f\u1e00-\u1eff\u2000-\u206f]")


def estimate_text(chars: int) -> int:
    """Tokens in ``chars`` characters of Latin text or code."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``, whatever its script."""
    if text.isascii():
        return estimate_text(len(text))
    wide = len(_WIDE.findall(text))
    return wide + estimate_text(len(text) - wide)
