"""Recipes: named agent configurations for one kind of task, shipped as TOML files.

A recipe sets the tools, system prompt, output format, budgets, verify rounds and context
strategy for ``reasoning``, ``search``, ``coding`` or ``writing``. Its keys are the option
names of ``thinkact run`` (``max_steps``, ``verify``, ...), so a recipe only fills
defaults: an option given explicitly always wins. ``thinkact recipes show NAME`` prints the
file to copy and change; ``load_recipe`` also reads a path to such a file. In Python::

    agent = load_recipe("search").overlay(AgentConfig(backend="moonshot")).build()
    # or, by hand: Agent(backend, tools=recipe.build_tools(ws), **recipe.agent_kwargs())
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from thinkact.agent.config import AgentConfig

_DIR = resources.files(__name__)


class Recipe(BaseModel):
    """One recipe file. Unknown keys are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    summary: str
    tools: tuple[str, ...]
    system_prompt: str
    output_format: str = ""
    verify: int = Field(0, ge=0)
    context_strategy: Literal["hide", "summarize"] = "hide"
    max_steps: int | None = Field(None, ge=1)
    max_tool_calls: int | None = Field(None, ge=0)
    max_thinking_tokens: int | None = Field(None, ge=1)
    max_step_tokens: int | None = Field(None, ge=1)
    timeout: float | None = Field(None, gt=0)

    @property
    def prompt(self) -> str:
        """The system prompt the run gets: the recipe's prompt, then its output format."""
        return "\n\n".join(p.strip() for p in (self.system_prompt, self.output_format) if p)

    def run_options(self) -> dict[str, Any]:
        """``thinkact run`` options this recipe sets (None-valued ones left out)."""
        options: dict[str, Any] = {
            "tools": ",".join(self.tools) or "none", "system_prompt": self.prompt,
            "verify": self.verify, "context_strategy": self.context_strategy,
        }
        for key in ("max_steps", "max_tool_calls", "max_thinking_tokens", "max_step_tokens",
                    "timeout"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        return options

    def agent_kwargs(self) -> dict[str, Any]:
        """``Agent(backend, tools=recipe.build_tools(ws), **recipe.agent_kwargs())``."""
        from thinkact.agent import Budget, HideToolOutputs, Summarize, VerifyPolicy

        return {"system_prompt": self.prompt,
                "budget": Budget(**self._budget()),
                "verify": VerifyPolicy(rounds=self.verify),
                "context": Summarize() if self.context_strategy == "summarize"
                else HideToolOutputs()}

    def overlay(self, config: AgentConfig | None = None) -> AgentConfig:
        """``config`` (default: a new one) with this recipe's tools, prompt, budgets,
        verify rounds and context strategy put over it; everything else kept."""
        from dataclasses import replace

        from thinkact.agent.config import AgentConfig

        base = config or AgentConfig()
        kwargs = self.agent_kwargs()
        return base.replace(tools=base.tools.model_copy(update={"names": list(self.tools)}),
                            system_prompt=self.prompt, budget=replace(base.budget,
                                                                      **self._budget()),
                            verify=kwargs["verify"], context=kwargs["context"])

    def _budget(self) -> dict[str, Any]:
        """The ``Budget`` fields this recipe sets."""
        fields = {"max_steps": self.max_steps, "max_tool_calls": self.max_tool_calls,
                  "max_thinking_tokens": self.max_thinking_tokens,
                  "max_thinking_tokens_per_step": self.max_step_tokens,
                  "max_wall_time_s": self.timeout}
        return {k: v for k, v in fields.items() if v is not None}

    def build_tools(self, workspace: Path) -> list[Any]:
        """The recipe's built-in tools, working in ``workspace``."""
        from thinkact.tools.registry import build_tools

        return build_tools(list(self.tools), workspace=workspace)

    def line(self) -> str:
        """One line for a listing: name, tools, verify, context, then the summary."""
        tools = ", ".join(self.tools) or "no tools"
        return f"{self.name:<10} [{tools}; verify {self.verify}; {self.context_strategy}] " \
               f"{self.summary}"


def recipe_names() -> list[str]:
    """The recipes shipped with the package, by name."""
    return sorted(p.name.removesuffix(".toml") for p in _DIR.iterdir()
                  if p.name.endswith(".toml"))


def recipe_text(ref: str) -> str:
    """The TOML of a shipped recipe (by name) or of a recipe file (by path)."""
    if ref in recipe_names():
        return (_DIR / f"{ref}.toml").read_text(encoding="utf-8")
    path = Path(ref).expanduser()
    if path.suffix == ".toml" and path.is_file():
        return path.read_text(encoding="utf-8")
    raise ValueError(f"unknown recipe {ref!r}: use {', '.join(recipe_names())} or a .toml file")


def load_recipe(ref: str) -> Recipe:
    """A recipe by name or path; ``ValueError`` names the file and what is wrong in it."""
    text = recipe_text(ref)
    try:
        return Recipe.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"recipe {ref}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"recipe {ref}: {problems}") from None


def apply_recipe(options: dict[str, Any], ref: str | None) -> dict[str, Any]:
    """``options`` with the recipe's settings filled in where an option was not given."""
    if ref is None:
        return options
    recipe = load_recipe(ref)
    return {**options, **{k: v for k, v in recipe.run_options().items()
                           if options.get(k) is None}}
