"""A user's own suite: one JSON object per line with ``input`` and ``target``, and optionally
``id``, ``category``, ``scorer`` (exact, number, contains, regex or ``module:function``;
default exact) and ``tools`` (a list of built-in tool names, or a comma string)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thinkact.eval.scorers import resolve
from thinkact.eval.suite import Attempt, Item, ListSuite, Score

_KEYS = {"id", "input", "target", "category", "scorer", "tools"}


@dataclass
class JsonlSuite(ListSuite):

    @classmethod
    def from_file(cls, path: Path) -> JsonlSuite:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read suite {path}: {exc}") from None
        items, seen = [], set()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            item = _item(line, n, path)
            if item.id in seen:
                raise ValueError(f"{path}:{n}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
        if not items:
            raise ValueError(f"suite {path} has no items")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return cls(items, path.stem, f"{path.resolve()} (sha256 {digest})")

    def score(self, item: Item, attempt: Attempt) -> Score:
        return resolve(item.meta["scorer"])(attempt.answer, item.target)


def _item(line: str, n: int, path: Path) -> Item:
    where = f"{path}:{n}"
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(raw, dict) or "input" not in raw or "target" not in raw:
        raise ValueError(f"{where}: each line needs an object with 'input' and 'target'")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    scorer = str(raw.get("scorer", "exact"))
    try:
        resolve(scorer)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    tools = raw.get("tools")
    if isinstance(tools, str):
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, str)
                                                                  for t in tools)):
        raise ValueError(f"{where}: 'tools' must be a list of tool names")
    return Item(id=str(raw.get("id", n)), input=str(raw["input"]), target=raw["target"],
                category=str(raw.get("category", "all")),
                tools=tuple(tools) if tools is not None else None, meta={"scorer": scorer})
