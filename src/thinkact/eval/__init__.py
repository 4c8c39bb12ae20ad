"""Evaluation: suites of items, each run as an ordinary recorded agent run and scored once.

    suite = load_suite("tasks.jsonl")
    rows = await run_eval(EvalStore(db), trace, eval_id, suite, suite.items(), make_agent,
                          EvalSettings(epochs=4))
    summarize(rows)["accuracy"]

A new suite is one module in ``thinkact.eval.suites`` with ``load(options) -> Suite``
(usually a ``ListSuite`` with a ``score`` method), named in ``suites.SUITES``.
"""

from thinkact.eval.agents import MakeAgent, agent_maker
from thinkact.eval.report import compare, summarize
from thinkact.eval.runner import EvalSettings, run_eval, run_id_of
from thinkact.eval.store import EvalStore, Result, default_eval_db
from thinkact.eval.suite import Attempt, Item, ListSuite, Score, Suite
from thinkact.eval.suites import SUITES, load_suite

__all__ = [
    "SUITES", "Attempt", "EvalSettings", "EvalStore", "Item", "ListSuite", "MakeAgent",
    "Result", "Score", "Suite", "agent_maker", "compare", "default_eval_db", "load_suite",
    "run_eval", "run_id_of", "summarize",
]
