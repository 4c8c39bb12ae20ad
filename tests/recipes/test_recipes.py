"""The shipped recipes: each loads, is documented, names real tools; files are validated."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from thinkact.recipes import Recipe, apply_recipe, load_recipe, recipe_names, recipe_text
from thinkact.tools.registry import BUILTIN_NAMES

NAMES = ["coding", "reasoning", "search", "writing"]


def test_the_four_recipes_ship_and_load() -> None:
    assert recipe_names() == NAMES
    for name in NAMES:
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.summary
        assert set(recipe.tools) <= set(BUILTIN_NAMES) - {"shell"}  # shell only with --shell
        assert recipe.output_format.strip() in recipe.prompt
        assert recipe.prompt.startswith(recipe.system_prompt.strip())
        assert recipe_text(name).lstrip().startswith("#")  # the file says what it is for


def test_each_recipe_has_its_competence() -> None:
    reasoning, search, coding, writing = (load_recipe(n) for n in
                                          ("reasoning", "search", "coding", "writing"))
    assert reasoning.tools == ("python",) and reasoning.verify >= 1
    assert (reasoning.max_thinking_tokens or 0) >= 100_000
    assert {"search", "browse"} <= set(search.tools) and "Sources:" in search.prompt
    assert {"python", "files"} <= set(coding.tools) and "tests" in coding.prompt
    assert {"search", "browse", "files"} <= set(writing.tools)
    assert "cite" in writing.prompt and "Fact-check" in writing.prompt


def test_a_recipe_fills_only_the_options_not_given() -> None:
    given = {"tools": None, "system_prompt": None, "verify": None, "context_strategy": None,
             "max_steps": 5, "max_tool_calls": None, "task": "x"}
    out = apply_recipe(given, "writing")
    writing = load_recipe("writing")
    assert out["max_steps"] == 5  # explicit wins
    assert out["tools"] == "search,browse,files" and out["verify"] == writing.verify
    assert out["max_tool_calls"] == writing.max_tool_calls and out["task"] == "x"
    assert out["system_prompt"] == writing.prompt
    assert apply_recipe(given, None) is given


def test_a_copied_recipe_file_loads_and_bad_ones_say_why(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(recipe_text("search").replace("max_tool_calls = 24", "max_tool_calls = 4"))
    assert load_recipe(str(mine)).max_tool_calls == 4
    assert Recipe.model_validate(tomllib.loads(recipe_text("search"))) == load_recipe("search")
    typo = tmp_path / "typo.toml"
    typo.write_text(recipe_text("search").replace("max_steps", "max_stepz"))
    with pytest.raises(ValueError, match=r"typo.toml: max_stepz: Extra inputs"):
        load_recipe(str(typo))
    bad = tmp_path / "bad.toml"
    bad.write_text(recipe_text("search").replace('context_strategy = "hide"',
                                                 'context_strategy = "forget"'))
    with pytest.raises(ValueError, match="context_strategy"):
        load_recipe(str(bad))
    with pytest.raises(ValueError, match="unknown recipe 'cooking'"):
        load_recipe("cooking")


def test_a_recipe_builds_an_agent(tmp_path: Path) -> None:
    from thinkact.agent import Agent
    from thinkact.backends.scripted import ScriptedBackend
    from thinkact.messages import Message

    recipe = load_recipe("coding")
    turns = [Message(role="assistant", content="draft"), Message(role="assistant", content="done")]
    agent = Agent(ScriptedBackend(turns),
                  tools=recipe.build_tools(tmp_path), workspace=tmp_path,
                  **recipe.agent_kwargs())
    config = agent.config.model_dump(mode="json")
    assert config["tools"]["names"] == ["python", "files"]
    assert config["system_prompt"] == recipe.prompt
    assert config["budget"]["max_steps"] == recipe.max_steps
    assert (config["context"]["name"], config["verify"]["rounds"]) == ("summarize", recipe.verify)
    assert agent.run("fix it").answer == "done"  # after the recipe's verify round


def test_a_recipe_is_an_agent_config_overlay(tmp_path: Path) -> None:
    from thinkact.agent.config import AgentConfig

    base = AgentConfig(backend="embedded", workspace=tmp_path, system_prompt="old",
                       budget={"max_cost_usd": 1.5, "max_steps": 7})
    writing = load_recipe("writing")
    config = writing.overlay(base)
    assert config.tools.names == ["search", "browse", "files"]
    assert config.system_prompt == writing.prompt and config.verify.rounds == writing.verify
    assert config.budget.max_steps == writing.max_steps  # the recipe's
    assert config.budget.max_cost_usd == 1.5  # what the recipe does not set is kept
    assert (config.workspace, config.context.name, base.system_prompt) == (
        tmp_path, "summarize", "old")
    assert AgentConfig.from_record(config.record()) == config
