"""The ``thinkact`` command. Each area registers its own commands from a small module.

Sub-modules must not import torch at import time (the core runs without the model stack):
import it inside the command function.
"""

from __future__ import annotations

import typer

from thinkact.cli import eval, index, model, recipes, run, serve, serve_agent, trace, ui

app = typer.Typer(
    name="thinkact",
    help="A thinking model that thinks while it acts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        from thinkact import __version__

        typer.echo(f"thinkact {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                          help="Print the version and exit.")) -> None:
    """A thinking model that thinks while it acts."""


for _module in (run, eval, recipes, trace, index, model, serve, serve_agent, ui):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
