"""``thinkact recipes`` and ``thinkact run --recipe``, through the real CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

from openai import OpenAI

from support.cli_run import clean_env, run_cli, serve_model, thinkact, write_script
from thinkact.events import FinalAnswer, Notice
from thinkact.recipes import load_recipe
from thinkact.traces.sqlite import SQLiteTraceStore


def test_recipes_lists_one_line_each_and_shows_the_toml(tmp_path: Path) -> None:
    listed = thinkact(["recipes"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["coding", "reasoning", "search", "writing"]
    assert "search, browse" in lines[2] and "agentic search" in lines[2]
    shown = thinkact(["recipes", "show", "writing"], tmp_path)
    assert shown.returncode == 0
    assert tomllib.loads(shown.stdout)["tools"] == list(load_recipe("writing").tools)
    missing = thinkact(["recipes", "show", "cooking"], tmp_path)
    assert missing.returncode == 2 and "unknown recipe 'cooking'" in missing.stderr


def test_run_with_a_recipe_records_its_settings_and_options_override(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [{"reasoning": "r", "content": "draft"},
                                                {"reasoning": "checked", "content": "done"}])
    proc, events = run_cli(["write it", "--recipe", "writing", "--max-tool-calls", "3",
                            "--provider", "scripted", "--script", str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    writing = load_recipe("writing")
    with SQLiteTraceStore(tmp_path / "t.sqlite") as store:
        config = store.run_config(events[0].run_id)
    assert config["tools"]["names"] == ["search", "browse", "files"]
    assert config["system_prompt"] == writing.prompt
    assert config["budget"]["max_steps"] == writing.max_steps
    assert config["budget"]["max_tool_calls"] == 3  # the option, not the recipe's
    assert config["context"]["name"] == "summarize" and config["verify"]["rounds"] == 1
    assert [e.kind for e in events if isinstance(e, Notice)] == ["verify"]
    assert [e.content for e in events if isinstance(e, FinalAnswer)] == ["done"]


def test_recipe_usage_errors(tmp_path: Path) -> None:
    bad = thinkact(["run", "x", "--recipe", "cooking"], tmp_path)
    assert bad.returncode == 2 and "unknown recipe 'cooking'" in bad.stderr
    both = thinkact(["run", "--resume", "latest", "--recipe", "search"], tmp_path)
    assert both.returncode == 2 and "--recipe starts a new run" in both.stderr


def test_serve_with_a_recipe_runs_each_request_with_it(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [{"reasoning": "r", "content": "42"}])
    db = tmp_path / "served.sqlite"
    args = ["--recipe", "reasoning", "--verify", "0", "--provider", "scripted", "--script",
            str(script), "--trace-db", str(db)]
    with serve_model(args, clean_env(tmp_path), command="serve") as base_url:
        reply = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0).chat.completions.create(
            model="thinkact-agent", messages=[{"role": "user", "content": "6 * 7?"}])
    assert reply.choices[0].message.content == "42"
    with SQLiteTraceStore(db) as store:
        (run,) = store.list_runs()
        config = store.run_config(run.run_id)
    reasoning = load_recipe("reasoning")
    assert config["tools"]["names"] == ["python"] and config["system_prompt"] == reasoning.prompt
    assert config["budget"]["max_thinking_tokens"] == reasoning.max_thinking_tokens
    assert config["verify"]["rounds"] == 0  # the option, not the recipe's
    refused = thinkact(["serve", "--recipe", "cooking"], tmp_path)
    assert refused.returncode == 2 and "unknown recipe 'cooking'" in refused.stderr
