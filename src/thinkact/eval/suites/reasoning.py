"""``reasoning``: seeded procedurally generated tasks from the ``reasoning-gym`` package,
scored with each family's own ``score_answer``. The scored answer is the text inside
``<answer>...</answer>`` if there is one, else the answer's last non-empty line.
Options: ``families`` (comma list), ``n`` per family (default 20), ``seed`` (default 0)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from thinkact.eval.suite import Attempt, Item, ListSuite, Score
from thinkact.eval.suites.package import no_more, package_source

FAMILIES = ("basic_arithmetic", "chain_sum", "gsm_symbolic", "countdown",
            "propositional_logic")
INSTRUCTION = ("\n\nWhen you are done, give the final answer alone on the last line of your "
               "reply (or inside <answer></answer>).")
_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def final_line(answer: str) -> str:
    tagged = _TAG.findall(answer)
    if tagged:
        return str(tagged[-1]).strip()
    lines = [ln.strip() for ln in answer.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


@dataclass
class ReasoningSuite(ListSuite):
    datasets: dict[str, Any] = field(default_factory=dict)

    def score(self, item: Item, attempt: Attempt) -> Score:
        if not attempt.answer:
            return Score(0.0, "no answer")
        family, index = item.meta["family"], item.meta["index"]
        dataset = self.datasets[family]
        value = dataset.score_answer(final_line(attempt.answer), dataset[index])
        return Score(float(value))


def load(options: dict[str, str]) -> ReasoningSuite:
    source = package_source("reasoning-gym")
    import reasoning_gym

    families = [f for f in options.pop("families", ",".join(FAMILIES)).split(",") if f]
    n, seed = int(options.pop("n", 20)), int(options.pop("seed", 0))
    no_more(options, "reasoning", "families, n and seed")
    datasets, rows = {}, []
    for family in families:
        try:
            datasets[family] = reasoning_gym.create_dataset(family, size=n, seed=seed)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"reasoning-gym has no family {family!r} ({exc})") from None
        for i in range(n):
            entry = datasets[family][i]
            rows.append(Item(id=f"{family}-{i}", input=str(entry["question"]) + INSTRUCTION,
                             target=entry["answer"], category=family,
                             meta={"family": family, "index": i}))
    return ReasoningSuite(rows, "reasoning", source, datasets=datasets)
