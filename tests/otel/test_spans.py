"""``SpanWriter`` on recorded runs, into the SDK's in-memory exporter: the span tree, GenAI
and OpenInference attributes, ids derived from the record, content only when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.ui_runs import _turn, record, record_heavy
from thinkact.messages import Message
from thinkact.otel import write_recorded
from thinkact.otel.spans import provider_with_fixed_ids, span_id_of, trace_id_of
from thinkact.traces import SQLiteTraceStore


def spans_of(store: SQLiteTraceStore, run_id: str, content: bool = False) -> list[Any]:
    memory = InMemorySpanExporter()
    provider = provider_with_fixed_ids()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    write_recorded(store, run_id, provider, content)
    return list(memory.get_finished_spans())


def test_a_run_becomes_run_step_model_and_tool_spans(tmp_path: Path) -> None:
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        done = Message(role="assistant", reasoning="All fine.", content="Both checked.")
        record(store, "r1", "Check two.", [_turn(1), _turn(2, tool="boom"), done])
        spans = spans_of(store, "r1")
        by_name: dict[str, list[Any]] = {}
        for s in spans:
            by_name.setdefault(s.name, []).append(s)
        (run,) = by_name["invoke_agent thinkact"]
        assert run.parent is None and run.context.span_id == span_id_of("r1", 1)
        assert {s.context.trace_id for s in spans} == {trace_id_of("r1")}
        steps = [by_name[f"step {n}"][0] for n in (1, 2, 3)]
        assert all(s.parent.span_id == run.context.span_id for s in steps)
        chats = by_name["chat scripted"]
        assert len(chats) == 3
        assert [c.parent.span_id for c in chats] == [s.context.span_id for s in steps]
        first = chats[0].attributes
        assert first["gen_ai.operation.name"] == "chat"
        assert first["gen_ai.request.model"] == "scripted"
        reasoning = first["gen_ai.usage.reasoning.output_tokens"]
        assert first["gen_ai.usage.output_tokens"] > reasoning > 0
        assert first["openinference.span.kind"] == "LLM"
        assert first["llm.token_count.completion_details.reasoning"] == \
            first["gen_ai.usage.reasoning.output_tokens"]
        (echo,) = by_name["execute_tool echo"]
        (boom,) = by_name["execute_tool boom"]
        assert echo.attributes["gen_ai.tool.name"] == "echo"
        assert echo.attributes["gen_ai.tool.call.id"] == "call-1"
        assert echo.attributes["openinference.span.kind"] == "TOOL"
        assert boom.status.status_code.name == "ERROR" and \
            boom.attributes["error.type"] == "exception"
        assert boom.parent.span_id == steps[1].context.span_id
        assert run.attributes["thinkact.status"] == "completed"
        assert run.start_time <= steps[0].start_time <= chats[0].end_time <= run.end_time
        # nothing the model or the user wrote leaves without --otel-content
        assert not any(k in s.attributes for s in spans
                       for k in ("input.value", "output.value", "thinkact.reasoning"))
        again = {(s.name, s.context.span_id, s.parent and s.parent.span_id)
                 for s in spans_of(store, "r1")}
        assert again == {(s.name, s.context.span_id, s.parent and s.parent.span_id)
                         for s in spans}
        full = spans_of(store, "r1", content=True)
    named = {s.name: s for s in full}
    assert named["invoke_agent thinkact"].attributes["input.value"] == "Check two."
    assert named["invoke_agent thinkact"].attributes["output.value"] == "Both checked."
    assert named["execute_tool echo"].attributes["output.value"] == "echo: item 1"
    assert "All fine." in [s.attributes.get("thinkact.reasoning") for s in full]


def test_a_heavy_group_is_one_trace_with_a_span_per_trajectory(tmp_path: Path) -> None:
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        record_heavy(store, "g", ["7", "7"])
        spans = spans_of(store, "g")
    assert {s.context.trace_id for s in spans} == {trace_id_of("g")}
    (group,) = [s for s in spans if s.name == "invoke_agent thinkact heavy"]
    assert group.parent is None and group.context.span_id == span_id_of("g", "group")
    runs = {s.attributes["thinkact.run_id"]: s for s in spans
            if s.name == "invoke_agent thinkact"}
    assert set(runs) == {"g.1", "g.2", "g"}
    assert all(r.parent.span_id == group.context.span_id for r in runs.values())
    assert group.start_time <= min(r.start_time for r in runs.values())
    assert group.end_time == runs["g"].end_time
