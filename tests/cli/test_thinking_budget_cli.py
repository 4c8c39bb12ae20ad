"""``thinkact run --thinking-tokens N`` on the bundled model: every step's reasoning stops at
N tokens and the run still calls its tool and answers; the budget is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli_run import run_cli
from thinkact.events import AssistantMessage, RunFinished, RunStarted

pytestmark = [pytest.mark.torch, pytest.mark.slow]


def test_run_thinking_budget_closes_each_steps_reasoning(tmp_path: Path) -> None:
    proc, events = run_cli(["What is 17 * 23 + 4? Use the python tool to check.",
                            "--thinking-tokens", "3"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.config["budget"]["thinking_tokens_per_step"] == 3
    replies = [e for e in events if isinstance(e, AssistantMessage)]
    assert replies and all(r.usage.reasoning_tokens <= 3 for r in replies)
    assert replies[0].message.tool_calls  # thinking was cut, the call still came
    assert next(e for e in events if isinstance(e, RunFinished)).status == "completed"
