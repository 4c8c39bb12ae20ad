"""``AgentConfig``: everything that decides how a run goes, as one typed, recordable object.

The one rule: what a run's ``RunStarted`` records is ``config.model_dump(mode="json")``, and a
resume reads it back with ``AgentConfig.from_record`` (the only place that understands
configs recorded in an older shape). ``config.build()`` makes the whole agent: backend,
tools by name with their options, workspace.

    agent = AgentConfig(backend="embedded", tools=["python"]).build()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from thinkact.agent.budget import Budget
from thinkact.agent.context import HideToolOutputs, NoCompaction, Summarize
from thinkact.agent.repeat import RepeatPolicy
from thinkact.agent.verify import VerifyPolicy
from thinkact.backends.base import GenerationOptions
from thinkact.backends.spec import BackendSpec

if TYPE_CHECKING:
    from thinkact.agent.agent import Agent
    from thinkact.backends.base import ModelBackend
    from thinkact.tools.base import Tool
    from thinkact.tools.toolset import ApprovalPolicy
    from thinkact.traces.base import TraceStore

ContextChoice = HideToolOutputs | Summarize | NoCompaction
CONTEXT_BY_NAME: dict[str, type[ContextChoice]] = {
    "hide": HideToolOutputs, HideToolOutputs.name: HideToolOutputs,
    Summarize.name: Summarize, NoCompaction.name: NoCompaction}


class ToolsConfig(BaseModel):
    """The run's tools: built-in ones by name with their options, and MCP servers."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] | None = None  # built-in tools; None: the default set
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # {"python": {...}}
    facts_db: str | None = None  # the database of the facts tool
    shell_approval: Literal["ask", "off"] | None = None  # with "shell": ask before each command
    mcp: list[dict[str, Any]] = Field(default_factory=list)  # servers, without secret values
    unsafe_python: bool = False  # python and shell run without their jail
    python_network: bool = False  # their jail has the network


class HeavyConfig(BaseModel):
    """Heavy mode's settings, recorded by every run of a group (``agent.heavy``)."""

    model_config = ConfigDict(extra="forbid")

    of: int  # trajectories
    aggregator: str = "reflect"  # reflect | vote (auto is decided before a run starts)
    group: str | None = None  # the group's run id
    index: int | None = None  # this trajectory's k; None for the aggregation run
    trajectories: list[str] | None = None  # the aggregation run: the runs it read


class AgentConfig(BaseModel):
    """How a run is set up. Strings are accepted for ``backend`` (a spec such as
    ``"moonshot"`` or ``"local:DIR"``), ``tools`` (a list of names) and ``context``."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendSpec = Field(default_factory=BackendSpec)
    budget: Budget = Field(default_factory=Budget)
    context: ContextChoice = Field(default_factory=HideToolOutputs)
    options: GenerationOptions = Field(default_factory=GenerationOptions)  # sampling
    repeat: RepeatPolicy = Field(default_factory=RepeatPolicy)
    verify: VerifyPolicy = Field(default_factory=VerifyPolicy)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    workspace: Path | None = None  # the tools' directory; None: a fresh one per agent
    system_prompt: str | None = None
    output_reserve: int | None = None  # tokens kept free for the reply (default: derived)
    heavy: HeavyConfig | None = None

    @field_validator("backend", mode="before")
    @classmethod
    def _backend_spec(cls, value: Any) -> Any:
        return BackendSpec.parse(value) if isinstance(value, str) else value

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_names(cls, value: Any) -> Any:
        return {"names": list(value)} if isinstance(value, list | tuple) else value

    @field_validator("context", mode="before")
    @classmethod
    def _context_by_name(cls, value: Any) -> Any:
        name = value if isinstance(value, str) else (
            value.get("name") if isinstance(value, dict) else None)
        if name is None:
            return value
        if name not in CONTEXT_BY_NAME:
            raise ValueError(f"unknown context strategy {name!r}; known: "
                             f"{', '.join(CONTEXT_BY_NAME)}")
        fields = {k: v for k, v in value.items() if k != "name"} if isinstance(value, dict) else {}
        return CONTEXT_BY_NAME[name](**fields)

    def replace(self, **changes: Any) -> AgentConfig:
        """A copy with ``changes`` applied (validated)."""
        return AgentConfig.model_validate({**dict(self), **changes})

    def record(self) -> dict[str, Any]:
        """What ``RunStarted.config`` keeps (JSON; no secrets)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_record(cls, recorded: dict[str, Any]) -> AgentConfig:
        """The config a run recorded, in any shape this package ever recorded. No tool names
        recorded means the registry's defaults then (a run of the bundled model recorded
        before it had a world of its own keeps them)."""
        config = cls.model_validate(migrate(recorded))
        if config.tools.names is None:
            from thinkact.tools.registry import default_names

            names = default_names(config.tools.facts_db)
            config = config.replace(tools=config.tools.model_copy(update={"names": names}))
        return config

    def build(self, *, run_id: str | None = None, backend: ModelBackend | None = None,
              trace: TraceStore | None = None, tools: list[Tool] | None = None,
              approver: ApprovalPolicy | None = None) -> Agent:
        """The agent this config describes (``Agent.from_config``)."""
        from thinkact.agent.agent import Agent

        return Agent.from_config(self, run_id=run_id, backend=backend, trace=trace,
                                 tools=tools, approver=approver)


def migrate(recorded: dict[str, Any]) -> dict[str, Any]:
    """A config recorded before ``AgentConfig`` (a hand-built dict with ``model``,
    ``context_window``, a backend description and the CLI's ``setup`` block) in today's
    shape; today's shape unchanged."""
    old = "model" in recorded or "setup" in recorded or isinstance(recorded.get("tools"), list)
    if not old:
        return recorded
    setup = recorded.get("setup") or {}
    names = setup.get("builtin_tools") if "setup" in recorded else recorded.get("tools")
    if setup.get("facts_db") and names is not None and "facts" not in names:
        names = [*names, "facts"]
    if setup.get("shell"):  # the order the tools were built in: defaults, facts, shell
        from thinkact.tools.registry import default_names

        names = [*(default_names(setup.get("facts_db")) if names is None else names), "shell"]
    new: dict[str, Any] = {
        "backend": _old_backend(recorded.get("backend") or {}),
        "tools": {"names": names, "facts_db": setup.get("facts_db"),
                  "shell_approval": setup.get("shell_approval"), "mcp": setup.get("mcp") or [],
                  "unsafe_python": bool(setup.get("unsafe_python")),
                  "python_network": bool(setup.get("python_network"))},
    }
    for key in ("budget", "options", "repeat", "verify", "system_prompt", "workspace",
                "heavy"):
        if recorded.get(key) is not None:
            new[key] = recorded[key]
    if recorded.get("context"):
        new["context"] = recorded["context"]
    return new


def _old_backend(described: dict[str, Any]) -> dict[str, Any]:
    """An old backend description (what a backend said about itself) as a spec."""
    provider = described.get("provider")
    if provider == "local":
        options = {k: v for k, v in described.items()
                   if k not in ("provider", "profile", "checkpoint")}
        return {"provider": described.get("profile", "local"),
                "checkpoint": described.get("checkpoint"), "options": options}
    if provider == "scripted":  # its per-chunk delay was recorded beside the script
        delay = {"delay_s": described["delay_s"]} if described.get("delay_s") is not None else {}
        return {"provider": "scripted", "script": described.get("script"), "options": delay}
    spec = {k: described[k] for k in ("provider", "model", "base_url") if described.get(k)}
    if described.get("given_context_window"):  # --context-window, recorded for a resume
        spec["options"] = {"context_window": described["given_context_window"]}
    return spec
