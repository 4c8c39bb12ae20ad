"""``thinkact serve-model CHECKPOINT``: a local model behind an OpenAI-compatible server.

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
    checkpoint: Annotated[Path, typer.Argument(help="thinkact checkpoint dir (with tokenizer)")],
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    name: Annotated[str | None, typer.Option(help="model id (default: directory name)")] = None,
    max_seq_len: Annotated[int | None, typer.Option(help="context window (tokens)")] = None,
    temperature: Annotated[float, typer.Option(help="default temperature (0 = greedy)")] = 1.0,
    json_guard: Annotated[bool, typer.Option(help="keep tool-call arguments valid JSON")] = False,
    reuse_prefix: Annotated[bool, typer.Option(help="reuse the KV cache across requests")] = True,
    threads: Annotated[int, typer.Option(help="torch threads (0: leave default)")] = 0,
) -> None:
    """Serve CHECKPOINT at /v1/chat/completions (streaming, reasoning_content, tool_calls)."""
    import uvicorn

    from thinkact.backends.local import LocalBackend
    from thinkact.server.openai_app import create_app

    if not (checkpoint / "config.json").exists():
        raise typer.BadParameter(f"{checkpoint} has no config.json (expected a checkpoint dir)")
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        backend = LocalBackend.from_checkpoint(
            checkpoint, max_seq_len=max_seq_len, temperature=temperature,
            json_guard=json_guard, reuse_prefix=reuse_prefix,
            **({"name": name} if name else {}))
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"serving {backend.model_name} (context {backend.context_window}) on "
               f"http://{host}:{port}/v1")
    uvicorn.run(create_app(backend), host=host, port=port, log_level="warning")
