"""The bundled model: ``thinkact-tiny``, a K2-architecture thinking model trained by us.

It ships inside the package (``thinkact/assets/thinkact-tiny``), so ``thinkact run`` works
offline with no configuration: it is the provider used when none is chosen. It was trained
(``thinkact model train``) on synthetic tasks that one ``python`` call answers: arithmetic,
counting, lengths, sorting, sums, reversals. It is a demonstration of the whole stack at
a size that runs anywhere, not a general assistant. A run of it that names no tools gets the
bundled world's (``thinkact.tools.world.with_embedded_tools``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thinkact.backends.spec import BackendSpec

EMBEDDED_NAME = "thinkact-tiny"
EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "assets" / EMBEDDED_NAME
# Greedy decoding (the tiny model is most reliable at its mode) and the JSON guard, which keeps
# tool-call arguments valid JSON token by token.
# What the bundled model can do, said in the first line of every run it serves.
EMBEDDED_TRADE = "bundled demo: one-step arithmetic and text puzzles via python"
EMBEDDED_OPTIONS: dict[str, Any] = {"temperature": 0.0, "json_guard": True,
                                    "name": EMBEDDED_NAME}


def embedded_checkpoint() -> Path:
    """Where the bundled checkpoint lies; a clear error when the install lacks it."""
    if not (EMBEDDED_DIR / "config.json").exists():
        raise FileNotFoundError(
            f"the bundled model is missing ({EMBEDDED_DIR} has no config.json); reinstall "
            "thinkact, or choose a model with --provider (see README, 'Choosing a model')")
    return EMBEDDED_DIR


def embedded_backend(**overrides: Any) -> Any:
    """The bundled model as a ``LocalBackend`` (what the CLI uses when no provider is
    chosen); ``overrides``: LocalBackend options such as ``temperature``. Loads torch."""
    from thinkact.backends.local import LocalBackend

    return LocalBackend.from_checkpoint(embedded_checkpoint(), **{**EMBEDDED_OPTIONS,
                                                                  **overrides})


def runs_embedded(spec: BackendSpec) -> bool:
    """Whether ``spec`` runs the bundled model: its checkpoint, or ``embedded`` with none."""
    if spec.checkpoint is not None:
        return Path(spec.checkpoint).expanduser().resolve() == EMBEDDED_DIR.resolve()
    return spec.provider == "embedded"
