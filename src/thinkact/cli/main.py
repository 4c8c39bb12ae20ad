"""The ``thinkact`` command. Each area registers its own commands from a small module.

Sub-modules must not import torch at import time (the core runs without the model stack):
import it inside the command function.
"""

from __future__ import annotations

import typer

from thinkact.cli import eval, index, model, run, serve, serve_agent, trace, ui

app = typer.Typer(
    name="thinkact",
    help="A thinking model that thinks while it acts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (run, eval, trace, index, model, serve, serve_agent, ui):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
