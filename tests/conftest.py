"""Session-wide test setup: SIGINT's handler, the ``torch`` marker, the tiny-checkpoint
fixtures (``checkpoint``, ``backend``, ``served``; see ``support.tiny_k2``)."""

from __future__ import annotations

import importlib.util
import signal

import pytest

from support.tiny_k2 import backend, checkpoint, served

__all__ = ["backend", "checkpoint", "served"]


def pytest_configure() -> None:
    """Give SIGINT its normal handler when pytest was started with it ignored (a shell's
    background job, `make test &`): an ignored signal is inherited across exec, so the CLI
    processes the Ctrl-C tests start would ignore it too and never record a stopped run."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``torch`` (the model stack) skip where the ``model`` extra is missing."""
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="needs torch (the 'model' extra)")
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)
