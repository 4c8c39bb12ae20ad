"""Provider presets, config file and environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from thinkact.backends import (
    PRESETS,
    ConfigError,
    config_path,
    make_backend,
    resolve_backend_config,
)
from thinkact.backends.openai_compat import OpenAIBackend


def test_moonshot_preset_defaults(tmp_path: Path) -> None:
    cfg = resolve_backend_config(env={"MOONSHOT_API_KEY": "sk-m", "XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.provider == "moonshot"
    assert cfg.base_url == "https://api.moonshot.ai/v1"
    assert cfg.model == "kimi-k2-thinking"
    assert cfg.context_window == 262144
    assert cfg.temperature == 1.0
    assert cfg.api_key == "sk-m"
    assert {"moonshot", "openai", "vllm", "sglang", "ollama", "openrouter", "deepseek",
            "custom"} <= set(PRESETS)


def test_missing_key_names_the_env_var(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MOONSHOT_API_KEY"):
        resolve_backend_config("moonshot", env={"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        resolve_backend_config("openrouter", env={"XDG_CONFIG_HOME": str(tmp_path)})
    local = resolve_backend_config("vllm", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert local.api_key == "EMPTY" and local.base_url.startswith("http://localhost")


def test_config_file_then_env_then_arguments(tmp_path: Path) -> None:
    cfg_dir = tmp_path / "thinkact"
    cfg_dir.mkdir()
    (cfg_dir / "config.toml").write_text(
        'provider = "box"\n'
        "[providers.box]\n"
        'preset = "vllm"\n'
        'base_url = "http://gpu-box:8000/v1"\n'
        'model = "k2-small"\n'
        "context_window = 32768\n"
        'api_key = "from-file"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert config_path(env) == cfg_dir / "config.toml"
    cfg = resolve_backend_config(env=env)
    assert (cfg.provider, cfg.base_url, cfg.model, cfg.context_window, cfg.api_key) == (
        "box", "http://gpu-box:8000/v1", "k2-small", 32768, "from-file")
    assert cfg.temperature == 1.0  # inherited from the vllm preset
    env_cfg = resolve_backend_config(env={**env, "THINKACT_MODEL": "env-model",
                                          "THINKACT_API_KEY": "env-key",
                                          "THINKACT_MAX_TOKENS": "1000"})
    assert (env_cfg.model, env_cfg.api_key, env_cfg.max_tokens) == ("env-model", "env-key", 1000)
    arg_cfg = resolve_backend_config(model="arg-model", env={**env, "THINKACT_MODEL": "env"})
    assert arg_cfg.model == "arg-model"


def test_thinkact_config_env_points_at_a_file(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('provider = "ollama"\n')
    cfg = resolve_backend_config(env={"THINKACT_CONFIG": str(path)})
    assert cfg.provider == "ollama" and cfg.base_url == "http://localhost:11434/v1"


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        resolve_backend_config("nope", env=env)
    with pytest.raises(ConfigError, match="no base URL"):
        resolve_backend_config("custom", model="m", env=env)
    with pytest.raises(ConfigError, match="THINKACT_CONTEXT_WINDOW must be a int"):
        resolve_backend_config("vllm", env={**env, "THINKACT_CONTEXT_WINDOW": "big"})
    bad = tmp_path / "bad.toml"
    bad.write_text("provider = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_backend_config(env={"THINKACT_CONFIG": str(bad)})


def test_base_url_alone_means_custom_and_make_backend(tmp_path: Path) -> None:
    cfg = resolve_backend_config(base_url="http://127.0.0.1:9/v1", model="m",
                                 env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.provider == "custom"
    backend = make_backend(cfg)
    assert isinstance(backend, OpenAIBackend)
    assert backend.model_name == "m" and backend.client.max_retries == 0


def test_provider_and_preset_both_name_what_a_section_builds_on(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[providers.box]\nprovider = "custom"\nbase_url = "http://box:1/v1"\n'
                    'model = "m"\ntool_call_text = "off"\n'
                    '[providers.k2]\npreset = "vllm"\n'
                    '[providers.both]\npreset = "vllm"\nprovider = "custom"\n')
    box = resolve_backend_config("box", env={}, path=path)
    assert (box.provider, box.base_url, box.tool_call_text) == ("box", "http://box:1/v1", "off")
    assert resolve_backend_config("k2", env={}, path=path).temperature == 1.0  # vllm's
    with pytest.raises(ConfigError, match=r"sets preset = 'vllm' and provider = 'custom'"):
        resolve_backend_config("both", env={}, path=path)
    path.write_text('[providers.box]\nprovider = "custom"\nbase_url = "http://b/v1"\n'
                    'model = "m"\ntool_call_text = "sometimes"\n')
    with pytest.raises(ConfigError, match="tool_call_text must be one of auto, off"):
        resolve_backend_config("box", env={}, path=path)
