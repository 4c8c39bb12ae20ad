"""Shared CLI plumbing: open the trace store, build a backend/agent from options or from a
recorded run's config (so ``--resume`` needs no options repeated), and the scripted test
provider.

``--provider scripted --script FILE.json`` is for tests and offline demos: FILE is a JSON list
of assistant turns ``{"reasoning": ..., "content": ..., "tool_calls": [{"name": ...,
"arguments": {...}}]}`` or ``{"turns": [...], "delay_s": 0.05}``. The turn played is chosen
by the number of assistant messages already in the conversation, so a resumed run continues
the script where the trace left it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.scripted import ScriptedBackend, ScriptExhausted
from thinkact.events import BackendEvent, RunFinished
from thinkact.messages import Message, ToolCall
from thinkact.tools.base import ToolSpec
from thinkact.traces.base import TraceStore

if TYPE_CHECKING:
    from thinkact.server.openai_app import Access
    from thinkact.traces.sqlite import SQLiteTraceStore


class UsageError(ValueError):
    """Bad command-line input; the CLI prints the message and exits with status 2."""


@dataclass
class ScriptConfig:
    """What the trace records about a scripted backend (so a resume can rebuild it)."""

    script: str
    delay_s: float

    def describe(self) -> dict[str, Any]:
        return {"provider": "scripted", "script": self.script, "delay_s": self.delay_s}


class ScriptedCliBackend(ScriptedBackend):
    """``ScriptedBackend`` playing turns from a JSON file, optionally slowed per chunk."""

    def __init__(self, path: Path, *, model_name: str = "scripted") -> None:
        turns, delay = load_script(path)
        self.turns = turns
        super().__init__(self._policy_for, model_name=model_name, record=False)
        self.delay_s = delay
        self.config = ScriptConfig(str(path.resolve()), delay)

    def _policy_for(self, messages: Sequence[Message]) -> Message:
        index = sum(m.role == "assistant" for m in messages)
        if index >= len(self.turns):
            raise ScriptExhausted(f"the script has {len(self.turns)} turns; turn {index + 1} "
                                  "was asked for")
        return self.turns[index]

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        async for event in super().stream(messages, tools, options):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield event


def load_script(path: Path) -> tuple[list[Message], float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read script {path}: {exc}") from None
    delay = 0.0
    if isinstance(data, dict):
        delay = float(data.get("delay_s", 0.0))
        data = data.get("turns")
    if not isinstance(data, list) or not data:
        raise UsageError(f"script {path} must be a non-empty JSON list of assistant turns "
                         "(or an object with a 'turns' list)")
    return [_turn(t, i) for i, t in enumerate(data)], delay


def _turn(raw: Any, i: int) -> Message:
    if not isinstance(raw, dict):
        raise UsageError(f"script turn {i + 1} must be an object, got {type(raw).__name__}")
    calls = []
    for j, c in enumerate(raw.get("tool_calls") or []):
        args = c.get("arguments", {})
        calls.append(ToolCall(id=c.get("id") or f"call_{i + 1}_{j}", name=c["name"],
                              arguments=args if isinstance(args, str) else json.dumps(args)))
    return Message(role="assistant", content=raw.get("content"),
                   reasoning=raw.get("reasoning"), tool_calls=calls)


def build_backend(provider: str | None, model: str | None, base_url: str | None,
                  api_key_env: str | None, script: Path | None,
                  recorded: dict[str, Any] | None = None, *,
                  context_window: int | None = None) -> ModelBackend:
    """A backend from options, falling back to what a recorded run used."""
    from thinkact.backends.config import ConfigError, make_backend, resolve_backend_config

    rec = dict(recorded or {})
    provider = provider or rec.get("provider")
    if provider == "scripted":
        path = script or (Path(rec["script"]) if rec.get("script") else None)
        if path is None:
            raise UsageError("--provider scripted needs --script FILE.json")
        return ScriptedCliBackend(path, model_name=model or rec.get("model") or "scripted")
    if script is not None:
        raise UsageError("--script is only for --provider scripted")
    overrides: dict[str, Any] = {}
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise UsageError(f"environment variable {api_key_env} (named by --api-key-env) "
                             "is not set")
        overrides["api_key_env"] = api_key_env
    try:
        config = resolve_backend_config(
            provider, model=model or rec.get("model"),
            base_url=base_url or rec.get("base_url"),
            context_window=context_window or rec.get("given_context_window"), **overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return make_backend(config)


def parse_tools(spec: str | None, recorded: Sequence[str] | None) -> list[str] | None:
    """``--tools a,b`` -> names; ``none``/empty -> no tools; unset -> recorded or default."""
    if spec is None:
        return list(recorded) if recorded is not None else None
    names = [n.strip() for n in spec.split(",") if n.strip()]
    return [] if names in ([], ["none"]) else names


def interrupted_end(store: TraceStore, run_id: str, started: float) -> RunFinished | None:
    """The ``RunFinished`` that records a run cut by Ctrl-C, SIGTERM or a closed pipe
    (stopped, 'interrupted': resumable), counted from the store; None for a run the store
    never saw."""
    try:
        state = store.load_state(run_id)
    except KeyError:
        return None
    return RunFinished(status="stopped", reason="interrupted", steps=state.steps_done,
                       tool_calls=state.tool_calls, usage=state.usage,
                       duration_s=time.monotonic() - started)


def code_running_access(host: str, key_env: str | None, what: str) -> Access:
    """The ``Access`` of a server whose requests run code (``what`` says how, for the
    message): beyond loopback only with a bearer key. Exits with status 2 otherwise."""
    import typer
    from rich.console import Console

    from thinkact.server.openai_app import access_for

    err = Console(stderr=True)
    try:
        access = access_for(host, key_env)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if not access.loopback_only and access.api_key is None:
        err.print(f"[bold red]error:[/] {what}: binding {host} (beyond loopback) needs "
                  "--key-env", highlight=False)
        raise typer.Exit(2)
    return access


def otel_export(store: SQLiteTraceStore, endpoint: str | None, content: bool) -> Any:
    """Live OTLP export of what ``store`` records (None without an endpoint); exits with
    status 2 when the otel extra is missing."""
    if not endpoint:
        return None
    import typer
    from rich.console import Console

    from thinkact.otel import export_live

    try:
        return export_live(store, endpoint, content)
    except RuntimeError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
