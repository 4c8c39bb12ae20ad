"""Wording around a family's question: an opening and a closing phrase, and which of their
combinations are held out.

Training questions get one of :data:`OPENERS` and one of :data:`CLOSERS` around the family's
question, so each template is seen in many wordings. The ``combo`` split asks in training's
own templates and phrases (with held-out values and entities where a family has them), but
only in combinations of (opening, closing, the question's opening words) that training never
draws: every part is familiar, the whole wording is new. ``test`` is left as the family wrote
it.
"""

from __future__ import annotations

import random
import re
import zlib

from thinkact.train.trajectory import Split

OPENERS = ("", "", "Hi! ", "Hello. ", "Question: ", "Can you help me? ", "Here is one: ",
           "Please help. ", "Hey, ")
CLOSERS = ("", "", " Thanks.", " Thank you!", " Please be exact.", " I need the exact answer.",
           " Take your time.", " Cheers.")
HELD_OUT = 4  # one combination in HELD_OUT is kept for the combo split


def opening_words(question: str) -> str:
    """The question's first words, up to three, stopping before a value (a word with a digit
    or that opens a quote, or a capitalized word inside a sentence: a name), so the key is
    the wording, never the values that fill it."""
    out: list[str] = []
    for word in question.split():
        after_stop = not out or out[-1][-1] in ".?!:"
        if re.search(r"\d", word) or word[0] in "'\"" or (word[0].isupper() and not after_stop):
            break
        out.append(word)
        if len(out) == 3:
            break
    return " ".join(out)


def held_out(opener: str, closer: str, question: str) -> bool:
    """Whether this combination belongs to the combo split (stable: a hash, not a draw).
    The bare question (no opening, no closing) is always training's. Families that share a
    template share its combinations: the key holds no family."""
    if not opener and not closer:
        return False
    key = "\x1f".join((opener, closer, opening_words(question)))
    return zlib.crc32(key.encode()) % HELD_OUT == 0


def phrase(question: str, rng: random.Random, split: Split) -> str:
    """``question`` with an opening and a closing drawn for ``split``; raises ValueError when
    no combination fits (the family's draw is then made again)."""
    if split == "test":
        return question
    for _ in range(64):
        opener, closer = rng.choice(OPENERS), rng.choice(CLOSERS)
        if held_out(opener, closer, question) == (split == "combo"):
            return opener + question + closer
    raise ValueError(f"no {split} wording for {question!r}")
