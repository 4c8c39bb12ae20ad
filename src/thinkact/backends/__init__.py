"""Model backends: everything that can stream one assistant turn (see ``base``)."""

from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.config import (
    BackendConfig,
    ConfigError,
    config_path,
    make_backend,
    resolve_backend_config,
)
from thinkact.backends.presets import PRESETS, Price, ProviderPreset
from thinkact.backends.retry import BackendError, RetryPolicy
from thinkact.backends.scripted import ScriptedBackend, ScriptExhausted

__all__ = [
    "PRESETS", "BackendConfig", "BackendError", "ConfigError", "GenerationOptions",
    "ModelBackend", "Price", "ProviderPreset", "RetryPolicy", "ScriptExhausted",
    "ScriptedBackend", "config_path", "make_backend", "resolve_backend_config",
]
