"""Recorded events become OpenTelemetry spans: agent run → step → model call, tool call.

``SpanWriter`` consumes the event records of one or more runs, in order, and writes each span
when it ends, with the recorded times. Ids come from the record, not from chance: the trace id
from the run id (a heavy group's id for all its runs, so a group is one trace), a span id from
the run id and the ``seq`` of the event that opened the span. So the spans written live (the
store's observer) and those re-exported later (``thinkact trace otel``) are the same spans.

Attributes follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``) and the
OpenInference ones that Arize Phoenix reads (``openinference.span.kind``, ``llm.*``,
``tool.*``). Message text, reasoning and tool arguments and results go out only with
``content=True``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from thinkact.events import (
    AssistantMessage,
    ContextCompacted,
    FinalAnswer,
    Notice,
    Retry,
    RunError,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.traces.sqlite import EventRecord

AGENT = "thinkact"


def trace_id_of(root: str) -> int:
    """The trace id of run (or heavy group) ``root``."""
    return int.from_bytes(hashlib.sha256(f"thinkact trace {root}".encode()).digest()[:16]) or 1


def span_id_of(run_id: str, key: int | str) -> int:
    """The span id of what event ``key`` (a ``seq``; "group" for a heavy group) opened."""
    digest = hashlib.sha256(f"thinkact span {run_id} {key}".encode()).digest()
    return int.from_bytes(digest[:8]) or 1


class _FixedIds(IdGenerator):
    """Hands out the ids set just before each span starts."""

    def __init__(self) -> None:
        self.trace_id = self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


def provider_with_fixed_ids(**kwargs: Any) -> TracerProvider:
    """A ``TracerProvider`` that ``SpanWriter`` can give its own ids."""
    return TracerProvider(id_generator=_FixedIds(), **kwargs)


@dataclass
class _Open:
    span_id: int
    start: float
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)


@dataclass
class _Run:
    root: str  # the trace's root: the group id for a heavy run, else the run id
    group: str | None
    model: str
    provider: str | None = None
    segment: _Open | None = None
    step: _Open | None = None
    calls: dict[str, _Open] = field(default_factory=dict)


def _ns(t: float) -> int:
    return int(t * 1e9)


class SpanWriter:
    """Feed it ``(run_id, record)`` in record order (``write``); ``close`` ends what is open."""

    def __init__(self, provider: TracerProvider, content: bool = False) -> None:
        if not isinstance(provider.id_generator, _FixedIds):
            raise ValueError("SpanWriter needs provider_with_fixed_ids(...)")
        self.provider, self.content = provider, content
        self._ids = provider.id_generator
        self._tracer = provider.get_tracer("thinkact")
        self._runs: dict[str, _Run] = {}
        self._groups: dict[str, float] = {}  # heavy group -> earliest start seen
        self._lock = threading.Lock()

    def _span(self, run: _Run, name: str, span_id: int, parent: int | None, start: float,
              end: float, attributes: dict[str, Any], error: str | None = None,
              events: list[tuple[str, float, dict[str, Any]]] | None = None) -> None:
        tid = trace_id_of(run.root)
        context = None
        if parent is not None:
            context = trace.set_span_in_context(trace.NonRecordingSpan(SpanContext(
                tid, parent, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        self._ids.trace_id, self._ids.span_id = tid, span_id
        span = self._tracer.start_span(name, context=context, start_time=_ns(start),
                                       attributes=attributes)
        for ev_name, ts, attrs in events or []:
            span.add_event(ev_name, attrs, timestamp=_ns(ts))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(end))

    def write(self, run_id: str, record: EventRecord) -> None:
        with self._lock:
            self._write(run_id, record)

    def _write(self, run_id: str, rec: EventRecord) -> None:
        e, ts = rec.event, rec.ts
        if isinstance(e, RunStarted):
            heavy = e.config.get("heavy") or {}
            group = str(heavy["group"]) if heavy else None
            provider = (e.config.get("backend") or {}).get("provider")
            started = self._runs[run_id] = _Run(group or run_id, group, e.model,
                                                str(provider) if provider else None)
            if group is not None:
                self._groups[group] = min(self._groups.get(group, ts), ts)
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT,
                "gen_ai.conversation.id": run_id, "gen_ai.request.model": e.model,
                "openinference.span.kind": "AGENT", "session.id": group or run_id,
                "thinkact.run_id": run_id, "thinkact.segment": rec.segment}
            if e.resumed_from_step is not None:
                attrs["thinkact.resumed_from_step"] = e.resumed_from_step
            if heavy.get("index") is not None:
                attrs["thinkact.heavy.index"] = heavy["index"]
            if self.content:
                attrs["input.value"] = e.task
            started.segment = _Open(span_id_of(run_id, rec.seq), ts, attrs)
            return
        run = self._runs.get(run_id)
        if run is None:  # a run whose start this writer never saw
            return
        if isinstance(e, StepStarted):
            self._end_step(run, ts, "abandoned: the step never finished")
            run.step = _Open(span_id_of(run_id, rec.seq), ts, {
                "thinkact.step": e.step, "openinference.span.kind": "CHAIN"})
        elif isinstance(e, AssistantMessage):
            self._model_call(run, run_id, rec.seq, e, ts)
        elif isinstance(e, ToolCallStarted):
            run.calls[e.call.id] = _Open(span_id_of(run_id, rec.seq), ts)
            if self.content:
                run.calls[e.call.id].attributes["input.value"] = e.call.arguments
        elif isinstance(e, ToolResultEvent):
            self._tool_call(run, e, ts)
        elif isinstance(e, StepFinished):
            self._end_step(run, ts, None)
        elif isinstance(e, Retry | ContextCompacted | Notice | RunError):
            holder = run.step or run.segment
            if holder is not None:
                holder.events.append((e.type, ts, {k: v for k, v in e.model_dump(
                    exclude={"type", "message", "usage"}).items() if v is not None}))
        elif isinstance(e, FinalAnswer) and self.content and run.segment is not None:
            run.segment.attributes["output.value"] = e.content
        elif isinstance(e, RunFinished):
            self._run_finished(run, run_id, e, ts)

    def _parent(self, run: _Run) -> int | None:
        held = run.step or run.segment
        return held.span_id if held is not None else None

    def _model_call(self, run: _Run, run_id: str, seq: int, e: AssistantMessage,
                    ts: float) -> None:
        u, model = e.usage, run.model
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": u.prompt_tokens,
            "gen_ai.usage.output_tokens": u.completion_tokens,
            "gen_ai.usage.reasoning.output_tokens": u.reasoning_tokens,
            "gen_ai.usage.cache_read.input_tokens": u.cached_tokens,
            "openinference.span.kind": "LLM", "llm.model_name": model,
            "llm.token_count.prompt": u.prompt_tokens,
            "llm.token_count.completion": u.completion_tokens,
            "llm.token_count.total": u.total_tokens,
            "llm.token_count.completion_details.reasoning": u.reasoning_tokens,
            "llm.token_count.prompt_details.cache_read": u.cached_tokens}
        if e.finish_reason:
            attrs["gen_ai.response.finish_reasons"] = [e.finish_reason]
        if run.provider:
            attrs["gen_ai.provider.name"] = attrs["llm.provider"] = run.provider
        if self.content:
            m = e.message
            attrs.update({"llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.content": m.content or "",
                          "output.value": m.content or ""})
            if m.reasoning:
                attrs["thinkact.reasoning"] = m.reasoning
            for i, call in enumerate(m.tool_calls):
                prefix = f"llm.output_messages.0.message.tool_calls.{i}.tool_call"
                attrs[f"{prefix}.id"] = call.id
                attrs[f"{prefix}.function.name"] = call.name
                attrs[f"{prefix}.function.arguments"] = call.arguments
        self._span(run, f"chat {model}", span_id_of(run_id, seq), self._parent(run),
                   ts - e.duration_s, ts, attrs)

    def _tool_call(self, run: _Run, e: ToolResultEvent, ts: float) -> None:
        r = e.result
        held = run.calls.pop(r.call_id, None)
        if held is None:  # a result the loop made without a call event (budget, repeat)
            return
        attrs = {**held.attributes, "gen_ai.operation.name": "execute_tool",
                 "gen_ai.tool.name": r.name, "gen_ai.tool.call.id": r.call_id,
                 "gen_ai.tool.type": "function", "openinference.span.kind": "TOOL",
                 "tool.name": r.name, "tool_call.id": r.call_id}
        if r.error:
            attrs["error.type"] = r.error
        if self.content:
            attrs["output.value"] = r.content
        self._span(run, f"execute_tool {r.name}", held.span_id, self._parent(run), held.start,
                   ts, attrs, error=r.error)

    def _end_step(self, run: _Run, ts: float, error: str | None) -> None:
        step, run.step = run.step, None
        if step is None or run.segment is None:
            return
        for call in list(run.calls):  # calls the step never answered
            held = run.calls.pop(call)
            self._span(run, "execute_tool", held.span_id, step.span_id, held.start, ts,
                       held.attributes, error="no result")
        self._span(run, f"step {step.attributes['thinkact.step']}", step.span_id,
                   run.segment.span_id, step.start, ts, step.attributes, error, step.events)

    def _run_finished(self, run: _Run, run_id: str, e: RunFinished, ts: float) -> None:
        self._end_step(run, ts, "abandoned: the run ended inside the step")
        seg, run.segment = run.segment, None
        if seg is None:
            return
        root_span = span_id_of(run_id, 1)
        parent = (root_span if seg.span_id != root_span else
                  span_id_of(run.group, "group") if run.group else None)
        u = e.usage
        seg.attributes.update({
            "thinkact.status": e.status, "thinkact.reason": e.reason,
            "thinkact.steps": e.steps, "thinkact.tool_calls": e.tool_calls,
            "gen_ai.usage.input_tokens": u.prompt_tokens,
            "gen_ai.usage.output_tokens": u.completion_tokens,
            "gen_ai.usage.reasoning.output_tokens": u.reasoning_tokens,
            "llm.token_count.prompt": u.prompt_tokens,
            "llm.token_count.completion": u.completion_tokens})
        self._span(run, f"invoke_agent {AGENT}", seg.span_id, parent, seg.start, ts,
                   seg.attributes, e.reason if e.status == "failed" else None, seg.events)
        if run.group == run_id:  # the aggregation ended: so does the group
            self._span(run, f"invoke_agent {AGENT} heavy", span_id_of(run_id, "group"), None,
                       self._groups.get(run_id, seg.start), ts, {
                           "gen_ai.operation.name": "invoke_agent",
                           "gen_ai.agent.name": AGENT, "openinference.span.kind": "AGENT",
                           "session.id": run_id, "thinkact.heavy.group": run_id})

    def close(self, now: float) -> None:
        """End the spans of runs still open (a process stopping mid-run) at ``now``."""
        with self._lock:
            for run_id, run in list(self._runs.items()):
                if run.segment is not None:
                    self._run_finished(run, run_id, RunFinished(
                        status="stopped", reason="export ended", steps=0, tool_calls=0), now)
