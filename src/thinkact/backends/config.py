"""Resolve which model to talk to: preset < config file < environment < explicit arguments.

Config file: TOML at ``$THINKACT_CONFIG``, else ``$XDG_CONFIG_HOME/thinkact/config.toml``,
else ``~/.config/thinkact/config.toml``::

    provider = "moonshot"            # default provider
    [providers.moonshot]
    model = "kimi-k2-thinking-turbo"
    [providers.mybox]                # a named endpoint built on a preset
    preset = "vllm"
    base_url = "http://gpu-box:8000/v1"

Environment: THINKACT_PROVIDER, THINKACT_BASE_URL, THINKACT_API_KEY, THINKACT_MODEL,
THINKACT_CONTEXT_WINDOW, THINKACT_MAX_TOKENS, THINKACT_TEMPERATURE.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thinkact.backends.base import ModelBackend
from thinkact.backends.presets import PRESETS
from thinkact.messages import Price

DEFAULT_PROVIDER = "moonshot"
TOOL_CALL_TEXT = ("auto", "off")
NO_KEY = "EMPTY"  # local servers ignore the key, but the OpenAI client insists on one


class ConfigError(ValueError):
    """The backend configuration is incomplete or invalid; the message says how to fix it."""


@dataclass
class BackendConfig:
    provider: str
    base_url: str
    model: str
    api_key: str = NO_KEY
    api_key_env: str | None = None
    context_window: int = 131072
    discover_context_window: bool = False  # ask the server first (set: window not given)
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    timeout_s: float = 600.0
    max_attempts: int = 8
    retry_base_delay_s: float = 1.0
    retry_max_delay_s: float = 60.0
    retry_total_s: float = 120.0  # retries of one call stop after this long in all
    stream: bool = True
    stream_usage: bool = True
    send_reasoning: bool = True
    k2_call_ids: bool = False  # rewrite history call ids to functions.name:idx (self-hosted K2)
    reasoning_field: str = "reasoning_content"
    max_tokens_param: str = "max_tokens"
    tool_call_text: str = "auto"  # auto: recover calls written as content (backends.text_calls)
    tokenize: bool = False  # count prompts at the server's tokenize endpoint (self-hosted)
    extra_body: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)
    price: Price | None = None

    def describe(self) -> dict[str, Any]:
        """The config without secrets, for traces and logs."""
        return {
            "provider": self.provider, "base_url": self.base_url, "model": self.model,
            "context_window": self.context_window, "max_tokens": self.max_tokens,
            "given_context_window": None if self.discover_context_window else self.context_window,
            "temperature": self.temperature, "top_p": self.top_p, "stream": self.stream,
        }


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("THINKACT_CONFIG"):
        return Path(env["THINKACT_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "thinkact" / "config.toml"


def load_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _num(value: Any, kind: type, what: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a {kind.__name__}, got {value!r}") from None


def resolve_backend_config(
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    context_window: int | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    **overrides: Any,
) -> BackendConfig:
    """Merge preset, config file, environment and arguments (later wins) into one config.

    ``overrides`` set any other ``BackendConfig`` field (e.g. ``stream=False``).
    """
    env = os.environ if env is None else env
    path = path or config_path(env)
    file_cfg = load_config_file(path)
    name = provider or env.get("THINKACT_PROVIDER") or file_cfg.get("provider")
    if not name:
        name = "custom" if (base_url or env.get("THINKACT_BASE_URL")) else DEFAULT_PROVIDER
    section: dict[str, Any] = dict(file_cfg.get("providers", {}).get(name, {}))
    # ``preset = "vllm"`` or ``provider = "vllm"``: both name what the section builds on
    named = {k: section.pop(k) for k in ("preset", "provider") if k in section}
    if len(set(named.values())) > 1:
        raise ConfigError(f"[providers.{name}] in {path} sets preset = {named['preset']!r} and "
                          f"provider = {named['provider']!r}: keep one")
    preset_name = next(iter(named.values()), name)
    if preset_name not in PRESETS:
        raise ConfigError(
            f"unknown provider {name!r}: choose one of {', '.join(sorted(PRESETS))} "
            f"or define [providers.{name}] with a preset in {path}"
        )
    preset = PRESETS[preset_name]
    values: dict[str, Any] = {
        "provider": name, "base_url": preset.base_url, "model": preset.default_model,
        "api_key_env": preset.api_key_env, "context_window": preset.context_window,
        "max_tokens": preset.max_tokens, "temperature": preset.temperature,
        "price": preset.price, "reasoning_field": preset.reasoning_field,
        "k2_call_ids": preset.k2_call_ids,
        "extra_body": dict(preset.extra_body),
    }
    file_key = section.pop("api_key", None)
    if isinstance(section.get("price"), dict):
        section["price"] = Price(**section["price"])
    unknown = set(section) - set(BackendConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown keys in [providers.{name}] of {path}: {sorted(unknown)}")
    values.update(section)
    env_values = {
        "base_url": env.get("THINKACT_BASE_URL") or None,
        "model": env.get("THINKACT_MODEL") or None,
        "context_window": _num(env.get("THINKACT_CONTEXT_WINDOW"), int, "THINKACT_CONTEXT_WINDOW"),
        "max_tokens": _num(env.get("THINKACT_MAX_TOKENS"), int, "THINKACT_MAX_TOKENS"),
        "temperature": _num(env.get("THINKACT_TEMPERATURE"), float, "THINKACT_TEMPERATURE"),
    }
    args = {"base_url": base_url, "model": model, "context_window": context_window,
            "max_tokens": max_tokens, "temperature": temperature, **overrides}
    for layer in (env_values, args):
        values.update({k: v for k, v in layer.items() if v is not None})
    given = [layer.get("context_window") for layer in (section, env_values, args)]
    # a self-hosted server knows its window better than the preset's guess
    values.setdefault("discover_context_window",
                      not preset.requires_key and all(g is None for g in given))
    values.setdefault("tokenize", not preset.requires_key)  # a server of one's own may count
    key_env = values.get("api_key_env")
    key = (api_key or env.get("THINKACT_API_KEY") or file_key
           or (env.get(key_env) if key_env else None))
    if not key:
        if preset.requires_key:
            raise ConfigError(
                f"provider {name!r} needs an API key: set {key_env} "
                f"(or THINKACT_API_KEY, or api_key under [providers.{name}] in {path})"
            )
        key = NO_KEY
    values["api_key"] = key
    if values.get("tool_call_text", "auto") not in TOOL_CALL_TEXT:
        raise ConfigError(f"tool_call_text must be one of {', '.join(TOOL_CALL_TEXT)}, not "
                          f"{values['tool_call_text']!r}")
    if not values.get("base_url"):
        raise ConfigError(f"provider {name!r} has no base URL: pass --base-url or set "
                          "THINKACT_BASE_URL")
    if not values.get("model"):
        raise ConfigError(f"provider {name!r} has no default model: pass --model or set "
                          "THINKACT_MODEL")
    return BackendConfig(**values)


def make_backend(config: BackendConfig) -> ModelBackend:
    """The backend for a resolved config (every preset speaks the OpenAI chat API)."""
    from thinkact.backends.openai_compat import OpenAIBackend

    return OpenAIBackend(config)
