"""``thinkact run "TASK"``: run the agent with a live view (or ``--json`` JSONL), recording
every event in the trace database; ``--resume RUN_ID`` continues a killed or stopped run from
its last complete step, rebuilding backend, tools, budget and workspace from the config
its latest segment recorded (options given again override it, and stay for later resumes).

Beyond the remote providers: ``--provider local --checkpoint DIR`` runs a checkpoint in this
process; ``--shell`` adds the shell tool (each command approved at the console unless
``--yes-shell``; refused when no terminal can answer; ``--ask-shell`` turns approval back on
when resuming a ``--yes-shell`` run); ``--facts-db FILE`` adds the facts tool;
MCP servers of the config file are connected for the run (``--mcp NAME`` picks some,
``--no-mcp`` none) and closed at its end. See ``thinkact.cli.setup``.

Exit status: 0 completed, 1 failed or stopped (budget, Ctrl-C, SIGTERM), 2 bad usage (or an
MCP server that cannot start).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from thinkact.agent.agent import Agent, new_run_id
from thinkact.agent.config import AgentConfig
from thinkact.backends.base import ModelBackend
from thinkact.backends.config import ConfigError
from thinkact.backends.embedded import EMBEDDED_NAME
from thinkact.backends.factory import build
from thinkact.cli.common import UsageError, interrupted_end, otel_export
from thinkact.cli.run_heavy import drive_heavy, heavy_group_of, heavy_settings
from thinkact.cli.setup import RunFlags, cli_approver, prompt_of, servers_of
from thinkact.cli.view import LiveView, ReasoningMode
from thinkact.events import EVENT_ADAPTER, Event, RunFinished, RunStarted
from thinkact.paths import default_trace_db
from thinkact.recipes import apply_recipe
from thinkact.sandbox import SandboxUnavailable
from thinkact.tools.base import Tool
from thinkact.traces.sqlite import SQLiteTraceStore

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("run")(run_command)


def run_command(
    task: Annotated[str | None, typer.Argument(help="What the agent should do.")] = None,
    resume: Annotated[str | None, Opt("--resume", help="Continue this run (id, prefix or "
                                      "'latest') from its last complete step.")] = None,
    recipe: Annotated[str | None, Opt("--recipe", help="reasoning, search, coding, writing "
                                      "or a recipe .toml: its tools, prompt, budgets, verify "
                                      "and context strategy, unless given as options "
                                      "(`thinkact recipes`).")] = None,
    provider: Annotated[str | None, Opt(help="moonshot, openai, vllm, sglang, ollama, "
                                        "openrouter, deepseek, custom, or a configured name.")
                        ] = None,
    model: Annotated[str | None, Opt(help="Model name at the provider.")] = None,
    base_url: Annotated[str | None, Opt(help="OpenAI-compatible endpoint URL.")] = None,
    context_window: Annotated[int | None, Opt(help="The server's context window in tokens "
                                              "(default: what the server says, else the "
                                              "preset's).")] = None,
    api_key_env: Annotated[str | None, Opt(help="Read the API key from this environment "
                                           "variable.")] = None,
    max_steps: Annotated[int | None, Opt(help="Stop after this many steps.")] = None,
    max_tool_calls: Annotated[int | None, Opt(help="Stop after this many tool calls.")] = None,
    max_thinking_tokens: Annotated[int | None, Opt(help="Reasoning tokens for the whole "
                                                   "run.")] = None,
    max_step_tokens: Annotated[int | None, Opt(help="max_tokens of each model call.")] = None,
    thinking_tokens: Annotated[int | None, Opt(help="Reasoning tokens per step: a local "
                                               "model's thinking is closed there and it goes "
                                               "on to answer; remote: max_tokens and the "
                                               "provider's reasoning setting.")] = None,
    min_thinking_tokens: Annotated[int | None, Opt(help="Local models: an end of thinking "
                                                   "before this many tokens becomes 'Wait' "
                                                   "(at most twice a step).")] = None,
    timeout: Annotated[float | None, Opt(help="Wall-clock budget in seconds: a deadline "
                                          "that cuts off a model or tool call still "
                                          "running.")] = None,
    final_answer_grace: Annotated[float | None, Opt(help="Seconds past --timeout for the "
                                                    "best-final-answer call (default 30; 0: "
                                                    "none).")] = None,
    max_cost: Annotated[float | None, Opt(help="Cost budget in USD.")] = None,
    context_strategy: Annotated[str | None, Opt(help="hide (tool outputs) or summarize.")
                                ] = None,
    tools: Annotated[str | None, Opt(help="Comma list of built-in tools (python, files, "
                                     "facts, search, browse) or 'none'.")] = None,
    workspace: Annotated[Path | None, Opt(help="Tool working directory (default: a fresh "
                                          "one per run under the data dir).")] = None,
    trace_db: Annotated[Path | None, Opt(help="Trace database (default "
                                         "$THINKACT_HOME/traces.sqlite).")] = None,
    system_prompt: Annotated[str | None, Opt(help="System prompt.")] = None,
    json_out: Annotated[bool, Opt("--json", help="Print the JSONL event stream instead of "
                                  "the live view.")] = False,
    show_reasoning: Annotated[str, Opt(help="collapsed, full or hidden.")] = "collapsed",
    checkpoint: Annotated[Path | None, Opt(help="Checkpoint directory for --provider local "
                                           "(in-process model).")] = None,
    shell: Annotated[bool, Opt("--shell", help="Add the shell tool; each command asks for "
                               "approval at the console.")] = False,
    yes_shell: Annotated[bool | None, Opt("--yes-shell/--ask-shell", help="Run shell "
                                          "commands WITHOUT asking for approval (explicit "
                                          "opt-out), or ask for each (the default); a resume "
                                          "keeps the run's last choice unless given.")
                         ] = None,
    unsafe_python: Annotated[bool, Opt("--unsafe-python", help="Run the python and shell "
                                       "tools WITHOUT the bubblewrap jail (where it cannot "
                                       "start); recorded in the trace.")] = False,
    python_network: Annotated[bool, Opt("--python-network", help="Let the python and shell "
                                        "tools' jail use the network.")] = False,
    facts_db: Annotated[Path | None, Opt(help="Add the facts tool over this SQLite "
                                         "database.")] = None,
    mcp: Annotated[list[str] | None, Opt("--mcp", help="Connect only this configured MCP "
                                         "server (repeatable).")] = None,
    no_mcp: Annotated[bool, Opt("--no-mcp", help="Connect no MCP servers.")] = False,
    temperature: Annotated[float | None, Opt(help="Sampling temperature (default: the "
                                             "provider's; 1.0 for thinking models, 0 for "
                                             "the bundled one).")] = None,
    top_p: Annotated[float | None, Opt(help="Nucleus sampling top-p.")] = None,
    seed: Annotated[int | None, Opt(help="Sampling seed (heavy mode: trajectory k gets "
                                      "seed + k).")] = None,
    verify: Annotated[int | None, Opt(help="Check up to N answers before accepting one: the "
                                      "model confirms it or finds the problem and keeps "
                                      "working (default 0: the first answer is final).")
                      ] = None,
    heavy: Annotated[int | None, Opt(help="Heavy mode: N trajectories in parallel, each with "
                                     "its own tools and workspace, then one aggregated "
                                     "answer (K2 Thinking uses 8).")] = None,
    aggregate: Annotated[str, Opt(help="How --heavy combines the trajectories: reflect (the "
                                  "model weighs their answers and evidence), vote (the most "
                                  "common answer), or auto: vote for the bundled model, "
                                  "which was not trained to aggregate; reflect otherwise.")
                         ] = "auto",
    otel_endpoint: Annotated[str | None, Opt(envvar="THINKACT_OTEL_ENDPOINT", help="Export "
                                             "spans over OTLP/HTTP to this URL (e.g. Phoenix "
                                             "at http://localhost:6006/v1/traces).")] = None,
    otel_content: Annotated[bool, Opt("--otel-content", help="Include messages, reasoning "
                                      "and tool input/output in the spans.")] = False,
    script: Annotated[Path | None, Opt(hidden=True, help="For tests: JSON turns replayed "
                                       "by --provider scripted.")] = None,
) -> None:
    """Run an agent on TASK (or --resume a recorded run)."""
    flags = RunFlags(
        provider=provider, model=model, base_url=base_url, context_window=context_window,
        api_key_env=api_key_env, checkpoint=checkpoint, script=script, max_steps=max_steps,
        max_tool_calls=max_tool_calls, max_thinking_tokens=max_thinking_tokens,
        thinking_tokens=thinking_tokens, min_thinking_tokens=min_thinking_tokens,
        max_step_tokens=max_step_tokens, timeout=timeout,
        final_answer_grace=final_answer_grace, max_cost=max_cost,
        context_strategy=context_strategy, tools=tools, workspace=workspace,
        system_prompt=system_prompt, shell=shell, yes_shell=yes_shell,
        unsafe_python=unsafe_python, python_network=python_network, facts_db=facts_db,
        mcp=mcp, no_mcp=no_mcp, temperature=temperature, top_p=top_p, seed=seed,
        verify=verify, heavy=heavy, aggregate=aggregate)
    err = Console(stderr=True)
    if show_reasoning not in ("collapsed", "full", "hidden"):
        _usage(err, f"--show-reasoning must be collapsed, full or hidden, not {show_reasoning!r}")
    if (task is None) == (resume is None):
        _usage(err, "give a TASK, or --resume RUN_ID (not both)")
    if recipe is not None and resume is not None:
        _usage(err, "--recipe starts a new run; a resumed run keeps its recorded settings")
    try:
        flags = replace(flags, **apply_recipe(vars(flags), recipe))  # explicit flags win
    except ValueError as exc:
        _usage(err, str(exc))
    store = SQLiteTraceStore(trace_db or default_trace_db())
    exporting = otel_export(store, otel_endpoint, otel_content)
    try:
        try:
            launch = Launch.of(store, resume, flags)
        except UsageError as exc:
            _usage(err, str(exc))
        try:
            code = asyncio.run(_main(launch, task if resume is None else None, json_out,
                                     show_reasoning))  # type: ignore[arg-type]
        except KeyboardInterrupt:  # before the run started (e.g. while MCP servers start)
            code = 1
    finally:
        store.close()
        if exporting is not None:
            exporting.close()
    raise typer.Exit(code)


def _usage(err: Console, message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")  # messages may hold [brackets]
    raise typer.Exit(2)


@dataclass
class Launch:
    """A run (or heavy group, ``config.heavy``) ready to start or resume: its id, its
    config, the backend its agents share, and where its runs' workspaces are."""

    store: SQLiteTraceStore
    run_id: str
    config: AgentConfig
    backend: ModelBackend
    given_workspace: Path | None  # --workspace given now
    recorded_id: str | None = None  # the run whose record ``config`` came from (a resume)
    built: dict[str, Agent] = field(default_factory=dict)

    @classmethod
    def of(cls, store: SQLiteTraceStore, resume: str | None, flags: RunFlags) -> Launch:
        """The options over the resumed run's recorded config (a new run: the defaults);
        the backend is built and the first run's tools checked here, as usage errors."""
        recorded, recorded_id = None, None
        if resume is not None:
            run_id, group = _resumable(store, resume)
            # the latest segment's config: what a resume changed stays changed
            recorded_id = f"{run_id}.1" if group else run_id
            recorded = AgentConfig.from_record(store.load_state(recorded_id).config)
        else:
            run_id = new_run_id()
        config = flags.config(recorded)
        try:
            backend = build(config.backend)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if config.heavy is not None and config.heavy.aggregator == "auto":
            auto = "vote" if backend.model_name == EMBEDDED_NAME else "reflect"
            config = config.replace(heavy=config.heavy.model_copy(update={"aggregator": auto}))
        launch = cls(store, run_id, config, backend, flags.workspace, recorded_id)
        first = f"{run_id}.1" if config.heavy is not None else run_id
        launch.built[first] = launch.agent(first)  # bad tool options fail here
        return launch

    def agent(self, rid: str, shared: Sequence[Tool] = ()) -> Agent:
        """The agent of run ``rid``: its own tools in its own workspace (a heavy group's
        trajectories get ``--workspace``/k, or their recorded or default one), plus the
        ``shared`` ones (one connection per MCP server for a whole group)."""
        if rid in self.built:
            agent = self.built.pop(rid)
            for tool in shared:
                agent.toolset.add(tool)
            return agent
        config = self.config
        if config.heavy is not None:
            own = None  # the workspace its latest segment recorded; a new run has none
            if rid == self.recorded_id:
                own = config.workspace
            elif self.recorded_id is not None:  # another trajectory of a resumed group
                with contextlib.suppress(KeyError):
                    own = self.store.load_state(rid).config.get("workspace")
            given = self.given_workspace
            config = config.replace(workspace=given / rid.rsplit(".", 1)[-1]
                                    if given is not None else own)
        names = config.tools.names or []
        approver = cli_approver(config.tools.shell_approval == "off") if "shell" in names else None
        try:
            return config.build(run_id=rid, backend=self.backend, trace=self.store,
                                tools=list(shared), approver=approver)
        except (ValueError, SandboxUnavailable) as exc:
            raise UsageError(str(exc)) from None


def _resumable(store: SQLiteTraceStore, ref: str) -> tuple[str, dict[str, Any] | None]:
    """The run (or heavy group) ``--resume ref`` continues, with the group's settings."""
    group = heavy_group_of(store, ref)
    if group is not None:
        with contextlib.suppress(KeyError):
            if store.load_state(group).finished:
                raise UsageError(f"heavy run {group} already completed; nothing to resume")
        members = [r.run_id for r in store.list_runs(10_000)
                   if r.run_id == group or r.run_id.startswith(group + ".")]
        for rid in members:
            if store.writer_alive(rid):
                raise UsageError(f"run {rid} is still running (pid "
                                 f"{store.run_info(rid)['pid']}); stop it before resuming")
        return group, heavy_settings(store, group)
    try:
        run_id = store.resolve_run_id(ref)
    except KeyError:
        raise UsageError(f"no run {ref!r} in {store.path}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if store.writer_alive(run_id):
        raise UsageError(f"run {run_id} is still running (pid "
                         f"{store.run_info(run_id)['pid']}); stop it before resuming")
    if store.load_state(run_id).finished:
        raise UsageError(f"run {run_id} already completed; nothing to resume")
    return run_id, None


def _json_sink(event: Event) -> None:
    sys.stdout.write(EVENT_ADAPTER.dump_json(event).decode() + "\n")
    sys.stdout.flush()


async def _main(launch: Launch, task: str | None, json_out: bool,
                show_reasoning: ReasoningMode) -> int:
    """Connect the MCP servers, run, and close tools, servers and backend whatever happens."""
    mcp = None
    agent = None
    store = launch.store
    try:
        servers = servers_of(launch.config.tools.mcp)
        if servers:
            from thinkact.tools.mcp_client import connect_mcp

            try:
                mcp = await connect_mcp(servers)
            except (ConnectionError, ValueError) as exc:
                Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}",
                                           highlight=False)
                return 2
        shared = mcp.tools if mcp is not None else []
        heavy = launch.config.heavy
        if heavy is not None:
            from thinkact.agent.heavy import Heavy, Reflect, Vote

            group = launch.run_id
            if hasattr(launch.backend, "max_sessions"):  # a local model: a cache per trajectory
                launch.backend.max_sessions = max(launch.backend.max_sessions, heavy.of)
            runner = Heavy(lambda k: launch.agent(f"{group}.{k}", shared), n=heavy.of,
                           aggregator=Vote() if heavy.aggregator == "vote" else Reflect())
            return await drive_heavy(runner, store, group, task, json_out, show_reasoning)
        agent = launch.agent(launch.run_id, shared)
        sink = _json_sink if json_out else None
        return await _drive(agent, store, launch.run_id, task, sink, show_reasoning)
    finally:
        if agent is not None:
            await agent.aclose()
        for unused in launch.built.values():  # built to check the options, never run
            await unused.aclose()
        if mcp is not None:
            await mcp.aclose()
        closer = getattr(launch.backend, "aclose", None)
        if closer is not None:
            await closer()


async def _drive(agent: Agent, store: SQLiteTraceStore, run_id: str, task: str | None,
                 sink: Callable[[Event], None] | None, show_reasoning: ReasoningMode) -> int:
    """Consume the run's events; on cancellation (Ctrl-C, SIGTERM) record a stopped end."""
    me = asyncio.current_task()
    assert me is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, me.cancel)
    view = LiveView(Console(), show_reasoning=show_reasoning) if sink is None else None
    prompt = prompt_of(agent.toolset.get("shell"))
    if prompt is not None:
        prompt.view = view
    emit = sink or (view.handle if view is not None else _json_sink)
    run = agent.start(task, run_id=run_id) if task is not None else agent.resume(run_id)
    stream: AsyncIterator[Event] = run.events()
    started, status = time.monotonic(), None
    try:
        if view is not None:
            view.__enter__()
        try:
            async for event in stream:
                emit(event)
                if isinstance(event, RunStarted):
                    started = time.monotonic()
                if isinstance(event, RunFinished):
                    status = event.status
        except (asyncio.CancelledError, KeyboardInterrupt, BrokenPipeError) as exc:
            if isinstance(exc, BrokenPipeError):  # `thinkact run --json | head`: reader left
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
            stop = interrupted_end(store, run_id, started) if status is None else None
            if stop is not None:
                store.append(run_id, stop)
                with contextlib.suppress(BrokenPipeError):
                    emit(stop)
                status = stop.status
    finally:
        if view is not None:
            view.__exit__()
        loop.remove_signal_handler(signal.SIGTERM)
    return 0 if status == "completed" else 1
