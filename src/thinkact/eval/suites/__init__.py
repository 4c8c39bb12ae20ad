"""Built-in suites by name, plus user JSONL files. Each suite module has
``load(options: dict[str, str]) -> Suite``; its heavy imports happen inside ``load``."""

from __future__ import annotations

import importlib
from pathlib import Path

from thinkact.eval.suite import Suite

SUITES = {
    "tiny": "thinkact.eval.suites.tiny",
    "world": "thinkact.eval.suites.world",
    "reasoning": "thinkact.eval.suites.reasoning",
    "humaneval": "thinkact.eval.suites.humaneval",
    "bfcl": "thinkact.eval.suites.bfcl",
    "docsearch": "thinkact.eval.suites.docsearch",
    "docwriting": "thinkact.eval.suites.docwriting",
    "agentdojo": "thinkact.eval.suites.agentdojo",
}


def load_suite(ref: str, options: dict[str, str] | None = None, *,
               unsafe_python: bool = False) -> Suite:
    """A suite by name, or a ``.jsonl`` file of items; ``ValueError`` names what is wrong.
    ``unsafe_python`` (the eval's ``--unsafe-python``) goes to a suite that runs code of its
    own: it may then run it unjailed where no jail starts."""
    options = dict(options or {})
    if ref.endswith(".jsonl") or Path(ref).is_file():
        from thinkact.eval.suites.jsonl import JsonlSuite

        if options:
            raise ValueError(f"a JSONL suite takes no suite options (got {sorted(options)})")
        return JsonlSuite.from_file(Path(ref))
    if ref not in SUITES:
        raise ValueError(f"unknown suite {ref!r}: use {', '.join(SUITES)} or a .jsonl file")
    module = importlib.import_module(SUITES[ref])
    suite: Suite = module.load(options)
    if hasattr(suite, "unsafe_python"):
        suite.unsafe_python = unsafe_python
    return suite
