"""``thinkact serve``: the agent itself behind an OpenAI-compatible server.

Any OpenAI client (or chat UI) sends a conversation; the server runs the agent on it with
its own tools (one recorded run per request, its own workspace) and streams the run's
reasoning as ``reasoning_content`` and the final answer as ``content``
(``thinkact.server.agent_backend``). Model, tools and budgets are chosen as for
``thinkact run``. MCP servers and the shell tool are not offered here: nobody is at a
terminal to approve commands, and one MCP connection per request would be slow.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from thinkact.cli.common import UsageError, code_running_access, otel_export

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("serve")(serve_agent)


def serve_agent(
    recipe: Annotated[str | None, Opt(help="A recipe (reasoning, search, coding, writing or "
                                      "a .toml) for every request, as for 'run'.")] = None,
    provider: Annotated[str | None, Opt(help="The model the agent uses, as for 'run'.")] = None,
    model: Annotated[str | None, Opt(help="Model name at the provider.")] = None,
    base_url: Annotated[str | None, Opt(help="OpenAI-compatible endpoint URL.")] = None,
    context_window: Annotated[int | None, Opt(help="The server's context window, as for "
                                              "'run'.")] = None,
    api_key_env: Annotated[str | None, Opt(help="Read the API key from this variable.")
                           ] = None,
    checkpoint: Annotated[Path | None, Opt(help="Checkpoint for --provider local.")] = None,
    tools: Annotated[str | None, Opt(help="Comma list of built-in tools (python, files, "
                                     "facts, search, browse) or 'none'.")] = None,
    facts_db: Annotated[Path | None, Opt(help="Add the facts tool over this database.")
                        ] = None,
    max_steps: Annotated[int | None, Opt(help="Steps per request.")] = None,
    max_tool_calls: Annotated[int | None, Opt(help="Tool calls per request.")] = None,
    timeout: Annotated[float | None, Opt(help="Wall-clock deadline per request (s).")] = None,
    verify: Annotated[int | None, Opt(help="Answers checked before one is final.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature, as for 'run'.")
                           ] = None,
    top_p: Annotated[float | None, Opt(help="Nucleus sampling top-p.")] = None,
    system_prompt: Annotated[str | None, Opt(help="System prompt (when the request has "
                                             "none).")] = None,
    heavy: Annotated[int | None, Opt(help="Answer each request in heavy mode: N "
                                     "trajectories, then one aggregated answer.")] = None,
    aggregate: Annotated[str, Opt(help="reflect, vote or auto, as for 'run'.")] = "auto",
    trace_db: Annotated[Path | None, Opt(help="Trace database.")] = None,
    name: Annotated[str, Opt(help="Model id the server reports.")] = "thinkact-agent",
    host: Annotated[str, Opt(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="TCP port.")] = 8100,
    key_env: Annotated[str | None, Opt(help="Require 'Authorization: Bearer KEY', KEY read "
                                       "from this environment variable (needed to bind "
                                       "beyond loopback).")] = None,
    otel_endpoint: Annotated[str | None, Opt(envvar="THINKACT_OTEL_ENDPOINT", help="Export "
                                             "each request's run as spans over OTLP/HTTP.")
                             ] = None,
    otel_content: Annotated[bool, Opt("--otel-content", help="Include messages, reasoning "
                                      "and tool input/output in the spans.")] = False,
    script: Annotated[Path | None, Opt(hidden=True, help="For tests: JSON turns replayed "
                                       "by --provider scripted.")] = None,
) -> None:
    """Serve the agent (model + tools) at /v1/chat/completions."""
    import uvicorn

    from thinkact.agent import Reflect, Vote
    from thinkact.cli.run import Launch
    from thinkact.cli.setup import RunFlags
    from thinkact.paths import default_trace_db
    from thinkact.recipes import apply_recipe
    from thinkact.server.agent_backend import AgentBackend
    from thinkact.server.openai_app import create_app
    from thinkact.traces.sqlite import SQLiteTraceStore
    from thinkact.ui import create_ui_app

    flags = RunFlags(
        provider=provider, model=model, base_url=base_url, context_window=context_window,
        api_key_env=api_key_env, checkpoint=checkpoint, script=script, tools=tools,
        facts_db=facts_db,
        max_steps=max_steps, max_tool_calls=max_tool_calls, timeout=timeout, verify=verify,
        temperature=temperature, top_p=top_p, system_prompt=system_prompt, heavy=heavy,
        aggregate=aggregate, no_mcp=True)
    err = Console(stderr=True)
    try:
        flags = replace(flags, **apply_recipe(vars(flags), recipe))  # explicit flags win
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    access = code_running_access(host, key_env, "the served agent runs code with its tools")
    store = SQLiteTraceStore(trace_db or default_trace_db())
    exporting = otel_export(store, otel_endpoint, otel_content)
    try:
        launch = Launch.of(store, None, flags)
    except UsageError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        store.close()
        raise typer.Exit(2) from None
    h = launch.config.heavy
    (_, checked), = launch.built.items()  # built to check the options
    launch.built.clear()
    backend = launch.backend
    if h is not None and hasattr(backend, "max_sessions"):  # a local model: cache per trajectory
        backend.max_sessions = max(backend.max_sessions, h.of)
    asyncio.run(checked.aclose())
    served = AgentBackend(launch.agent, name, backend.context_window,
                          heavy=h.of if h else None,
                          aggregator=(Vote() if h.aggregator == "vote" else Reflect())
                          if h else None)
    typer.echo(f"serving the agent ({backend.model_name}, tools: "
               f"{', '.join(checked.toolset.names) or 'none'}) as {name!r} on "
               f"http://{host}:{port}/v1")
    app = create_app(served, access=access)
    app.mount("/ui", create_ui_app(store, access))  # the runs it serves, live
    typer.echo(f"web UI: http://{host}:{port}/ui/")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()
        if exporting is not None:
            exporting.close()
