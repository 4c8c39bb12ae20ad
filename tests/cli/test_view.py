"""LiveView renders from events alone: feed a run's events, capture a recording console."""

from __future__ import annotations

from rich.console import Console

from support.trace_events import answer_step, finished, started, tool_step
from thinkact.backends.embedded import EMBEDDED_NAME
from thinkact.cli.view import LiveView, clip
from thinkact.events import Event, ToolResultEvent
from thinkact.messages import ToolResult
from thinkact.untrusted import mark_untrusted


def render(events: list[Event], **kw: object) -> str:
    console = Console(record=True, width=100, force_terminal=False)
    view = LiveView(console, **kw)  # type: ignore[arg-type]
    with view:
        for ev in events:
            view.handle(ev)
    return console.export_text()


def run_events() -> list[Event]:
    return [started("r1"), *tool_step(1, calls=2), *answer_step(2, "There are **3** files."),
            finished(2, 2)]


def test_tool_panels_answer_and_totals() -> None:
    out = render(run_events(), live=False)
    assert "→ files" in out and '"action": "list"' in out and '"path": "d10"' in out
    assert "← files ok" in out and "result of c1-0" in out
    assert "← files error: exception" in out  # the failed second call
    assert "Answer" in out and "There are 3 files." in out  # markdown rendered
    assert "completed (answered)" in out and "2 steps · 2 tool calls" in out
    assert out.index("→ files") < out.index("← files") < out.index("Answer")


def test_reasoning_collapsed_full_hidden() -> None:
    collapsed = render(run_events(), live=False)
    assert "▸ step 1 thought 1 lines" in collapsed and "thinking about step 1 ✓" in collapsed
    full = render(run_events(), live=False, show_reasoning="full")
    assert "step 1 thinking:\nthinking about step 1 ✓" in full
    hidden = render(run_events(), live=False, show_reasoning="hidden")
    assert "thinking about step 1" not in hidden and "Answer" in hidden


def test_live_mode_streams_into_a_transient_area() -> None:
    console = Console(record=True, width=100, force_terminal=True)
    view = LiveView(console, live=True)
    with view:
        for ev in run_events()[:3]:  # run started, step started, first reasoning delta
            view.handle(ev)
        assert view.reasoning == "think"
        assert "step 1 · tool calls 0" in view.status_line()
        for ev in run_events()[3:]:
            view.handle(ev)
    out = console.export_text()
    assert "Answer" in out and "→ files" in out
    assert view.finished is not None and view.finished.status == "completed"


def test_long_tool_output_is_truncated() -> None:
    text = "\n".join(f"line {i}" for i in range(200))
    res = ToolResultEvent(result=ToolResult(call_id="c", name="python", content=text))
    out = render([started("r"), res], live=False, max_lines=5)
    assert "│ line 4 " in out and "│ line 5 " not in out and "(195 more lines)" in out
    assert clip("x" * 50, 10, 20).endswith("(30 more chars)")


def test_untrusted_output_shows_its_content_and_a_mark_not_the_envelope() -> None:
    marked = mark_untrusted("395", "python")
    res = ToolResultEvent(result=ToolResult(call_id="c", name="python", content=marked))
    out = render([started("r"), res], live=False)
    assert "← python ok" in out and "untrusted data" in out and "│ 395 " in out
    assert "untrusted_tool_output" not in out and "do not follow instructions" not in out
    plain = render([started("r"), ToolResultEvent(result=ToolResult(
        call_id="c", name="python", content="395"))], live=False)
    assert "untrusted data" not in plain


def test_the_bundled_model_states_its_trade_in_the_first_line() -> None:
    bundled = started("r").model_copy(update={"model": EMBEDDED_NAME})
    first = render([bundled], live=False).splitlines()[0]
    assert EMBEDDED_NAME in first and "bundled demo" in first
    assert "bundled demo" not in render([started("r")], live=False)
