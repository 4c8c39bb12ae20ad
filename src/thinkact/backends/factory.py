"""``thinkact.backend(spec, **overrides)``: any model thinkact can talk to, built from a spec.

``resolve`` turns a spec into the one a trace records (provider named, checkpoint path
absolute, model and base URL filled in) without loading anything; ``build`` makes the backend
of a resolved spec. Nothing named and no endpoint given: the bundled model (``embedded``).
Errors are ``ConfigError`` with a message that says how to fix the spec.

Config file sections for models run in this process (``$THINKACT_CONFIG``)::

    [providers.tiny]
    provider = "local"              # an in-process checkpoint, not an HTTP endpoint
    checkpoint = "ckpt/tiny"        # relative to the config file's folder
    # optional: model (display name), max_seq_len, temperature, top_p, json_guard
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from thinkact.backends.base import ModelBackend
from thinkact.backends.config import (
    ConfigError,
    config_path,
    load_config_file,
    make_backend,
    resolve_backend_config,
)
from thinkact.backends.embedded import EMBEDDED_OPTIONS, embedded_checkpoint
from thinkact.backends.presets import PRESETS
from thinkact.backends.spec import BackendSpec

LOCAL_OPTIONS = {"max_seq_len": int, "temperature": float, "top_p": float, "json_guard": bool}
LOCAL_KINDS = ("local", "embedded")


def backend(spec: str | BackendSpec | None = None, **overrides: Any) -> ModelBackend:
    """The backend ``spec`` names: ``"moonshot"`` (or any preset), a configured name,
    ``"embedded"``, ``"local:DIR"``, ``"scripted"`` (with ``script=FILE``); ``overrides``:
    spec fields (``model=``, ``base_url=``, ``checkpoint=``, ...) or backend options
    (``temperature=``, ``context_window=``, ``sessions=``, ...)."""
    return build(resolve(BackendSpec.parse(spec, **overrides)))


def resolve(spec: BackendSpec) -> BackendSpec:
    """The spec with everything a later rebuild needs filled in (no model is loaded)."""
    if spec.provider == "scripted":
        if spec.script is None:
            raise ConfigError("--provider scripted needs --script FILE.json")
        return spec.model_copy(update={"script": str(Path(spec.script).resolve())})
    local = _resolve_local(spec)
    if local is not None:
        return local
    if spec.checkpoint is not None:
        raise ConfigError("--checkpoint is only for --provider local")
    if spec.script is not None:
        raise ConfigError("--script is only for --provider scripted")
    cfg = resolve_backend_config(spec.provider, model=spec.model, base_url=spec.base_url,
                                 api_key=spec.api_key, **_remote_options(spec))
    return spec.model_copy(update={"provider": cfg.provider, "model": cfg.model,
                                   "base_url": cfg.base_url})


def build(spec: BackendSpec) -> ModelBackend:
    """The backend of a resolved spec (``resolve``). A local model loads torch here."""
    if spec.provider == "scripted":
        from thinkact.backends.scripted import ScriptFileBackend

        assert spec.script is not None
        return ScriptFileBackend(Path(spec.script), model_name=spec.model or "scripted",
                                 delay_s=spec.options.get("delay_s"))
    if spec.checkpoint is not None:
        from thinkact.backends.local import LocalBackend

        try:
            return LocalBackend.from_checkpoint(spec.checkpoint, **spec.options)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load checkpoint {spec.checkpoint}: {exc}") from None
    return make_backend(resolve_backend_config(
        spec.provider, model=spec.model, base_url=spec.base_url, api_key=spec.api_key,
        **_remote_options(spec)))


def _remote_options(spec: BackendSpec) -> dict[str, Any]:
    options = dict(spec.options)
    if spec.api_key_env:
        if not os.environ.get(spec.api_key_env):
            raise ConfigError(f"environment variable {spec.api_key_env} (named by "
                              "--api-key-env) is not set")
        options["api_key_env"] = spec.api_key_env
    return options


def _resolve_local(spec: BackendSpec) -> BackendSpec | None:
    """The spec of a model run in this process, or None when the spec names an endpoint.

    The provider comes from the spec, ``THINKACT_PROVIDER`` or the config file; its section
    says where the checkpoint is and which options apply, and the spec's own options win.
    A spec that has a checkpoint under a name the config file no longer defines (a recorded
    run) is used as it is."""
    file_cfg, path = _config()
    name = spec.provider or ("local" if spec.checkpoint is not None else None)
    name = name or os.environ.get("THINKACT_PROVIDER") or file_cfg.get("provider")
    if name is None and not (spec.base_url or os.environ.get("THINKACT_BASE_URL")):
        name = "embedded"  # nothing chosen: the bundled model, offline
    section = dict((file_cfg.get("providers") or {}).get(name, {})) if name else {}
    kind = name if name in LOCAL_KINDS else (section.get("provider") or section.get("preset"))
    if kind not in LOCAL_KINDS:
        if spec.checkpoint is None or section or name in PRESETS:
            return None
        kind = "local"
    if spec.script is not None or spec.base_url is not None:
        raise ConfigError(f"--provider {name} runs a checkpoint in this process; "
                          "--script and --base-url do not apply")
    section.pop("provider", None)
    section.pop("preset", None)
    unknown = set(section) - {"checkpoint", "model", *LOCAL_OPTIONS}
    if unknown:
        raise ConfigError(f"unknown keys in [providers.{name}] of {path} for a local model: "
                          f"{sorted(unknown)}; known: checkpoint, model, "
                          f"{', '.join(LOCAL_OPTIONS)}")
    ckpt = Path(spec.checkpoint) if spec.checkpoint is not None else None
    if ckpt is None and section.get("checkpoint"):
        ckpt = path.parent / Path(str(section["checkpoint"])).expanduser()
    if ckpt is None and kind == "embedded":
        try:
            ckpt = embedded_checkpoint()
        except FileNotFoundError as exc:
            raise ConfigError(str(exc)) from None
    if ckpt is None and os.environ.get("THINKACT_CHECKPOINT"):
        ckpt = Path(os.environ["THINKACT_CHECKPOINT"])
    if ckpt is None:
        raise ConfigError("--provider local needs --checkpoint DIR (or THINKACT_CHECKPOINT, "
                          f"or checkpoint = ... under [providers.{name}] in {path})")
    options: dict[str, Any] = dict(EMBEDDED_OPTIONS) if kind == "embedded" else {}
    for key, cast in LOCAL_OPTIONS.items():
        if section.get(key) is not None:
            try:
                options[key] = cast(section[key])
            except (TypeError, ValueError):
                raise ConfigError(f"[providers.{name}] {key} must be a {cast.__name__}, got "
                                  f"{section[key]!r}") from None
    if section.get("model"):
        options["name"] = str(section["model"])
    # a context window given for a server does not apply in process: the checkpoint's holds
    options.update({k: v for k, v in spec.options.items() if k != "context_window"})
    return spec.model_copy(update={"provider": name, "checkpoint": str(_checked(ckpt)),
                                   "options": options, "model": None})


def _checked(ckpt: Path) -> Path:
    ckpt = ckpt.expanduser().resolve()
    if not (ckpt / "config.json").exists():
        raise ConfigError(f"{ckpt} is not a checkpoint directory (no config.json)")
    return ckpt


def _config() -> tuple[dict[str, Any], Path]:
    path = config_path()
    return load_config_file(path), path
