"""``thinkact ui``: the web trace viewer and playground over the trace database.

Loopback only unless ``--key-env`` names a bearer key (the playground starts runs, which run
code with their tools). The page works offline: every asset ships in the package. The
playground refuses a base URL or a script from its form unless ``--allow-custom-endpoints``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("ui")(ui)


def ui(
    port: Annotated[int, Opt(help="TCP port.")] = 8200,
    host: Annotated[str, Opt(help="Interface to bind.")] = "127.0.0.1",
    trace_db: Annotated[Path | None, Opt(help="Trace database (default "
                                         "$THINKACT_HOME/traces.sqlite).")] = None,
    eval_db: Annotated[Path | None, Opt(help="Eval results database for the evals page "
                                        "(default $THINKACT_HOME/evals.sqlite).")] = None,
    key_env: Annotated[str | None, Opt(help="Require 'Authorization: Bearer KEY', KEY read "
                                       "from this environment variable (needed to bind "
                                       "beyond loopback).")] = None,
    allow_custom_endpoints: Annotated[bool, Opt(
        "--allow-custom-endpoints", help="Let the playground's form set a base URL or a "
                                         "scripted model's file (refused by default: a base URL "
                                         "sends this machine's provider keys wherever the page "
                                         "says).")] = False,
) -> None:
    """Browse recorded runs, follow live ones, compare, and start runs, in a web page."""
    import uvicorn

    from thinkact.cli.common import code_running_access
    from thinkact.paths import default_trace_db
    from thinkact.traces.sqlite import SQLiteTraceStore
    from thinkact.ui import ui_root

    access = code_running_access(host, key_env, "the playground starts runs that run code")
    store = SQLiteTraceStore(trace_db or default_trace_db())
    typer.echo(f"thinkact ui over {store.path} on http://{host}:{port}/ui/")
    try:
        app = ui_root(store, access, eval_db, allow_custom_endpoints)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        store.close()
