"""``--executor ray``: the eval's items fanned out over a Ray cluster (``thinkact[ray]``).

One actor per ``--concurrency`` slot loads the suite and the backend once; each (item, epoch)
runs on an actor exactly as the local executor runs it (``runner.attempt``), recorded in a
trace shard of its own (SQLite WAL does not work on network filesystems), whose bytes come
back with the result and are merged into the eval's trace before the row is finished. Rows
are claimed before dispatch, so a resume works as locally; a run cut on a worker whose shard
never came back starts again.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from thinkact.eval.runner import EvalSettings, attempt, run_id_of
from thinkact.eval.store import EvalStore, Result
from thinkact.eval.suite import Item, serving
from thinkact.traces.sqlite import SQLiteTraceStore


class EvalWorker:
    """Runs items of one eval spec (made a Ray actor by ``run_eval_ray``)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from thinkact.eval.agents import build_backend
        from thinkact.eval.select import select
        from thinkact.eval.suites import load_suite

        self.spec = spec
        self.suite = load_suite(spec["suite"], dict(spec.get("suite_options") or {}),
                                unsafe_python=bool(spec["run"].get("unsafe_python")))
        self.items = select(self.suite.items(), spec.get("limit"), spec.get("per_category"))
        self.backend = build_backend(spec["run"])
        self.settings = EvalSettings(**spec["settings"])
        self._serving = ExitStack()  # what the suite serves, on this worker's own loopback
        self._serving.enter_context(serving(self.suite))

    def run(self, index: int, epoch: int, row: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Run item ``index`` in ``epoch``; (the finished row, the trace shard's bytes)."""
        from thinkact.eval.agents import agent_maker

        with tempfile.TemporaryDirectory(prefix="thinkact-shard-") as tmp:
            path = Path(tmp) / "shard.sqlite"
            with SQLiteTraceStore(path) as shard:
                make = agent_maker(self.spec["run"], self.backend, shard)
                done = asyncio.run(attempt(shard, self.suite, self.items[index], epoch,
                                           Result(**row), make, self.settings,
                                           getattr(self.backend, "price", None)))
            with SQLiteTraceStore(path) as shard:  # checkpoint the WAL into the file
                shard.query("PRAGMA wal_checkpoint(TRUNCATE)")
            return asdict(done), path.read_bytes()


def run_eval_ray(store: EvalStore, trace: SQLiteTraceStore, eval_id: str,
                 spec: dict[str, Any], items: Sequence[Item], settings: EvalSettings,
                 on_result: Callable[[Result], None] | None = None,
                 address: str | None = None, worker: type[EvalWorker] = EvalWorker
                 ) -> list[Result]:
    """Like ``runner.run_eval``, with ``settings.concurrency`` Ray actors (``worker``) doing
    the runs."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'thinkact[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    done = {(r.item_id, r.epoch) for r in store.results(eval_id) if r.status == "done"}
    jobs = []
    for index, item in enumerate(items):
        for epoch in range(settings.epochs):
            if (item.id, epoch) in done:
                continue
            row = store.claim(eval_id, item.id, epoch, item.category,
                              run_id_of(eval_id, index, epoch))
            if row.status != "done":
                jobs.append((index, epoch, asdict(row)))
    if jobs:
        actor = ray.remote(worker)
        job_spec = {**spec, "settings": asdict(settings)}
        pool = ActorPool([actor.remote(job_spec)
                          for _ in range(max(1, min(settings.concurrency, len(jobs))))])
        for result, shard in pool.map_unordered(lambda a, j: a.run.remote(*j), jobs):
            with tempfile.NamedTemporaryFile(suffix=".sqlite") as f:
                f.write(shard)
                f.flush()
                trace.merge(Path(f.name))
            finished = Result(**result)
            if store.finish(finished) and on_result is not None:
                on_result(finished)
    return store.results(eval_id)
