"""``thinkact index PATH``: build or update the local search index the ``search`` tool reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("index")(index_command)


def index_command(
    paths: Annotated[list[Path], typer.Argument(help="Folders of documents to index.")],
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Index database (default: $THINKACT_INDEX or user data dir)."),
    ] = None,
) -> None:
    """Index Markdown, text, HTML and PDF files; re-running only re-reads changed files."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from thinkact.tools.builtin.search.index import SearchIndex

    console = Console()
    for path in paths:
        if not path.is_dir():
            console.print(f"[red]error:[/] not a folder: {escape(str(path))}")
            raise typer.Exit(2)
    index = SearchIndex(db)
    try:
        for path in paths:
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[current]}", style="dim"), console=console,
                transient=True,
            ) as progress:
                task = progress.add_task(f"indexing {path}", total=None, current="")

                def report(done: int, total: int, rel: str, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total, current=rel[-60:])

                stats = index.index_folder(path, progress=report)
            console.print(
                f"{path}: added {stats.added}, updated {stats.updated}, removed {stats.removed}, "
                f"unchanged {stats.unchanged} ({stats.passages} passages, "
                f"{len(stats.failed)} failed)",
                soft_wrap=True,
            )
            for rel, why in stats.failed[:20]:
                console.print(f"  [yellow]skipped[/] {escape(str(rel))}: {escape(str(why))}")
        console.print(
            f"index: {index.db_path} ({index.document_count()} documents)", soft_wrap=True
        )
    finally:
        index.close()
