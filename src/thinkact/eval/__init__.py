"""Evaluation: suites of items, each run as an ordinary recorded agent run and scored once.

    suite = load_suite("tasks.jsonl")
    rows = await run_eval(EvalStore(db), trace, eval_id, suite, suite.items(), make_agent,
                          EvalSettings(epochs=4))
    summarize(rows)["accuracy"]
"""

from thinkact.eval.agents import MakeAgent, agent_maker
from thinkact.eval.report import compare, summarize
from thinkact.eval.runner import EvalSettings, run_eval, run_id_of
from thinkact.eval.store import EvalStore, Result, default_eval_db
from thinkact.eval.suite import Attempt, Item, Score, Suite
from thinkact.eval.suites import SUITES, load_suite

__all__ = [
    "SUITES", "Attempt", "EvalSettings", "EvalStore", "Item", "MakeAgent", "Result", "Score",
    "Suite", "agent_maker", "compare", "default_eval_db", "load_suite", "run_eval",
    "run_id_of", "summarize",
]
