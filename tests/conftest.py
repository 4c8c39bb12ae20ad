"""Session-wide test setup."""

from __future__ import annotations

import signal


def pytest_configure() -> None:
    """Give SIGINT its normal handler when pytest was started with it ignored (a shell's
    background job, `make test &`): an ignored signal is inherited across exec, so the CLI
    processes the Ctrl-C tests start would ignore it too and never record a stopped run."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
