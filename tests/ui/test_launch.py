"""The playground's form as ``thinkact run`` arguments: what the page sends stays data."""

from __future__ import annotations

import typer

from thinkact.cli.main import app
from thinkact.ui.launch import RunForm


def test_a_task_that_looks_like_an_option_stays_the_task() -> None:
    form = RunForm(task="--unsafe-python", provider="scripted", max_steps=3)
    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    ctx = run.make_context("run", ["--json", *form.args()])
    assert ctx.params["task"] == "--unsafe-python"
    assert ctx.params["unsafe_python"] is False and ctx.params["max_steps"] == 3
