"""SQLiteTraceStore against real SQLite files: the resume rule, supersession, projections,
delta merging, durability under SIGKILL, concurrent readers, export round trip."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.memory_trace import MemoryTraceStore
from support.sqlite_writer import writer_mid_transaction
from support.trace_events import INITIAL, answer_step, finished, started, tool_step
from thinkact.events import (
    EVENT_ADAPTER,
    AssistantMessage,
    ReasoningDelta,
    StepFinished,
    StepStarted,
)
from thinkact.messages import Message
from thinkact.traces import SQLiteTraceStore, export_events, export_messages


@pytest.fixture
def store(tmp_path: Path) -> SQLiteTraceStore:
    s = SQLiteTraceStore(tmp_path / "t.sqlite")
    yield s  # type: ignore[misc]
    s.close()


def killed_run() -> list:
    """Two complete steps (one with a notice), then a step cut off after its tool result."""
    return [started("r1"), *tool_step(1, calls=2), *tool_step(2, notice=True),
            *tool_step(3, finish=False, tag="-lost")]


def expected_conversation() -> list[Message]:
    out = list(INITIAL)
    for ev in [*tool_step(1, calls=2), *tool_step(2, notice=True)]:
        if isinstance(ev, AssistantMessage):
            out.append(ev.message)
        elif ev.type == "tool_result":
            out.append(Message.tool(ev.result))
        elif ev.type == "notice" and ev.message is not None:
            out.append(ev.message)
    return out


def test_load_state_keeps_complete_steps_only(store: SQLiteTraceStore) -> None:
    memory = MemoryTraceStore()
    for ev in killed_run():
        store.append("r1", ev)
        memory.append("r1", ev)
    state = store.load_state("r1")
    assert state.messages == expected_conversation()
    assert not any("-lost" in (m.content or "") for m in state.messages)
    assert (state.steps_done, state.tool_calls, state.finished) == (2, 3, False)
    assert state.task == "Count the files." and state.config["tools"] == ["files"]
    # the abandoned step's model call was still paid for
    assert state.usage.prompt_tokens == 100 + 200 + 300
    # same rule as the in-memory reference store the agent tests use
    ref = memory.load_state("r1")
    assert (ref.messages, ref.steps_done, ref.tool_calls) == (
        state.messages, state.steps_done, state.tool_calls)
    # the incomplete step is still in the record
    assert sum(isinstance(e, StepStarted) for e in store.events("r1")) == 3


def test_resume_supersedes_the_abandoned_step(store: SQLiteTraceStore) -> None:
    for ev in killed_run():
        store.append("r1", ev)
    for ev in [started("r1", resumed_from=2), *tool_step(3), *answer_step(4),
               finished(4, 4)]:
        store.append("r1", ev)
    state = store.load_state("r1")
    assert state.finished and state.steps_done == 4 and state.tool_calls == 4
    assistant = [m for m in state.messages if m.role == "assistant"]
    assert [m.content for m in assistant] == ["step 1", "step 2", "step 3",
                                              "There are 3 files."]
    records = store.records("r1")
    lost = [r for r in records if r.superseded]
    assert lost and all(r.segment == 1 and r.step == 3 for r in lost)
    assert {r.event.type for r in lost} >= {"step_started", "assistant_message", "tool_call",
                                           "tool_result"}
    final_steps = [r.event.step for r in records
                   if not r.superseded and isinstance(r.event, StepStarted)]
    assert final_steps == [1, 2, 3, 4]
    # projections agree with the final trace
    assert store.query("SELECT step FROM steps WHERE run_id='r1' AND superseded=0 "
                       "AND finished_at IS NOT NULL ORDER BY seq") == [(1,), (2,), (3,), (4,)]
    calls = store.query("SELECT call_id, ok, error FROM tool_calls WHERE run_id='r1' AND "
                        "superseded=0 ORDER BY seq")
    assert calls == [("c1-0", 1, None), ("c1-1", 0, "exception"), ("c2-0", 1, None),
                     ("c3-0", 1, None)]
    assert store.query("SELECT COUNT(*) FROM messages WHERE run_id='r1' AND superseded=0") == [
        (len(state.messages),)]
    info = store.run_info("r1")
    assert (info["status"], info["steps"], info["tool_calls"], info["segments"]) == (
        "completed", 4, 4, 2)
    assert info["prompt_tokens"] == 100 + 200 + 300 + 300 + 500


def test_state_config_is_the_latest_segments(store: SQLiteTraceStore) -> None:
    for ev in [started("r3"), *tool_step(1)]:
        store.append("r3", ev)
    resumed = started("r3", resumed_from=1)
    resumed.config = {**resumed.config, "budget": {"max_steps": 20}}  # changed on resume
    store.append("r3", resumed)
    state = store.load_state("r3")
    assert state.config["budget"] == {"max_steps": 20} and state.config["tools"] == ["files"]
    assert state.task == "Count the files." and state.messages[: len(INITIAL)] == INITIAL


def test_resume_before_any_step_finished(store: SQLiteTraceStore) -> None:
    for ev in [started("r2"), *tool_step(1, finish=False)]:
        store.append("r2", ev)
    assert store.load_state("r2").messages == INITIAL
    store.append("r2", started("r2", resumed_from=0))
    assert store.query("SELECT COUNT(*) FROM messages WHERE run_id='r2' AND superseded=0") == [
        (len(INITIAL),)]
    assert store.query("SELECT COUNT(*) FROM tool_calls WHERE run_id='r2' AND superseded=0") \
        == [(0,)]
    assert store.run_info("r2")["status"] == "running"


def test_deltas_are_merged_but_complete(tmp_path: Path) -> None:
    merged = SQLiteTraceStore(tmp_path / "a.sqlite", delta_flush_s=60)
    each = SQLiteTraceStore(tmp_path / "b.sqlite", delta_flush_s=None)
    for s in (merged, each):
        for ev in [started("r"), *tool_step(1)]:
            s.append("r", ev)

    def reasoning(s: SQLiteTraceStore) -> tuple[str, int]:
        parts = [e.text for e in s.events("r") if isinstance(e, ReasoningDelta)]
        return "".join(parts), len(parts)

    text_m, rows_m = reasoning(merged)
    text_e, rows_e = reasoning(each)
    assert text_m == text_e == "thinking about step 1 ✓"
    assert rows_m == 1 and rows_e > 1
    merged.close()
    each.close()


def test_interleaved_runs_each_merge_their_deltas(tmp_path: Path) -> None:
    """Heavy mode streams several runs at once: one run's deltas do not flush another's."""
    s = SQLiteTraceStore(tmp_path / "t.sqlite", delta_flush_s=60)
    for run in ("a", "b"):
        s.append(run, started(run))
        s.append(run, StepStarted(step=1))
    for i in range(10):
        s.append("a", ReasoningDelta(text=f"a{i} "))
        s.append("b", ReasoningDelta(text=f"b{i} "))
    s.append("a", StepFinished(step=1))  # flushes a's deltas only
    assert s.query("SELECT run_id, COUNT(*) FROM events WHERE type='reasoning_delta' "
                   "GROUP BY run_id") == [("a", 1)]
    s.close()
    with SQLiteTraceStore(tmp_path / "t.sqlite") as again:
        for run in ("a", "b"):
            deltas = [e.text for e in again.events(run) if isinstance(e, ReasoningDelta)]
            assert deltas == ["".join(f"{run}{i} " for i in range(10))]


def test_a_stalled_runs_deltas_are_flushed_by_anothers_events(tmp_path: Path) -> None:
    s = SQLiteTraceStore(tmp_path / "t.sqlite", delta_flush_s=0.05)
    for run in ("a", "b"):
        s.append(run, started(run))
        s.append(run, StepStarted(step=1))
    s.append("a", ReasoningDelta(text="a thought, then silence"))
    time.sleep(0.1)
    s.append("b", StepFinished(step=1))  # b's event: a's old deltas go out too
    assert s.query("SELECT COUNT(*) FROM events WHERE run_id='a' AND "
                   "type='reasoning_delta'") == [(1,)]
    s.close()


def test_pending_deltas_are_visible_and_flushed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    s = SQLiteTraceStore(path, delta_flush_s=60)
    s.append("r", started("r"))
    s.append("r", StepStarted(step=1))
    s.append("r", ReasoningDelta(text="half a tho"))
    s.append("r", ReasoningDelta(text="ught"))
    s.close()
    with SQLiteTraceStore(path) as again:
        assert [e.text for e in again.events("r") if isinstance(e, ReasoningDelta)] == [
            "half a thought"]


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from support.trace_events import started, tool_step
from thinkact.traces import SQLiteTraceStore
store = SQLiteTraceStore({db!r})
for ev in [started("k"), *tool_step(1), *tool_step(2, finish=False)]:
    store.append("k", ev)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_appended_events_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "k.sqlite"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parents[1]), db=str(db))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    with SQLiteTraceStore(db) as s:
        types = [e.type for e in s.events("k")]
        # everything up to the kill, including the unfinished step's assistant message
        assert types.count("assistant_message") == 2 and types.count("tool_result") == 2
        assert s.load_state("k").steps_done == 1
        assert s.run_info("k")["status"] == "running"


def test_other_connection_reads_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    writer = SQLiteTraceStore(path)
    reader = SQLiteTraceStore(path)
    writer.append("r", started("r"))
    for ev in tool_step(1):
        writer.append("r", ev)
        if isinstance(ev, AssistantMessage):
            seen = [e.type for e in reader.events("r")]
            assert seen[-1] == "assistant_message"
    assert reader.load_state("r").steps_done == 1
    assert [r.run_id for r in reader.list_runs()] == ["r"]
    writer.close()
    reader.close()


def test_threads_share_one_store(store: SQLiteTraceStore) -> None:
    def write(run: str) -> None:
        for ev in [started(run), *tool_step(1), *tool_step(2), *answer_step(3)]:
            store.append(run, ev)

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        records = store.records(f"t{i}")
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        assert store.load_state(f"t{i}").steps_done == 3


def test_export_round_trip(store: SQLiteTraceStore) -> None:
    for ev in [*killed_run(), started("r1", resumed_from=2), *tool_step(3), *answer_step(4),
               finished(4, 4)]:
        store.append("r1", ev)
    out = io.StringIO()
    n = export_events(store, "r1", out)
    lines = out.getvalue().splitlines()
    assert n == len(lines) == len(store.records("r1"))
    parsed = [EVENT_ADAPTER.validate_json(line) for line in lines]
    assert parsed == list(store.events("r1"))
    final = io.StringIO()
    m = export_events(store, "r1", final, include_superseded=False)
    assert m < n and all("-lost" not in line for line in final.getvalue().splitlines())
    conv = io.StringIO()
    export_messages(store, "r1", conv)
    messages = [Message.model_validate(json.loads(x)) for x in conv.getvalue().splitlines()]
    assert messages == store.load_state("r1").messages


def test_unknown_runs_and_prefixes(store: SQLiteTraceStore) -> None:
    with pytest.raises(KeyError):
        store.load_state("nope")
    with pytest.raises(KeyError):
        list(store.events("nope"))
    for run in ("20261129-aa", "20261129-ab"):
        store.append(run, started(run))
    assert store.resolve_run_id("20261129-aa") == "20261129-aa"
    with pytest.raises(ValueError, match="ambiguous"):
        store.resolve_run_id("20261129-a")
    assert store.resolve_run_id("latest") in ("20261129-aa", "20261129-ab")
    with pytest.raises(ValueError, match="first event must be RunStarted"):
        store.append("fresh", StepStarted(step=1))


def test_extract_takes_the_named_runs_and_merge_brings_them_back(store: SQLiteTraceStore,
                                                                  tmp_path: Path) -> None:
    for rid in ("g.1", "g.2", "other"):
        for ev in [started(rid), *tool_step(1), *answer_step(2), finished(2, 1)]:
            store.append(rid, ev)
    store.extract(["g.1", "g.2"], tmp_path / "shard.sqlite")
    assert not (tmp_path / "shard.sqlite-wal").exists() or \
        (tmp_path / "shard.sqlite-wal").stat().st_size == 0  # folded into the file
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes((tmp_path / "shard.sqlite").read_bytes())  # the bytes alone suffice
    with SQLiteTraceStore(copy) as shard:
        assert sorted(r.run_id for r in shard.list_runs()) == ["g.1", "g.2"]
        assert shard.load_state("g.2") == store.load_state("g.2")
        for ev in [started("g"), *answer_step(1), finished(1, 0)]:
            shard.append("g", ev)
    with SQLiteTraceStore(tmp_path / "back.sqlite") as back:
        back.merge(copy)
        assert sorted(r.run_id for r in back.list_runs()) == ["g", "g.1", "g.2"]
        assert back.load_state("g.1") == store.load_state("g.1") and back.load_state("g").finished


def test_opening_while_another_process_writes_a_fresh_file_waits_for_it(tmp_path: Path) -> None:
    """A writer in the middle of its first transaction (as a run creating its trace is): the
    switch to WAL is refused at once, not after the busy timeout, so opening retries."""
    path = tmp_path / "t.sqlite"
    with writer_mid_transaction(path):
        store = SQLiteTraceStore(path, busy_timeout_s=5)
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()
