"""Which of a suite's items an eval runs: ``--per-category`` then ``--limit``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from thinkact.eval.suite import Item


def select(items: Sequence[Item], limit: int | None, per_category: int | None) -> list[Item]:
    """The first ``per_category`` of each category (in suite order), then the first
    ``limit`` of those."""
    seen: Counter[str] = Counter()
    kept = []
    for item in items:
        seen[item.category] += 1
        if per_category is None or seen[item.category] <= per_category:
            kept.append(item)
    return kept[:limit]
