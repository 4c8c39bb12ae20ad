"""``thinkact recipes``: list the shipped recipes, one line each; ``recipes show NAME``
prints one recipe's TOML (to copy, change, and pass to ``run --recipe FILE.toml``)."""

from __future__ import annotations

from typing import Annotated

import typer

recipes_app = typer.Typer(invoke_without_command=True,
                          help="List the recipes (agent configurations per kind of task).")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(recipes_app, name="recipes")


@recipes_app.callback()
def list_recipes(ctx: typer.Context) -> None:
    """One line per recipe: name, tools, verify rounds, context strategy, what it is for."""
    if ctx.invoked_subcommand is not None:
        return
    from thinkact.recipes import load_recipe, recipe_names

    for name in recipe_names():
        typer.echo(load_recipe(name).line())


@recipes_app.command("show")
def show_recipe(name: Annotated[str, typer.Argument(help="Recipe name or .toml file.")]) -> None:
    """Print a recipe's TOML."""
    from thinkact.recipes import load_recipe, recipe_text

    try:
        load_recipe(name)  # a broken file is reported, not printed as if it were usable
        typer.echo(recipe_text(name), nl=False)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
