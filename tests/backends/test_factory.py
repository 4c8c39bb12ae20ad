"""``thinkact.backend(spec)``: every model the CLI can use, from the library."""

from __future__ import annotations

from pathlib import Path

import pytest

import thinkact
from support.cli_run import write_script
from thinkact.backends import BackendSpec, ConfigError, ScriptFileBackend
from thinkact.backends.factory import resolve
from thinkact.backends.openai_compat import OpenAIBackend


@pytest.fixture(autouse=True)
def _no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKACT_CONFIG", str(tmp_path / "none.toml"))
    for var in ("THINKACT_PROVIDER", "THINKACT_BASE_URL", "THINKACT_CHECKPOINT",
                "MOONSHOT_API_KEY", "THINKACT_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_presets_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="MOONSHOT_API_KEY"):
        thinkact.backend("moonshot")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-test")
    moonshot = thinkact.backend("moonshot", context_window=1000)
    assert isinstance(moonshot, OpenAIBackend)
    assert moonshot.model_name == "kimi-k2-thinking" and moonshot.context_window == 1000
    vllm = thinkact.backend("vllm", base_url="http://127.0.0.1:9/v1", model="k2")
    assert isinstance(vllm, OpenAIBackend) and vllm.config.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match="unknown provider 'nowhere'"):
        thinkact.backend("nowhere")


def test_a_resolved_spec_names_everything_and_keeps_no_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve(BackendSpec.parse("moonshot", api_key="sk-secret"))
    assert (spec.provider, spec.model, spec.base_url) == (
        "moonshot", "kimi-k2-thinking", "https://api.moonshot.ai/v1")
    assert "sk-secret" not in spec.model_dump_json()
    nothing = resolve(BackendSpec())  # nothing chosen: the bundled model
    assert nothing.provider == "embedded" and nothing.checkpoint is not None
    assert nothing.options["json_guard"] is True
    with pytest.raises(ConfigError, match=r"no config\.json"):
        resolve(BackendSpec.parse("local:/nonexistent"))


def test_scripted_plays_a_file(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [{"content": "hello"}])
    backend = thinkact.backend("scripted", script=script, model="play")
    assert isinstance(backend, ScriptFileBackend) and backend.model_name == "play"
    agent = thinkact.Agent(backend, workspace=tmp_path)
    assert agent.run("hi").answer == "hello"
    with pytest.raises(ConfigError, match="must be a non-empty JSON list"):
        thinkact.backend("scripted", script=write_script(tmp_path / "e.json", []))
