"""The environment given to code the model runs (python kernel, shell), and its cleanup.

The model's code can print its environment, so API keys and tokens of the host process are
left out by default: whatever a prompt injection talks the model into running cannot read
them. Variables are judged by name only.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Mapping

SECRET_NAME = re.compile(
    r"(API_?KEY|_KEY$|^KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION)",
    re.IGNORECASE,
)


def child_env(
    base: Mapping[str, str] | None = None, *, pass_secrets: bool = False
) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) without secret-looking variables."""
    env = dict(os.environ if base is None else base)
    if pass_secrets:
        return env
    return {k: v for k, v in env.items() if not SECRET_NAME.search(k)}


def kill_group(pid: int) -> None:
    """SIGKILL a child started with ``start_new_session`` and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
