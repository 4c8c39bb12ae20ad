"""OpenTelemetry export of runs over OTLP/HTTP (the ``otel`` extra: opentelemetry-sdk and
the OTLP/HTTP exporter, imported only when export is asked for).

    exporting = export_live(store, "http://localhost:6006/v1/traces")  # every run it writes
    ...; exporting.close()                                             # flush and stop
    export_recorded(store, run_id, "http://...")                       # a recorded run again

Both go through ``spans.SpanWriter``, which reads the recorded events, so a run re-exported
later has the ids it had live. ``THINKACT_OTEL_ENDPOINT`` is the CLI's default endpoint;
``content=True`` (``--otel-content``) adds message text, reasoning and tool I/O.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from thinkact.events import RunFinished
from thinkact.traces.sqlite import EventRecord, SQLiteTraceStore

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

ENV = "THINKACT_OTEL_ENDPOINT"


def traces_url(endpoint: str) -> str:
    """An OTLP base URL or traces URL, as the traces URL (``.../v1/traces``)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def otlp_provider(endpoint: str, batch: bool = True) -> TracerProvider:
    """A tracer provider exporting to ``endpoint`` over OTLP/HTTP (protobuf)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise RuntimeError("OpenTelemetry export needs the otel extra: "
                           "pip install 'thinkact[otel]'") from exc
    from thinkact.otel.spans import provider_with_fixed_ids

    provider = provider_with_fixed_ids(resource=Resource.create({"service.name": "thinkact"}))
    exporter = OTLPSpanExporter(endpoint=traces_url(endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                else SimpleSpanProcessor(exporter))
    return provider


class LiveExport:
    """Spans of every run ``store`` writes from now on, as its events are committed."""

    def __init__(self, store: SQLiteTraceStore, provider: TracerProvider,
                 content: bool = False) -> None:
        from thinkact.otel.spans import SpanWriter

        self.provider = provider
        self.writer = SpanWriter(provider, content)
        store.subscribe(self._write)

    def _write(self, run_id: str, record: EventRecord) -> None:
        self.writer.write(run_id, record)
        if isinstance(record.event, RunFinished):  # send a finished run's spans now: a server
            # stopped by a signal never reaches close()
            threading.Thread(target=self.provider.force_flush, daemon=True).start()

    def close(self) -> None:
        self.writer.close(time.time())
        self.provider.shutdown()  # flushes what the batch still holds


def export_live(store: SQLiteTraceStore, endpoint: str, content: bool = False) -> LiveExport:
    return LiveExport(store, otlp_provider(endpoint), content)


def group_members(store: SQLiteTraceStore, run_id: str) -> list[str]:
    """The runs one trace holds: a heavy group's trajectories then its aggregation, or the
    run alone."""
    config = store.run_config(run_id) if store.has_run(run_id) else {}
    group = (config.get("heavy") or {}).get("group")
    if group is None and store.has_run(f"{run_id}.1"):
        group = (store.run_config(f"{run_id}.1").get("heavy") or {}).get("group")
    if group is None:
        return [run_id]
    rows = store.query("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY started_at",
                       (group.replace("_", "\\_").replace("%", "\\%") + ".%",))
    members = [str(r[0]) for r in rows]
    return [*members, group] if store.has_run(group) else members


def write_recorded(store: SQLiteTraceStore, run_id: str, provider: TracerProvider,
                   content: bool = False) -> int:
    """Write the spans of a recorded run (a heavy group: the whole group); returns how many
    events were read."""
    from thinkact.otel.spans import SpanWriter

    writer = SpanWriter(provider, content)
    n, last = 0, time.time()
    for member in group_members(store, run_id):  # the aggregation last: it ends the group
        for record in store.records(member, include_deltas=False):
            writer.write(member, record)
            n, last = n + 1, record.ts
    writer.close(last)  # a run cut by a kill ends at its last recorded event
    return n


def export_recorded(store: SQLiteTraceStore, run_id: str, endpoint: str,
                    content: bool = False) -> int:
    provider = otlp_provider(endpoint, batch=False)
    try:
        return write_recorded(store, run_id, provider, content)
    finally:
        provider.shutdown()
