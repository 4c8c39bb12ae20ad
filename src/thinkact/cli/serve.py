"""``thinkact serve-model [CHECKPOINT]``: a local model (default: the bundled one) behind an
OpenAI-compatible server.

torch and the model stack are imported inside the command (the core CLI runs without them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("serve-model")(serve_model)


def serve_model(
    checkpoint: Annotated[Path | None, typer.Argument(
        help="thinkact checkpoint dir (with tokenizer); default: the bundled thinkact-tiny")
    ] = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    name: Annotated[str | None, typer.Option(help="model id (default: directory name)")] = None,
    max_seq_len: Annotated[int | None, typer.Option(help="context window (tokens)")] = None,
    temperature: Annotated[float | None, typer.Option(
        help="default temperature (0 = greedy; default 1, or 0 for the bundled model)")] = None,
    json_guard: Annotated[bool | None, typer.Option(
        help="keep tool-call arguments valid JSON (default: on for the bundled model only)")
    ] = None,
    reuse_prefix: Annotated[bool, typer.Option(help="reuse the KV cache across requests")] = True,
    threads: Annotated[int, typer.Option(help="torch threads (0: leave default)")] = 0,
    key_env: Annotated[str | None, typer.Option(
        help="Require 'Authorization: Bearer KEY', KEY read from this environment variable")
    ] = None,
) -> None:
    """Serve CHECKPOINT at /v1/chat/completions (streaming, reasoning_content, tool_calls)."""
    import uvicorn

    from thinkact.backends.config import ConfigError
    from thinkact.backends.factory import backend as make_backend
    from thinkact.server.openai_app import access_for, create_app

    if checkpoint is not None and not (checkpoint / "config.json").exists():
        raise typer.BadParameter(f"{checkpoint} has no config.json (expected a checkpoint dir)")
    if threads:
        import torch

        torch.set_num_threads(threads)
    given = {"name": name, "max_seq_len": max_seq_len, "temperature": temperature,
             "json_guard": json_guard}
    # Unset options keep the spec's defaults: the bundled model's, or LocalBackend's.
    options = {k: v for k, v in given.items() if v is not None}
    try:
        backend = make_backend("embedded" if checkpoint is None else f"local:{checkpoint}",
                               reuse_prefix=reuse_prefix, **options)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"serving {backend.model_name} (context {backend.context_window}) on "
               f"http://{host}:{port}/v1")
    try:
        access = access_for(host, key_env)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    uvicorn.run(create_app(backend, access=access), host=host, port=port, log_level="warning")
