"""What ``thinkact run`` and ``thinkact serve`` make of their options: one ``AgentConfig``.

``RunFlags`` holds the options as given (None: not given); ``RunFlags.config(recorded)``
lays them over the config a resumed run recorded (or over the defaults for a new run), so
``--resume RUN_ID`` rebuilds the same backend and tools without repeating options, and an
option given again wins and stays for later resumes. Secrets stay out of the trace: MCP
servers are recorded without their ``env``/``headers`` values, which a resume takes again
from the config file's server of the same name.

Config file keys (``$THINKACT_CONFIG`` or ``~/.config/thinkact/config.toml``): the model
sections of ``thinkact.backends.config`` and ``thinkact.backends.factory``, and::

    [mcp.servers.time]
    command = "python"
    args = ["-m", "mcp_server_time"]
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from thinkact.agent.config import AgentConfig, HeavyConfig
from thinkact.agent.context import HideToolOutputs, Summarize
from thinkact.backends.config import ConfigError
from thinkact.backends.spec import BackendSpec
from thinkact.cli.common import UsageError, parse_tools
from thinkact.messages import ToolCall
from thinkact.tools.base import Tool
from thinkact.tools.mcp_client import MCPServerConfig, load_mcp_servers, resolve_cwd
from thinkact.tools.toolset import ApprovalPolicy

# flag -> Budget field
BUDGET_FLAGS = {"max_steps": "max_steps", "max_tool_calls": "max_tool_calls",
                "max_thinking_tokens": "max_thinking_tokens",
                "max_step_tokens": "max_thinking_tokens_per_step",
                "thinking_tokens": "thinking_tokens_per_step", "timeout": "max_wall_time_s",
                "max_cost": "max_cost_usd", "final_answer_grace": "final_answer_grace_s"}


def _config_file() -> tuple[dict[str, Any], Path]:
    from thinkact.backends.config import config_path, load_config_file

    path = config_path()
    try:
        return load_config_file(path), path
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


@dataclass
class RunFlags:
    """The options of ``thinkact run`` that shape the agent, as given (None: not given)."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    context_window: int | None = None
    api_key_env: str | None = None
    checkpoint: Path | None = None
    script: Path | None = None
    max_steps: int | None = None
    max_tool_calls: int | None = None
    max_thinking_tokens: int | None = None
    max_step_tokens: int | None = None
    thinking_tokens: int | None = None
    min_thinking_tokens: int | None = None
    timeout: float | None = None
    final_answer_grace: float | None = None
    max_cost: float | None = None
    context_strategy: str | None = None
    tools: str | None = None
    workspace: Path | None = None
    system_prompt: str | None = None
    shell: bool = False
    yes_shell: bool | None = None
    unsafe_python: bool = False
    python_network: bool = False
    facts_db: Path | None = None
    mcp: list[str] | None = None
    no_mcp: bool = False
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    verify: int | None = None
    heavy: int | None = None
    aggregate: str = "auto"

    def config(self, recorded: AgentConfig | None = None) -> AgentConfig:
        """These options over ``recorded`` (a resumed run's config; None: a new run), with
        the backend resolved. Bad options raise ``UsageError``."""
        if self.heavy is not None and self.heavy < 1:
            raise UsageError(f"--heavy needs N >= 1, not {self.heavy}")
        if self.heavy is not None and recorded is not None:
            raise UsageError("--heavy starts a new group; a resumed group keeps its settings")
        if self.aggregate not in ("auto", "reflect", "vote"):
            raise UsageError(f"--aggregate must be auto, reflect or vote, not "
                             f"{self.aggregate!r}")
        base = recorded or AgentConfig()
        heavy = base.heavy
        if self.heavy is not None:
            heavy = HeavyConfig(of=self.heavy, aggregator=self.aggregate)
            if self.shell and not self.yes_shell:
                raise UsageError("--heavy runs trajectories side by side, so it cannot ask "
                                 "before each shell command: add --yes-shell, or drop --shell")
        budget = replace(base.budget, **{f: getattr(self, flag) for flag, f in
                                         BUDGET_FLAGS.items() if getattr(self, flag) is not None})
        options = base.options
        if recorded is not None and heavy is not None and heavy.index and options.seed is not None:
            options = replace(options, seed=options.seed - heavy.index)  # trajectory k: seed + k
        options = replace(options, **{k: getattr(self, k) for k in (
            "temperature", "top_p", "seed", "min_thinking_tokens") if getattr(self, k) is not None})
        if (options.temperature or 0) < 0 or not 0 < (
                options.top_p if options.top_p is not None else 1) <= 1:
            raise UsageError("--temperature must be >= 0 and --top-p in (0, 1]")
        verify = base.verify if self.verify is None else replace(base.verify, rounds=self.verify)
        if verify.rounds < 0:
            raise UsageError(f"--verify must be 0 or more, not {verify.rounds}")
        context = base.context
        if self.context_strategy is not None:
            if self.context_strategy not in ("hide", "summarize"):
                raise UsageError("--context-strategy must be hide or summarize, not "
                                 f"{self.context_strategy!r}")
            context = Summarize() if self.context_strategy == "summarize" else HideToolOutputs()
        return base.replace(
            backend=self._backend(recorded), budget=budget, options=options, verify=verify,
            context=context, tools=self._tools(recorded), heavy=heavy,
            workspace=self.workspace or base.workspace,
            system_prompt=self.system_prompt or base.system_prompt)

    def _backend(self, recorded: AgentConfig | None) -> BackendSpec:
        from thinkact.backends.factory import resolve

        given = {"model": self.model, "base_url": self.base_url,
                 "api_key_env": self.api_key_env, "checkpoint": self.checkpoint,
                 "script": self.script, "context_window": self.context_window}
        base = recorded.backend if recorded is not None and self.provider is None else (
            BackendSpec(provider=self.provider))
        spec = BackendSpec.parse(base, **{k: v for k, v in given.items() if v is not None})
        try:
            return resolve(spec)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None

    def _tools(self, recorded: AgentConfig | None) -> Any:
        rec = recorded.tools if recorded is not None else None
        names = parse_tools(self.tools, rec.names if rec is not None else None)
        shell = self.shell or (rec is not None and rec.names is not None and "shell" in rec.names)
        if self.yes_shell is not None and not shell:
            flag = "--yes-shell" if self.yes_shell else "--ask-shell"
            raise UsageError(f"{flag} only applies with --shell")
        facts_db = self.facts_db or (Path(rec.facts_db) if rec and rec.facts_db else None)
        if facts_db is not None:
            facts_db = facts_db.expanduser().resolve()
            if names is not None and "facts" not in names:
                names = [*names, "facts"]
        if shell and (names is None or "shell" not in names):
            from thinkact.tools.registry import default_names

            names = [*(default_names(facts_db) if names is None else names), "shell"]
        # --yes-shell/--ask-shell when given, else the recorded choice (a new run: ask), so a
        # resume can turn approval back on and never turns it off unasked
        approval = None if not shell else ("off" if self.yes_shell else "ask") if (
            self.yes_shell is not None) else (rec.shell_approval if rec else None) or "ask"
        servers = select_servers(self.mcp, self.no_mcp, rec.mcp if rec is not None else None)
        return (rec or AgentConfig().tools).model_copy(update={
            "names": names, "facts_db": str(facts_db) if facts_db else None,
            "shell_approval": approval, "mcp": [server_record(s) for s in servers],
            # the code tools unjailed only when given now, never inherited from a record
            "unsafe_python": self.unsafe_python,
            "python_network": self.python_network or bool(rec and rec.python_network)})


class PausingPrompt:
    """Asks ``inner`` with the live view stopped: its redrawing would hide the question.

    ``view`` (anything with ``__enter__``/``__exit__``, e.g. ``LiveView``) is set once the
    view exists; overlapping calls pause it once and resume it after the last answer.
    """

    def __init__(self, inner: ApprovalPolicy) -> None:
        self.inner = inner
        self.view: Any = None
        self._asking = 0

    async def __call__(self, call: ToolCall) -> tuple[bool, str]:
        view = self.view
        if view is None:
            return await self.inner(call)
        self._asking += 1
        if self._asking == 1:
            view.__exit__()
        try:
            return await self.inner(call)
        finally:
            self._asking -= 1
            if self._asking == 0:
                view.__enter__()


def cli_approver(allow_all: bool) -> ApprovalPolicy:
    """The shell tool's approver in the terminal: asks with the live view paused."""
    from thinkact.tools.approval import NO_TTY_REASON, ConsolePrompt, DenyAll, shell_approver

    approver = shell_approver(allow_all, PausingPrompt(ConsolePrompt()))
    if isinstance(approver, DenyAll):  # said now, not at the first refused command: the run
        # can still be restarted right
        print(f"warning: --shell: {NO_TTY_REASON}; until then every shell command is refused",
              file=sys.stderr)
    return approver


def prompt_of(shell: Tool | None) -> PausingPrompt | None:
    """The console prompt behind the shell tool, if any (the run lends it its live view)."""
    approver = getattr(shell, "approver", None)
    return approver if isinstance(approver, PausingPrompt) else None


# --- MCP servers -------------------------------------------------------------------------

_SECRET_FIELDS = ("env", "headers")


def server_record(cfg: MCPServerConfig) -> dict[str, Any]:
    """A server as the trace keeps it: env/headers by key only (their values may be secrets)."""
    rec = {k: v for k, v in asdict(cfg).items() if k not in _SECRET_FIELDS}
    for key in _SECRET_FIELDS:
        rec[f"{key}_keys"] = sorted(getattr(cfg, key) or {})
    return rec


def configured_servers() -> list[MCPServerConfig]:
    """Enabled ``[mcp.servers.*]`` of the config file (relative cwd: from the file's folder)."""
    file_cfg, path = _config_file()
    if "mcp" not in file_cfg:
        return []
    try:
        servers = load_mcp_servers(file_cfg)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    return [resolve_cwd(s, path.parent) for s in servers]


def _server_from_record(rec: dict[str, Any], current: dict[str, MCPServerConfig]
                        ) -> MCPServerConfig:
    known = {f.name for f in fields(MCPServerConfig)}
    cfg = MCPServerConfig(**{k: v for k, v in rec.items() if k in known})
    now = current.get(cfg.name)
    for key in _SECRET_FIELDS:
        wanted = rec.get(f"{key}_keys") or []
        values = dict(getattr(now, key) or {}) if now is not None else {}
        missing = [k for k in wanted if k not in values]
        if missing:
            raise UsageError(f"MCP server {cfg.name!r} of the recorded run used {key} "
                             f"{missing}, which the config file no longer gives it")
        if wanted:
            setattr(cfg, key, {k: values[k] for k in wanted})
    return cfg


def select_servers(only: list[str] | None, no_mcp: bool,
                   recorded: list[dict[str, Any]] | None) -> list[MCPServerConfig]:
    """``--no-mcp``: none; ``--mcp NAME``: those configured; else recorded run's, else all."""
    if no_mcp:
        if only:
            raise UsageError("give --mcp NAME or --no-mcp, not both")
        return []
    if recorded is not None and not only:
        return servers_of(recorded)
    servers = configured_servers()
    if not only:
        return servers
    by_name = {s.name: s for s in servers}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise UsageError(f"no enabled MCP server named {', '.join(map(repr, unknown))} in the "
                         f"config file; configured: {', '.join(by_name) or 'none'}")
    return [by_name[n] for n in dict.fromkeys(only)]


def servers_of(records: list[dict[str, Any]]) -> list[MCPServerConfig]:
    """The servers a config records, their secret values taken from the config file."""
    current = {s.name: s for s in configured_servers()} if records else {}
    return [_server_from_record(r, current) for r in records]
