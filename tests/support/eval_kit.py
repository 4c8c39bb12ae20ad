"""Run a suite through the real eval runner with a scripted model (for checker proofs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval import EvalSettings, EvalStore, Item, Suite, agent_maker, run_eval, summarize
from thinkact.messages import Message
from thinkact.traces.sqlite import SQLiteTraceStore

Reply = Callable[[Item, Sequence[Message]], Message]


def task_of(messages: Sequence[Message]) -> str:
    return next(str(m.content) for m in messages if m.role == "user")


def answering(suite: Suite, reply: Reply) -> ScriptedBackend:
    """A model that answers each item by ``reply(item, conversation)``."""
    by_input = {item.input: item for item in suite.items()}
    return ScriptedBackend(lambda msgs: reply(by_input[task_of(msgs)], msgs), record=False)


def evaluate(suite: Suite, backend: Any, tmp: Path, items: Sequence[Item] | None = None,
             eval_id: str = "ev-test", options: dict[str, Any] | None = None,
             **settings: Any) -> dict[str, Any]:
    """The report of ``suite`` (or ``items``) run with ``backend``; runs in ``tmp``."""
    with EvalStore(tmp / "evals.sqlite") as store, SQLiteTraceStore(tmp / "t.sqlite") as trace:
        store.create(eval_id, suite.name, {})
        make = agent_maker({"workspace": str(tmp / "ws"), "tools": "none", **(options or {})},
                           backend, trace)
        rows = asyncio.run(run_eval(store, trace, eval_id, suite,
                                    list(items if items is not None else suite.items()), make,
                                    EvalSettings(**settings)))
        return summarize(rows)
