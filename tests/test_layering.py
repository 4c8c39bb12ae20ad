"""Arrows point inward: what talks to a model (``backends``, ``chat_format``) imports only the
core (``messages``, ``events``, ``token_estimate``, ``untrusted``, ``paths``), the model stack
and itself, never the tools, the loop or anything that drives it. Read from the source, so an
import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import thinkact

PACKAGE = Path(thinkact.__file__).parent
INNER = ("backends", "chat_format")
# Layers outside the model-talking ones; none of them may be imported from INNER.
OUTER = ("agent", "cli", "eval", "otel", "recipes", "sandbox", "server", "tools", "traces",
         "train", "ui")


def imported_modules(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in ``path`` (a module of the package at
    ``root``), relative ones resolved."""
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from thinkact import tools` imports a subpackage by name.
            names = [f"{base}.{a.name}" for a in node.names] if base == "thinkact" else [base]
            found += [(node.lineno, name) for name in names]
    return sorted(found)


def violations(root: Path, layer: str) -> list[str]:
    bad = []
    for path in sorted((root / layer).rglob("*.py")):
        for line, module in imported_modules(root, path):
            parts = module.split(".")
            if parts[0] == "thinkact" and len(parts) > 1 and parts[1] in OUTER:
                bad.append(f"{path.relative_to(root)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", INNER)
def test_model_talking_layers_import_no_outer_layer(layer: str) -> None:
    assert violations(PACKAGE, layer) == []


def test_the_check_sees_every_import_form(tmp_path: Path) -> None:
    root = tmp_path / "thinkact"
    (root / "backends").mkdir(parents=True)
    (root / "backends" / "probe.py").write_text(
        "from thinkact.tools.base import Tool\n"
        "def f():\n    import thinkact.agent.loop\n"
        "from thinkact import traces, messages\n"
        "from ..cli import main\n"
        "from . import wire\n"
        "from thinkact.messages import ToolSpec\n")
    assert violations(root, "backends") == [
        "backends/probe.py:1 imports thinkact.tools.base",
        "backends/probe.py:3 imports thinkact.agent.loop",
        "backends/probe.py:4 imports thinkact.traces",
        "backends/probe.py:5 imports thinkact.cli",
    ]
