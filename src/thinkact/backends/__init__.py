"""Model backends: everything that can stream one assistant turn (see ``base``).

``OpenAIBackend`` is imported on first use: the ``openai`` package takes about a second to
import, and code that only needs the agent loop (or a local model) should not pay for it.
"""

from typing import TYPE_CHECKING, Any

from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.config import (
    BackendConfig,
    ConfigError,
    config_path,
    make_backend,
    resolve_backend_config,
)
from thinkact.backends.embedded import embedded_backend
from thinkact.backends.factory import backend
from thinkact.backends.presets import PRESETS, ProviderPreset
from thinkact.backends.retry import BackendError, RetryPolicy
from thinkact.backends.scripted import ScriptedBackend, ScriptExhausted, ScriptFileBackend
from thinkact.backends.spec import BackendSpec
from thinkact.messages import Price

__all__ = [
    "PRESETS",
    "BackendConfig",
    "BackendError",
    "BackendSpec",
    "ConfigError",
    "GenerationOptions",
    "ModelBackend",
    "OpenAIBackend",
    "Price",
    "ProviderPreset",
    "RetryPolicy",
    "ScriptExhausted",
    "ScriptFileBackend",
    "ScriptedBackend",
    "backend",
    "config_path",
    "embedded_backend",
    "make_backend",
    "resolve_backend_config",
]

if TYPE_CHECKING:
    from thinkact.backends.openai_compat import OpenAIBackend


def __getattr__(name: str) -> Any:
    if name == "OpenAIBackend":
        from thinkact.backends.openai_compat import OpenAIBackend

        return OpenAIBackend
    raise AttributeError(f"module 'thinkact.backends' has no attribute {name!r}")
