"""The playground's way to start runs: ``thinkact run`` in its own process, recording into
the UI's trace database, which the page then follows like any other run.

A run outlives the page and the server that started it, and resumes like a CLI run. This
is the one place that builds a run from the page's form; it is meant to be replaced by the
package's own run-building API once one exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from thinkact.agent import new_run_id
from thinkact.events import Notice, RunFinished, RunStarted
from thinkact.traces.replay import replay_state
from thinkact.traces.sqlite import SQLiteTraceStore


class RunForm(BaseModel):
    """What the playground's form sends to start a run (unset: ``thinkact run``'s default)."""

    task: str = Field(min_length=1)
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    tools: str | None = None
    max_steps: int | None = Field(default=None, ge=1)
    max_tool_calls: int | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    heavy: int | None = Field(default=None, ge=1, le=16)
    aggregate: str | None = None  # heavy mode: auto, reflect or vote
    script: str | None = None  # --provider scripted: the JSON turns file

    def args(self) -> list[str]:
        out: list[str] = []
        for name in ("provider", "model", "base_url", "tools", "max_steps", "max_tool_calls",
                     "timeout", "heavy", "aggregate", "script"):
            value = getattr(self, name)
            if value not in (None, ""):
                out += [f"--{name.replace('_', '-')}", str(value)]
        return [*out, "--", self.task]  # after "--": a task can never be read as an option


class LaunchError(ValueError):
    """``thinkact run`` refused the options (its message says why)."""


def _spawn(args: list[str], trace_db: Path) -> str:
    """``thinkact run ARGS --json``; the run id from its first event, once it is recorded."""
    errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read below, or closed
    proc = subprocess.Popen(
        [sys.executable, "-m", "thinkact.cli.main", "run", "--json", "--no-mcp",
         "--trace-db", str(trace_db), *args], stdout=subprocess.PIPE, stderr=errors,
        stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first:
        proc.wait()
        errors.seek(0)
        raise LaunchError(errors.read().strip() or f"thinkact run exited {proc.returncode}")
    errors.close()
    # the run writes its events to the store; its stdout only needs draining
    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    return str(json.loads(first)["run_id"])


def start_run(trace_db: Path, form: RunForm) -> str:
    """Start a run (heavy: a group); returns the run id (heavy: the group id)."""
    rid = _spawn(form.args(), trace_db)
    return rid.rsplit(".", 1)[0] if form.heavy else rid


def resume_run(trace_db: Path, run_id: str) -> str:
    """Continue an interrupted or stopped run from its last complete step."""
    return _spawn(["--resume", run_id], trace_db)


def fork_run(store: SQLiteTraceStore, run_id: str, step: int, message: str | None) -> str:
    """A new run that starts where ``run_id`` stood before ``step``: its conversation up to
    there, with the last message's text replaced by ``message``; then run on from there."""
    state = store.load_state(run_id)
    if state.config.get("heavy"):
        raise LaunchError("runs of a heavy group cannot be forked one by one")
    if not 1 <= step <= state.steps_done + 1:
        raise LaunchError(f"step must be 1..{state.steps_done + 1}, not {step}")
    before = [r.event for r in store.records(run_id, include_deltas=False)
              if r.step is None or r.step < step]
    opening = next(e for e in before if isinstance(e, RunStarted)).messages
    conversation = replay_state(run_id, before).messages
    if message:
        conversation[-1] = conversation[-1].model_copy(update={"content": message})
    fork = new_run_id()
    task = message if message and len(conversation) == len(opening) else state.task
    store.append(fork, RunStarted(run_id=fork, task=task, model=state.model,
                                  config=state.config, messages=conversation))
    store.append(fork, Notice(kind="fork", text=f"forked from {run_id} at step {step}"))
    store.append(fork, RunFinished(status="stopped", reason="forked (not started)", steps=0,
                                   tool_calls=0))
    return _spawn(["--resume", fork], store.path)

