"""What the web UI reads from the trace store: plain JSON-ready dicts, one query each.

Everything comes from the ``events`` log and its projections (``traces.schema``); events are
passed on as their stored JSON, so the page renders the same typed events every other view
renders. Step pages read one range of steps, so a 3,000-step run costs what a page costs.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any

from thinkact.agent.heavy import _normal
from thinkact.backends.presets import PRESETS
from thinkact.traces.schema import DELTA_TYPES
from thinkact.traces.sqlite import SQLiteTraceStore, pid_alive

_NO_DELTAS = f"type NOT IN ({','.join(repr(t) for t in DELTA_TYPES)})"
_RUN_COLUMNS = ("id, task, model, status, reason, steps, tool_calls, prompt_tokens, "
                "completion_tokens, reasoning_tokens, cached_tokens, started_at, finished_at, "
                "updated_at, config, segments")


def _cost(config: dict[str, Any], row: dict[str, Any]) -> float | None:
    """USD at the provider's list price, when the preset has one."""
    preset = PRESETS.get(str((config.get("backend") or {}).get("provider")))
    if preset is None or preset.price is None:
        return None
    return preset.price.cost(row["prompt_tokens"], row["completion_tokens"],
                             row["cached_tokens"])


def _run_row(store: SQLiteTraceStore, names: list[str], values: tuple[object, ...]
             ) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    config = json.loads(str(row.pop("config")))
    if row["status"] == "running" and not store.writer_alive(str(row["id"])):
        row["status"] = "interrupted"  # its process is gone: resumable
    heavy = config.get("heavy") or {}
    run_id = str(row.pop("id"))
    row.update(run_id=run_id, cost_usd=_cost(config, row),
               heavy={k: heavy[k] for k in ("group", "index", "of") if k in heavy} or None,
               tools=config.get("tools") or [], forked_from=_forked_from(store, run_id))
    return row


def _forked_from(store: SQLiteTraceStore, run_id: str) -> dict[str, Any] | None:
    """Where a playground fork came from (its 'fork' notice), else None."""
    rows = store.query("SELECT json FROM events WHERE run_id = ? AND type = 'notice' AND "
                       "step IS NULL AND json LIKE '%\"kind\":\"fork\"%' LIMIT 1", (run_id,))
    found = re.match(r"forked from (\S+) at step (\d+)",
                     json.loads(str(rows[0][0]))["text"]) if rows else None
    return {"run": found[1], "step": int(found[2])} if found else None


def list_runs(store: SQLiteTraceStore, q: str = "", status: str = "", limit: int = 200
              ) -> list[dict[str, Any]]:
    """Newest first; ``q`` matches task, id or model; ``status`` one status (interrupted:
    recorded as running, writer gone)."""
    like = f"%{q}%"
    rows = store.query(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE (? = '' OR task LIKE ? OR id LIKE ? OR "
        "model LIKE ?) ORDER BY started_at DESC, id DESC LIMIT ?", (q, like, like, like, limit))
    names = [n.strip() for n in _RUN_COLUMNS.split(",")]
    runs = [_run_row(store, names, r) for r in rows]
    return [r for r in runs if not status or r["status"] == status]


def run_summary(store: SQLiteTraceStore, run_id: str) -> dict[str, Any]:
    """The run's row, its segments (resume points) and one line per step; ``KeyError``."""
    rows = store.query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
    if not rows:
        raise KeyError(run_id)
    run = _run_row(store, [n.strip() for n in _RUN_COLUMNS.split(",")], rows[0])
    segments = [{"seq": s, "segment": g, "ts": t, "resumed_from_step":
                 json.loads(str(j)).get("resumed_from_step")}
                for s, g, t, j in store.query(
                    "SELECT seq, segment, ts, json FROM events WHERE run_id = ? AND "
                    "type = 'run_started' ORDER BY seq", (run_id,))]
    calls: dict[object, dict[str, Any]] = {}
    for step, prompt, completion, reasoning, duration in store.query(
            "SELECT step, SUM(prompt_tokens), SUM(completion_tokens), SUM(reasoning_tokens), "
            "SUM(duration_s) FROM model_calls WHERE run_id = ? AND superseded = 0 "
            "GROUP BY step", (run_id,)):
        calls[step] = {"prompt_tokens": prompt, "completion_tokens": completion,
                       "reasoning_tokens": reasoning, "model_s": duration}
    tools: dict[object, dict[str, Any]] = {}
    for step, names, errors in store.query(
            "SELECT step, GROUP_CONCAT(name, ','), SUM(error IS NOT NULL) FROM tool_calls "
            "WHERE run_id = ? AND superseded = 0 GROUP BY step", (run_id,)):
        tools[step] = {"tools": str(names).split(","), "errors": errors}
    steps = []
    for step, started, finished in store.query(
            "SELECT step, started_at, finished_at FROM steps WHERE run_id = ? AND "
            "superseded = 0 ORDER BY seq", (run_id,)):
        steps.append({"step": step, "started_at": started, "finished_at": finished,
                      **calls.get(step, {}), **tools.get(step, {"tools": [], "errors": 0})})
    answer = store.query("SELECT json FROM events WHERE run_id = ? AND type = 'final_answer' "
                         "AND superseded = 0 ORDER BY seq DESC LIMIT 1", (run_id,))
    return {**run, "segments": segments, "lines": steps,
            "answer": json.loads(str(answer[0][0]))["content"] if answer else None,
            "last_seq": store.query("SELECT COALESCE(MAX(seq), 0) FROM events WHERE "
                                    "run_id = ?", (run_id,))[0][0]}


def step_events(store: SQLiteTraceStore, run_id: str, first: int, last: int
                ) -> list[dict[str, Any]]:
    """The events of steps ``first..last`` (deltas left out: each step's assistant message
    carries its text), with the run's opening and segment events when ``first`` is 1."""
    store.flush()
    rows = store.query(
        f"SELECT seq, segment, step, ts, superseded, json FROM events WHERE run_id = ? AND "
        f"{_NO_DELTAS} AND ((step BETWEEN ? AND ?) OR (step IS NULL AND ? = 1)) ORDER BY seq",
        (run_id, first, last, first))
    return [{"seq": s, "segment": g, "step": st, "ts": t, "superseded": bool(sup),
             "event": json.loads(str(j))} for s, g, st, t, sup, j in rows]


def events_after(store: SQLiteTraceStore, run_id: str, seq: int, limit: int = 500
                 ) -> list[dict[str, Any]]:
    """Events with a larger ``seq`` (deltas included), for the live stream."""
    rows = store.query("SELECT seq, step, type, json FROM events WHERE run_id = ? AND seq > ? "
                       "ORDER BY seq LIMIT ?", (run_id, seq, limit))
    return [{"seq": s, "step": st, "type": ty, "event": json.loads(str(j))}
            for s, st, ty, j in rows]


def search_steps(store: SQLiteTraceStore, run_id: str, q: str) -> list[int]:
    """The steps whose events mention ``q`` (case-insensitive for ASCII)."""
    if not q:
        return []
    escaped = json.dumps(q)[1:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = store.query(f"SELECT DISTINCT step FROM events WHERE run_id = ? AND {_NO_DELTAS} "
                       "AND step IS NOT NULL AND superseded = 0 AND json LIKE ? ESCAPE '\\' "
                       "ORDER BY step", (run_id, f"%{escaped}%"))
    return [int(str(r[0])) for r in rows]


def _step_lines(store: SQLiteTraceStore, run_id: str) -> dict[int, dict[str, Any]]:
    """Per step: what the model said and called, and what the tools answered."""
    out: dict[int, dict[str, Any]] = {}
    for step, role, content, calls in store.query(
            "SELECT step, role, content, tool_calls FROM messages WHERE run_id = ? AND "
            "superseded = 0 AND step IS NOT NULL ORDER BY seq, idx", (run_id,)):
        line = out.setdefault(int(str(step)), {"content": "", "calls": [], "results": []})
        if role == "assistant":
            line["content"] = content or ""
            line["calls"] = [f"{c['name']}({c['arguments']})"
                             for c in json.loads(str(calls or "[]"))]
        elif role == "tool":
            line["results"].append(content or "")
    return out


def compare(store: SQLiteTraceStore, a: str, b: str) -> dict[str, Any]:
    """Two runs step by step, and the first step where they differ (None: they agree)."""
    la, lb = _step_lines(store, a), _step_lines(store, b)
    rows, diverged = [], None
    for step in range(1, max([0, *la, *lb]) + 1):
        sa, sb = la.get(step), lb.get(step)
        same = sa == sb
        if not same and diverged is None:
            diverged = step
        rows.append({"step": step, "a": sa, "b": sb, "same": same})
    return {"a": run_summary(store, a), "b": run_summary(store, b), "steps": rows,
            "diverged_at": diverged}


def heavy_group(store: SQLiteTraceStore, group: str) -> dict[str, Any]:
    """A heavy group: one lane per trajectory and the aggregation, with which trajectories
    the final answer agrees with; ``KeyError`` for no such group."""
    first = store.query("SELECT config FROM runs WHERE id = ?", (f"{group}.1",))
    if not first:
        raise KeyError(group)
    heavy = json.loads(str(first[0][0])).get("heavy") or {}
    aggregation = run_summary(store, group) if store.has_run(group) else None
    final = aggregation["answer"] if aggregation else None
    lanes = []
    for k in range(1, int(heavy.get("of", 1)) + 1):
        rid = f"{group}.{k}"
        if not store.has_run(rid):
            lanes.append({"run_id": rid, "status": "not started", "lines": []})
            continue
        lane = run_summary(store, rid)
        answer = lane["answer"]
        lane["agrees"] = bool(final and answer and (
            _normal(answer) == _normal(final) or _normal(answer) in _normal(final)))
        lanes.append(lane)
    vote = store.query("SELECT json FROM events WHERE run_id = ? AND type = 'notice' AND "
                       "json LIKE '%\"kind\":\"vote\"%' LIMIT 1", (group,))
    return {"group": group, "of": heavy.get("of"), "aggregator": heavy.get("aggregator"),
            "lanes": lanes, "aggregation": aggregation,
            "vote": json.loads(str(vote[0][0]))["text"] if vote else None}


def group_progress(store: SQLiteTraceStore, group: str) -> tuple[list[Any], bool]:
    """What changes as a heavy group runs (each run's status and last event), and whether
    it may still change: a run is running with its writer alive, or the aggregation is yet
    to come and the process writing the trajectories is alive."""
    rows = store.query("SELECT id, status, pid, host, (SELECT MAX(seq) FROM events e WHERE "
                       "e.run_id = r.id) FROM runs r WHERE id = ? OR id LIKE ? ESCAPE '\\' "
                       "ORDER BY id", (group, group.replace("\\", "\\\\").replace("_", "\\_")
                                       .replace("%", "\\%") + ".%"))
    here = socket.gethostname()
    alive = [host != here or not isinstance(pid, int) or pid_alive(pid)
             for _, _, pid, host, _ in rows]
    running = any(st == "running" and up for (_, st, *_), up in zip(rows, alive, strict=True))
    waiting = all(rid != group for rid, *_ in rows) and any(alive)
    return [(rid, st, seq) for rid, st, _, _, seq in rows], running or waiting
