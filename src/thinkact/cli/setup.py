"""What ``thinkact run`` builds beyond a remote backend: the in-process local model, the
shell/facts tools with their approval choice, and the MCP servers from the config file.

Everything a resume needs is recorded under ``config["setup"]`` of the run (``RunAgent``),
and the local backend's checkpoint under ``config["backend"]``, so ``--resume RUN_ID``
rebuilds the same backend and tool set without repeating options. Secrets stay out of the
trace: MCP servers are recorded without their ``env``/``headers`` values, which a resume
takes again from the config file's server of the same name.

Config file keys (``$THINKACT_CONFIG`` or ``~/.config/thinkact/config.toml``)::

    [providers.tiny]
    provider = "local"              # an in-process checkpoint, not an HTTP endpoint
    checkpoint = "ckpt/tiny"        # relative to the config file's folder
    # optional: model (display name), max_seq_len, temperature, top_p, json_guard
    [mcp.servers.time]
    command = "python"
    args = ["-m", "mcp_server_time"]
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from thinkact.agent import Agent
from thinkact.backends.base import ModelBackend
from thinkact.backends.embedded import EMBEDDED_OPTIONS, embedded_checkpoint
from thinkact.cli.common import UsageError, build_backend, parse_tools
from thinkact.messages import ToolCall
from thinkact.tools.base import Tool
from thinkact.tools.mcp_client import MCPServerConfig, load_mcp_servers, resolve_cwd
from thinkact.tools.toolset import ApprovalPolicy

LOCAL_OPTIONS = {"max_seq_len": int, "temperature": float, "top_p": float, "json_guard": bool}
NO_TTY_REASON = ("shell commands need approval, but no terminal is attached to approve them; "
                 "rerun with --yes-shell to run them without asking")


class RunAgent(Agent):
    """An ``Agent`` whose recorded config also says how the CLI built its tools."""

    def __init__(self, *args: Any, setup: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup = setup

    def config(self) -> dict[str, Any]:
        return {**super().config(), "setup": self.setup}


def _config_file() -> tuple[dict[str, Any], Path]:
    from thinkact.backends.config import ConfigError, config_path, load_config_file

    path = config_path()
    try:
        return load_config_file(path), path
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


# --- backend ---------------------------------------------------------------------------

@dataclass
class LocalConfig:
    """What the trace records about a local backend (enough to load it again)."""

    checkpoint: str
    profile: str
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"provider": "local", "profile": self.profile, "checkpoint": self.checkpoint,
                **self.options}


def build_run_backend(provider: str | None, model: str | None, base_url: str | None,
                      api_key_env: str | None, script: Path | None, checkpoint: Path | None,
                      recorded: dict[str, Any] | None, *, context_window: int | None = None
                      ) -> ModelBackend:
    """The local backend when the provider resolves to ``local`` or ``embedded`` (the default
    when nothing names a provider or an endpoint), else ``build_backend``."""
    rec = dict(recorded or {})
    local = _local_config(provider, checkpoint, rec, remote=base_url is not None)
    if local is None:
        if checkpoint is not None:
            raise UsageError("--checkpoint is only for --provider local")
        return build_backend(provider, model, base_url, api_key_env, script, rec,
                             context_window=context_window)
    if script is not None or base_url is not None:
        raise UsageError(f"--provider {local.profile} runs a checkpoint in this process; "
                         "--script and --base-url do not apply")
    from thinkact.backends.local import LocalBackend

    try:
        backend = LocalBackend.from_checkpoint(local.checkpoint, **local.options)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load checkpoint {local.checkpoint}: {exc}") from None
    setattr(backend, "config", local)  # noqa: B010 - Agent.config() reads backend.config
    return backend


def _local_config(provider: str | None, checkpoint: Path | None,
                  rec: dict[str, Any], remote: bool = False) -> LocalConfig | None:
    file_cfg, path = _config_file()
    if provider is None and rec.get("provider") == "local" and checkpoint is None:
        return LocalConfig(rec["checkpoint"], rec.get("profile", "local"),
                           {k: rec[k] for k in (*LOCAL_OPTIONS, "name") if rec.get(k) is not None})
    name = provider or rec.get("provider") or ("local" if checkpoint is not None else None)
    name = name or os.environ.get("THINKACT_PROVIDER") or file_cfg.get("provider")
    if name is None and not (remote or os.environ.get("THINKACT_BASE_URL")):
        name = "embedded"  # nothing chosen: the bundled model, offline
    section = dict((file_cfg.get("providers") or {}).get(name, {})) if name else {}
    kind = name if name in ("local", "embedded") else (
        section.get("provider") or section.get("preset"))
    if kind not in ("local", "embedded"):
        return None
    section.pop("provider", None)
    section.pop("preset", None)
    unknown = set(section) - {"checkpoint", "model", *LOCAL_OPTIONS}
    if unknown:
        raise UsageError(f"unknown keys in [providers.{name}] of {path} for a local model: "
                         f"{sorted(unknown)}; known: checkpoint, model, "
                         f"{', '.join(LOCAL_OPTIONS)}")
    ckpt: Path | None = checkpoint
    if ckpt is None and section.get("checkpoint"):
        ckpt = path.parent / Path(str(section["checkpoint"])).expanduser()
    if ckpt is None and kind == "embedded":
        ckpt = _embedded_checkpoint()
    if ckpt is None and os.environ.get("THINKACT_CHECKPOINT"):
        ckpt = Path(os.environ["THINKACT_CHECKPOINT"])
    if ckpt is None:
        raise UsageError("--provider local needs --checkpoint DIR (or THINKACT_CHECKPOINT, or "
                         f"checkpoint = ... under [providers.{name}] in {path})")
    ckpt = ckpt.expanduser().resolve()
    if not (ckpt / "config.json").exists():
        raise UsageError(f"{ckpt} is not a checkpoint directory (no config.json)")
    options: dict[str, Any] = dict(EMBEDDED_OPTIONS) if kind == "embedded" else {}
    for key, cast in LOCAL_OPTIONS.items():
        if section.get(key) is not None:
            try:
                options[key] = cast(section[key])
            except (TypeError, ValueError):
                raise UsageError(f"[providers.{name}] {key} must be a {cast.__name__}, got "
                                 f"{section[key]!r}") from None
    if section.get("model"):
        options["name"] = str(section["model"])
    return LocalConfig(str(ckpt), name or "local", options)


def _embedded_checkpoint() -> Path:
    try:
        return embedded_checkpoint()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None


# --- built-in tools ----------------------------------------------------------------------

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


def shell_approver(yes_shell: bool) -> ApprovalPolicy:
    """Ask at the console when a person can answer; refuse (not hang) when nobody can."""
    from thinkact.tools.approval import AllowAll, ConsolePrompt, DenyAll

    if yes_shell:
        return AllowAll()
    if sys.stdin is not None and sys.stdin.isatty():
        return PausingPrompt(ConsolePrompt())
    # said now, not at the first refused command: the run can still be restarted right
    print(f"warning: --shell: {NO_TTY_REASON}; until then every shell command is refused",
          file=sys.stderr)
    return DenyAll(NO_TTY_REASON)


def prompt_of(shell: Tool | None) -> PausingPrompt | None:
    """The console prompt behind the shell tool, if any (the run lends it its live view)."""
    approver = getattr(shell, "approver", None)
    return approver if isinstance(approver, PausingPrompt) else None


@dataclass
class ToolPlan:
    """The run's tools as options and the recorded run decided them (built later)."""

    builtin: list[str] | None  # None: the default set
    shell: bool
    yes_shell: bool
    facts_db: Path | None
    servers: list[MCPServerConfig]
    unsafe_python: bool = False  # the code tools unjailed: only when given, never inherited
    python_network: bool = False

    def record(self) -> dict[str, Any]:
        """``config["setup"]`` of the run: what a resume rebuilds the tools from."""
        return {"builtin_tools": self.builtin, "shell": self.shell,
                "shell_approval": ("off" if self.yes_shell else "ask") if self.shell else None,
                "facts_db": str(self.facts_db) if self.facts_db else None,
                "mcp": [server_record(s) for s in self.servers],
                "unsafe_python": self.unsafe_python, "python_network": self.python_network}

    def build_builtin(self, workspace: Path) -> list[Tool]:
        """Built-in tools by name, plus shell/facts when asked for (MCP tools come later)."""
        from thinkact.tools.registry import build_tools

        wanted = None if self.builtin is None else list(self.builtin)
        if wanted is not None and self.facts_db is not None and "facts" not in wanted:
            wanted.append("facts")
        if wanted == [] and not self.shell:
            return []
        from thinkact.sandbox import SandboxUnavailable, check_available

        try:  # --yes-shell: the approver is AllowAll (registry's ``shell`` keyword is the flag)
            tools = build_tools(wanted if wanted != [] else ["shell"], workspace=workspace,
                                facts_db=self.facts_db, shell=self.shell,
                                approver=shell_approver(self.yes_shell) if self.shell else None,
                                unsafe=self.unsafe_python, network=self.python_network)
            if not self.unsafe_python and {"python", "shell"} & {t.spec.name for t in tools}:
                check_available(self.python_network)  # refuse now, not at the first call
        except (ValueError, SandboxUnavailable) as exc:
            raise UsageError(str(exc)) from None
        return tools


def plan_tools(o: dict[str, Any], recorded: dict[str, Any]) -> ToolPlan:
    """Options given now win; otherwise what the resumed run recorded (``{}``: a new run)."""
    rec = recorded.get("setup")
    if rec is None:  # a run recorded before the setup block: only built-in names
        rec = {"builtin_tools": recorded.get("tools")} if recorded else {}
    shell = o["shell"] or bool(rec.get("shell"))
    if o["yes_shell"] is not None and not shell:
        flag = "--yes-shell" if o["yes_shell"] else "--ask-shell"
        raise UsageError(f"{flag} only applies with --shell")
    facts_db = o["facts_db"] or (Path(rec["facts_db"]) if rec.get("facts_db") else None)
    return ToolPlan(
        builtin=parse_tools(o["tools"], rec.get("builtin_tools")), shell=shell,
        yes_shell=_yes_shell(o["yes_shell"], rec),
        facts_db=facts_db.expanduser().resolve() if facts_db is not None else None,
        servers=select_servers(o["mcp"], o["no_mcp"], rec.get("mcp")),
        unsafe_python=bool(o.get("unsafe_python")),
        python_network=bool(o.get("python_network") or rec.get("python_network")))


def _yes_shell(given: bool | None, rec: dict[str, Any]) -> bool:
    """``--yes-shell``/``--ask-shell`` when given, else the recorded run's choice (a new run:
    ask). So a resume can turn approval back on, and never turns it off unasked."""
    return given if given is not None else rec.get("shell_approval") == "off"


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
        current = {s.name: s for s in configured_servers()} if recorded else {}
        return [_server_from_record(r, current) for r in recorded]
    servers = configured_servers()
    if not only:
        return servers
    by_name = {s.name: s for s in servers}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise UsageError(f"no enabled MCP server named {', '.join(map(repr, unknown))} in the "
                         f"config file; configured: {', '.join(by_name) or 'none'}")
    return [by_name[n] for n in dict.fromkeys(only)]
