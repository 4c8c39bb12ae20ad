"""``--executor ray``: the eval's items fanned out over a Ray cluster (``thinkact[ray]``).

One actor per ``--concurrency`` slot loads the suite and the backend once; each (item, epoch)
runs on an actor exactly as the local executor runs it (``runner.attempt``), recorded in a
trace shard of its own (SQLite WAL does not work on network filesystems), whose bytes come
back with the result and are merged into the eval's trace before the row is finished. Rows
are claimed before dispatch, so a resume works as locally; a run cut on a worker whose shard
never came back starts again. With ``--heavy N`` each of an item's N trajectories is a job
of its own (its own shard, merged as it comes back); the item's job then gets a shard of
its trajectories and only aggregates and scores (``Heavy.aresume`` reuses what ended).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from thinkact.eval.runner import EvalSettings, attempt, run_id_of
from thinkact.eval.store import EvalStore, Result
from thinkact.eval.suite import Item, serving
from thinkact.traces.sqlite import SQLiteTraceStore

T = TypeVar("T")


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

    def run(self, index: int, epoch: int, row: dict[str, Any], start: bytes = b""
            ) -> tuple[dict[str, Any], bytes]:
        """Run item ``index`` in ``epoch`` on a shard holding ``start`` (a trace file's
        bytes: a heavy item's trajectories); (the finished row, the shard's bytes)."""
        from thinkact.eval.agents import agent_maker

        def one(shard: SQLiteTraceStore) -> Result:
            make = agent_maker(self.spec["run"], self.backend, shard)
            return asyncio.run(attempt(shard, self.suite, self.items[index], epoch,
                                       Result(**row), make, self.settings,
                                       getattr(self.backend, "price", None)))

        done, shard = _in_shard(one, start)
        return asdict(done), shard

    def trajectory(self, index: int, epoch: int, run_id: str, k: int) -> bytes:
        """Heavy trajectory ``k`` of item ``index``'s group ``run_id``; the shard's bytes."""
        from thinkact.eval.agents import agent_maker
        from thinkact.eval.runner import heavy_of, stamp_interrupted

        async def one(shard: SQLiteTraceStore) -> None:
            make = agent_maker(self.spec["run"], self.backend, shard)
            heavy = heavy_of(self.suite, self.items[index], epoch, run_id, make, self.settings)
            started = time.monotonic()
            try:  # the item's timeout bounds each trajectory (and then the aggregation)
                async with asyncio.timeout(self.settings.item_timeout):
                    await heavy.atrajectory(self.items[index].input, run_id, k)
            except TimeoutError:
                stamp_interrupted(shard, f"{run_id}.{k}", started)
            finally:
                await heavy.aclose()

        return _in_shard(lambda shard: asyncio.run(one(shard)))[1]


def _in_shard(work: Callable[[SQLiteTraceStore], T], start: bytes = b"") -> tuple[T, bytes]:
    """``work(shard)`` on a trace shard in a temporary folder that first holds the trace
    file ``start``; (what it returned, the shard's bytes with its WAL folded in)."""
    with tempfile.TemporaryDirectory(prefix="thinkact-shard-") as tmp:
        path = Path(tmp) / "shard.sqlite"
        if start:
            path.write_bytes(start)
        with SQLiteTraceStore(path) as shard:
            out = work(shard)
        with SQLiteTraceStore(path) as shard:  # checkpoint the WAL into the file
            shard.query("PRAGMA wal_checkpoint(TRUNCATE)")
        return out, path.read_bytes()


def _merge(trace: SQLiteTraceStore, shard: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as f:
        f.write(shard)
        f.flush()
        trace.merge(Path(f.name))


def _group_shard(trace: SQLiteTraceStore, run_id: str) -> bytes:
    """The recorded runs of heavy group ``run_id`` (trajectories, a cut aggregation)."""
    runs = [str(r) for (r,) in trace.query(
        "SELECT id FROM runs WHERE id = ? OR substr(id, 1, ?) = ?",
        (run_id, len(run_id) + 1, run_id + "."))]
    with tempfile.TemporaryDirectory(prefix="thinkact-shard-") as tmp:
        trace.extract(runs, Path(tmp) / "group.sqlite")
        return (Path(tmp) / "group.sqlite").read_bytes()


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
    if not jobs:
        return store.results(eval_id)
    # a heavy item's trajectories not yet recorded, one job each, before the items
    trajectories = [(index, epoch, row["run_id"], k) for index, epoch, row in jobs
             for k in range(1, (settings.heavy or 0) + 1)
             if not trace.has_run(f"{row['run_id']}.{k}")]
    actor = ray.remote(worker)
    job_spec = {**spec, "settings": asdict(settings)}
    pool = ActorPool([actor.remote(job_spec) for _ in range(
        max(1, min(settings.concurrency, max(len(jobs), len(trajectories)))))])
    for shard in pool.map_unordered(lambda a, j: a.trajectory.remote(*j), trajectories):
        _merge(trace, shard)
    for result, shard in pool.map_unordered(lambda a, j: a.run.remote(*j), [
            (index, epoch, row, _group_shard(trace, row["run_id"]) if settings.heavy else b"")
            for index, epoch, row in jobs]):
        _merge(trace, shard)
        finished = Result(**result)
        if store.finish(finished) and on_result is not None:
            on_result(finished)
    return store.results(eval_id)
