"""The terminal view of a run: a pure consumer of the event stream.

``LiveView.handle(event)`` is all it needs, so the same class renders a live run
(``thinkact run``) and a recorded one (``thinkact trace show``). Finished things are printed
once (tool calls and results as panels, the answer, notices); what is still streaming (the
last lines of reasoning, the content so far, a status line) sits in a transient ``rich.Live``
area when the console is a terminal. Reasoning is dimmed and, by default, collapsed to a
one-line summary once the step's message is complete.
"""

from __future__ import annotations

import json
import time
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from thinkact.agent.config import migrate
from thinkact.backends.embedded import EMBEDDED_NAME, EMBEDDED_TRADE
from thinkact.events import (
    AssistantMessage,
    ContentDelta,
    ContextCompacted,
    Event,
    FinalAnswer,
    Notice,
    ReasoningDelta,
    Retry,
    RunError,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Usage
from thinkact.untrusted import is_marked, unmarked

ReasoningMode = Literal["collapsed", "full", "hidden"]


def clip(text: str, max_lines: int, max_chars: int) -> str:
    """At most ``max_lines`` lines / ``max_chars`` characters, saying how much was cut."""
    lines = text.splitlines()
    out = "\n".join(lines[:max_lines])
    if len(out) > max_chars:
        out = out[:max_chars]
    cut_lines = len(lines) - len(out.splitlines())
    if len(out) < len(text.rstrip("\n")):
        more = f"{cut_lines} more lines" if cut_lines > 0 else f"{len(text) - len(out)} more chars"
        out += f"\n… ({more})"
    return out


def human_tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class LiveView:
    def __init__(self, console: Console, *, show_reasoning: ReasoningMode = "collapsed",
                 live: bool | None = None, tail_lines: int = 6, max_lines: int = 20,
                 max_chars: int = 2000) -> None:
        self.console = console
        self.show_reasoning = show_reasoning
        self.use_live = console.is_terminal if live is None else live
        self.tail_lines, self.max_lines, self.max_chars = tail_lines, max_lines, max_chars
        self._live: Live | None = None
        self.step = 0
        self.tool_calls = 0
        self.usage = Usage()
        self.started = time.monotonic()
        self.reasoning = ""
        self.content = ""
        self.finished: RunFinished | None = None
        self.run_id: str | None = None
        self.resume_hint = True  # on a stopped/failed end, say how to continue

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> LiveView:
        if self.use_live:
            self._live = Live(console=self.console, get_renderable=self._streaming,
                              transient=True, refresh_per_second=8, redirect_stdout=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- events -----------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Render one event (the only way the view learns anything)."""
        p = self.console.print
        if isinstance(event, RunStarted):
            self.started = time.monotonic()
            self.run_id = event.run_id
            if (migrate(event.config).get("tools") or {}).get("unsafe_python"):
                p(Text("UNCONFINED: python and shell run without the sandbox "
                       "(--unsafe-python)", style="bold red"))
            if event.resumed_from_step is not None:
                p(Text(f"— resumed {event.run_id} after step {event.resumed_from_step} —",
                       style="bold yellow"))
            else:
                trade = f" ({EMBEDDED_TRADE})" if event.model == EMBEDDED_NAME else ""
                p(Text.assemble(("run ", "dim"), (event.run_id, "bold"), ("  model ", "dim"),
                                event.model, (trade, "dim")))
                p(Text(event.task, style="bold"))
        elif isinstance(event, StepStarted):
            self.step = event.step
            self.reasoning = self.content = ""
        elif isinstance(event, ReasoningDelta):
            self.reasoning += event.text
        elif isinstance(event, ContentDelta):
            self.content += event.text
        elif isinstance(event, Retry):
            self.reasoning = self.content = ""
            p(Text(f"retry {event.attempt} in {event.delay_s:.1f}s: {event.error}",
                   style="yellow"))
        elif isinstance(event, AssistantMessage):
            self._assistant(event)
        elif isinstance(event, ToolCallStarted):
            p(Panel(Text(clip(_pretty_args(event.call.arguments), self.max_lines,
                              self.max_chars)),
                    title=f"[bold cyan]→ {event.call.name}[/]", title_align="left",
                    border_style="cyan", subtitle=event.call.id, subtitle_align="right"))
        elif isinstance(event, ToolResultEvent):
            self._tool_result(event)
        elif isinstance(event, Notice):
            p(Text(f"[{event.kind}] {event.text}", style="yellow"))
        elif isinstance(event, ContextCompacted):
            p(Text(f"context compacted ({event.strategy}): {event.tokens_before} → "
                   f"{event.tokens_after} tokens {event.detail}", style="dim"))
        elif isinstance(event, FinalAnswer):
            p(Panel(Markdown(event.content or "(empty answer)"), title="[bold green]Answer[/]",
                    title_align="left", border_style="green"))
        elif isinstance(event, RunError):
            p(Text(f"error: {event.message}", style="bold red" if event.fatal else "red"))
        elif isinstance(event, RunFinished):
            self.finished = event
            style = {"completed": "green", "stopped": "yellow", "failed": "red"}[event.status]
            p(Text.assemble((event.status, f"bold {style}"), (f" ({event.reason}) ", style),
                            (self.totals(event), "dim")))
            if event.status != "completed" and self.resume_hint and self.run_id:
                p(Text(f"continue with: thinkact run --resume {self.run_id}", style="dim"))
        elif isinstance(event, StepFinished):
            pass
        if not isinstance(event, ReasoningDelta | ContentDelta):
            self._refresh()  # deltas show at the Live's own refresh rate

    def superseded(self, step: int | None, events: int) -> None:
        """A recorded partial step that a resume redid (``trace show``)."""
        noun = "event" if events == 1 else "events"
        self.console.print(Text(f"⤺ step {step}: {events} {noun} of an interrupted attempt "
                                "(superseded; the step was redone after resume)",
                                style="dim yellow"))

    def _assistant(self, event: AssistantMessage) -> None:
        self.tool_calls += len(event.message.tool_calls)
        self.usage = self.usage + event.usage
        reasoning = event.message.reasoning or ""
        if reasoning.strip() and self.show_reasoning == "full":
            self.console.print(Text(f"step {self.step} thinking:\n{reasoning.strip()}",
                                    style="dim italic"))
        elif reasoning.strip() and self.show_reasoning == "collapsed":
            lines = reasoning.strip().splitlines()
            first = lines[0][:100] + ("…" if len(lines[0]) > 100 or len(lines) > 1 else "")
            tokens = event.usage.reasoning_tokens or max(1, len(reasoning) // 4)
            self.console.print(Text(f"▸ step {self.step} thought {len(lines)} lines "
                                    f"(~{human_tokens(tokens)} tokens): {first}",
                                    style="dim italic"))
        content = (event.message.content or "").strip()
        if content and (event.message.tool_calls or event.finish_reason == "length"):
            self.console.print(Text(content))
        self.reasoning = self.content = ""

    def _tool_result(self, event: ToolResultEvent) -> None:
        r = event.result
        status = "ok" if r.ok else f"error: {r.error}"
        cut = " (truncated)" if r.truncated else ""
        # The model sees the untrusted envelope; a reader gets its content and a mark.
        mark = " · untrusted data" if is_marked(r.content) else ""
        self.console.print(Panel(
            Text(clip(unmarked(r.content), self.max_lines, self.max_chars)),
            title=f"[bold]← {r.name}[/] {status} {r.duration_s:.2f}s{cut}{mark}",
            title_align="left",
            border_style="green" if r.ok else "red"))

    # -- status -----------------------------------------------------------------------------
    def status_line(self) -> str:
        u = self.usage
        return (f"step {self.step} · tool calls {self.tool_calls} · tokens "
                f"{human_tokens(u.prompt_tokens)} in / {human_tokens(u.completion_tokens)} out"
                f" ({human_tokens(u.reasoning_tokens)} thinking) · "
                f"{time.monotonic() - self.started:.1f}s")

    def totals(self, end: RunFinished) -> str:
        u = end.usage
        return (f"{end.steps} steps · {end.tool_calls} tool calls · "
                f"{human_tokens(u.prompt_tokens)} in / {human_tokens(u.completion_tokens)} out "
                f"({human_tokens(u.reasoning_tokens)} thinking) · {end.duration_s:.1f}s")

    def _streaming(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.reasoning and self.show_reasoning != "hidden":
            lines = self.reasoning.splitlines()
            parts.append(Text("\n".join(lines[-self.tail_lines:]), style="dim italic"))
        if self.content:
            parts.append(Text(clip(self.content, self.max_lines, self.max_chars)))
        parts.append(Text(self.status_line(), style="bold blue"))
        return Group(*parts)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()


def _pretty_args(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (json.JSONDecodeError, TypeError):
        return raw
