"""The docs suites through the real agent loop: accuracy per tool budget (docsearch) and
the writing checks (docwriting), for any model; the bundled one by default.

    nice -n 19 .venv/bin/python benchmarks/docs_evals.py docsearch --limit 20 --budgets 2,4,8
    nice -n 19 .venv/bin/python benchmarks/docs_evals.py docwriting --limit 5

Each item is one run of the ``search`` (or ``writing``) recipe with ``max_tool_calls`` set
to the budget, over the Python docs indexed in the data dir (built on first use, minutes).
Model options are ``thinkact run``'s (``--provider``, ``--model``, ``--base-url``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from thinkact.agent import Agent, Budget
from thinkact.cli.setup import build_run_backend
from thinkact.eval import docsearch, docwriting
from thinkact.eval.pydocs import PyDocs, corpus_tools, open_pydocs
from thinkact.recipes import load_recipe
from thinkact.tools.registry import build_tools


def _agent(backend: Any, recipe: str, tools: list[Any], workspace: Path, budget: int) -> Agent:
    kwargs = load_recipe(recipe).agent_kwargs()
    base: Budget = kwargs.pop("budget")
    kwargs["budget"] = Budget(max_steps=min(base.max_steps or budget + 4, budget + 4),
                              max_tool_calls=budget, max_wall_time_s=base.max_wall_time_s)
    return Agent(backend, tools=tools, workspace=workspace, **kwargs)


async def search_curve(backend: Any, docs: PyDocs, questions: list[docsearch.Question],
                       budgets: list[int]) -> None:
    print(f"docsearch: {len(questions)} questions ({Counter(q.kind for q in questions)})")
    print(f"{'budget':>6} {'accuracy':>9} {'answered':>9} {'cited':>6} {'calls':>6}  by kind")
    for budget in budgets:
        scores: list[docsearch.SearchScore] = []
        calls = 0
        by_kind: dict[str, list[float]] = defaultdict(list)
        for q in questions:
            with tempfile.TemporaryDirectory() as ws:
                agent = _agent(backend, "search", corpus_tools(docs, Path(ws)), Path(ws), budget)
                result = await agent.arun(q.prompt)
                await agent.aclose()
            s = docsearch.score(q, result.answer or "", docs)
            scores.append(s)
            calls += result.tool_calls
            by_kind[q.kind].append(s.score)
        n = len(scores)
        kinds = " ".join(f"{k}={sum(v) / len(v):.2f}" for k, v in sorted(by_kind.items()))
        print(f"{budget:>6} {sum(s.score for s in scores) / n:>9.3f} "
              f"{sum(s.correct for s in scores) / n:>9.3f} {sum(s.cited for s in scores) / n:>6.3f}"
              f" {calls / n:>6.1f}  {kinds}", flush=True)


async def writing_scores(backend: Any, docs: PyDocs, tasks: list[docwriting.WritingTask],
                         budget: int) -> None:
    print(f"docwriting: {len(tasks)} tasks, tool budget {budget}")
    passed: Counter[str] = Counter()
    total = 0.0
    for task in tasks:
        with tempfile.TemporaryDirectory() as ws:
            tools = [*corpus_tools(docs, Path(ws)), *build_tools(["files"], workspace=Path(ws))]
            agent = _agent(backend, "writing", tools, Path(ws), budget)
            await agent.arun(task.prompt)
            await agent.aclose()
            s = docwriting.score(task, Path(ws), docs)
        total += s.score
        passed.update(c for c, ok in s.checks.items() if ok)
        print(f"  {task.module:<16} {s.score:.2f}  {s.detail}", flush=True)
    checks = " ".join(f"{c}={passed[c] / len(tasks):.2f}" for c in docwriting.CHECKS)
    print(f"mean score {total / len(tasks):.3f}; checks passed: {checks}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("suite", choices=["docsearch", "docwriting"])
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budgets", default="2,4,8", help="max_tool_calls values (docsearch)")
    ap.add_argument("--budget", type=int, default=12, help="max_tool_calls (docwriting)")
    for opt in ("provider", "model", "base-url", "api-key-env", "checkpoint"):
        ap.add_argument(f"--{opt}")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    backend = build_run_backend(a.provider, a.model, a.base_url, a.api_key_env, None,
                                Path(a.checkpoint) if a.checkpoint else None, None)
    print(f"model: {backend.model_name}; indexing the docs (first time: minutes)...", flush=True)
    docs = open_pydocs()
    if a.suite == "docsearch":
        questions = docsearch.split(docsearch.generate(docs, a.seed), a.split)[:a.limit]
        asyncio.run(search_curve(backend, docs, questions,
                                 [int(b) for b in a.budgets.split(",")]))
    else:
        tasks = docwriting.split(docwriting.generate(docs, a.seed), a.split)[:a.limit]
        asyncio.run(writing_scores(backend, docs, tasks, a.budget))


if __name__ == "__main__":
    main()
