"""``BackendSpec``: which model a run talks to, as data that a trace can record.

A spec names a provider (a preset such as ``moonshot``, a configured name, ``embedded``,
``local``, ``scripted``) plus what pins it down: model, base URL, checkpoint, script, and
backend options. ``thinkact.backend(spec)`` builds it (``backends.factory``). The one rule:
a spec never holds a secret in its dump; an API key given here is used and not recorded.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Keyword arguments of ``thinkact.backend`` that are fields of the spec; the rest are options.
SPEC_FIELDS = ("model", "base_url", "api_key_env", "api_key", "checkpoint", "script")


class BackendSpec(BaseModel):
    """Which model: a provider and what pins it down. ``None`` fields are resolved when the
    backend is built (preset, config file, environment)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = None  # preset, configured name, embedded, local, scripted; None: default
    model: str | None = None  # the model's name at the provider
    base_url: str | None = None  # OpenAI-compatible endpoint
    api_key_env: str | None = None  # read the key from this variable
    api_key: str | None = Field(default=None, exclude=True, repr=False)  # never recorded
    checkpoint: str | None = None  # a checkpoint directory run in this process
    script: str | None = None  # JSON turns for the scripted test model
    options: dict[str, Any] = Field(default_factory=dict)  # backend options (temperature, ...)

    @classmethod
    def parse(cls, spec: str | BackendSpec | None = None, **overrides: Any) -> BackendSpec:
        """``"moonshot"``, ``"local:DIR"``, ``"scripted"``, a configured name, or a spec;
        ``overrides``: spec fields (``model=``, ``checkpoint=``, ...) or backend options."""
        if isinstance(spec, BackendSpec):
            base = spec.model_copy(deep=True)
        else:
            base = cls()
            if spec is not None and spec.startswith("local:"):
                base.provider, base.checkpoint = "local", spec.removeprefix("local:")
            else:
                base.provider = spec
        for key, value in overrides.items():
            if key in SPEC_FIELDS:
                setattr(base, key, None if value is None else str(value))
            elif key == "provider":
                base.provider = value
            else:
                base.options[key] = value
        return base
