"""Answer checkers for user suites: exact, number, contains, regex, or ``module:function``.

Each takes (answer, target) and returns a :class:`Score`. Answers are compared after the
usual clean-up (surrounding space, a trailing full stop); ``number`` takes the last number
in the answer, so "The result is 395." matches 395.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from typing import Any

from thinkact.eval.suite import Score

Scorer = Callable[[str | None, Any], Score]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).rstrip(".").strip()


def exact(answer: str | None, target: Any) -> Score:
    ok = answer is not None and _clean(answer).lower() == _clean(str(target)).lower()
    return Score(float(ok))


def contains(answer: str | None, target: Any) -> Score:
    ok = answer is not None and _clean(str(target)).lower() in answer.lower()
    return Score(float(ok))


def regex(answer: str | None, target: Any) -> Score:
    ok = answer is not None and re.search(str(target), answer) is not None
    return Score(float(ok))


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (commas as thousands separators), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def number(answer: str | None, target: Any) -> Score:
    got = last_number(answer) if answer else None
    want = float(target) if not isinstance(target, str) else last_number(target)
    if got is None or want is None:
        return Score(0.0, "no number in the answer" if got is None else "target is no number")
    return Score(float(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)), f"got {got:g}")


BUILTIN: dict[str, Scorer] = {"exact": exact, "number": number, "contains": contains,
                              "regex": regex}


def resolve(name: str) -> Scorer:
    """A built-in scorer by name, or ``module:function`` imported (a clear error if not)."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" not in name:
        raise ValueError(f"unknown scorer {name!r}: use {', '.join(BUILTIN)} or "
                         "module:function")
    module, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load scorer {name!r}: {exc}") from None
    if not callable(fn):
        raise ValueError(f"scorer {name!r} is not callable")

    def call(answer: str | None, target: Any) -> Score:
        out = fn(answer, target)
        return out if isinstance(out, Score) else Score(float(out))

    return call
