"""``AgentConfig``: one typed config that builds the agent, is what a run records, and reads
back (also in the shape recorded before it existed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from support.cli_run import write_script
from thinkact import Agent, AgentConfig, Budget, Summarize, ToolsConfig
from thinkact.backends import ConfigError
from thinkact.events import RunStarted
from thinkact.traces import SQLiteTraceStore

# What ``thinkact run --tools files --shell --yes-shell`` recorded before AgentConfig.
OLD_RECORD = {
    "model": "scripted", "context_window": 262144,
    "backend": {"provider": "scripted", "script": "/x/s.json", "delay_s": 0.0},
    "tools": ["files", "shell"], "budget": {"max_steps": 4, "final_answer_grace_s": 30.0},
    "context": "summarize",
    "options": {"max_tokens": None, "temperature": 0.5, "top_p": None, "seed": 3, "extra": {}},
    "repeat": {"warn_at": 3, "stop_at": 5, "reminder": "again: {name} x{count}"},
    "verify": {"rounds": 1, "prompt": "check it"}, "system_prompt": "be brief",
    "workspace": "/tmp/ws",
    "setup": {"builtin_tools": ["files"], "shell": True, "shell_approval": "off",
              "facts_db": None, "mcp": [{"name": "time", "command": "python", "env_keys": []}]},
}


def test_an_old_record_reads_back_as_the_same_settings() -> None:
    config = AgentConfig.from_record(OLD_RECORD)
    assert config.backend.provider == "scripted" and config.backend.script == "/x/s.json"
    assert config.tools.names == ["files", "shell"]
    assert config.tools.shell_approval == "off"
    assert [s["name"] for s in config.tools.mcp] == ["time"]
    assert config.budget == Budget(max_steps=4)
    assert isinstance(config.context, Summarize)
    assert (config.options.temperature, config.options.seed) == (0.5, 3)
    assert config.repeat.reminder == "again: {name} x{count}" and config.verify.rounds == 1
    assert config.system_prompt == "be brief" and config.workspace == Path("/tmp/ws")
    # and today's shape reads back as itself
    assert AgentConfig.from_record(config.record()) == config


def test_an_old_scripted_record_keeps_its_delay(tmp_path: Path) -> None:
    """The delay an old record kept beside its script still slows the rebuilt backend, even
    where the script file says otherwise; a record without one uses the file's."""
    from thinkact.backends import ScriptFileBackend
    from thinkact.backends.factory import build

    def delay(spec: object) -> float:
        built = build(spec)  # type: ignore[arg-type]
        assert isinstance(built, ScriptFileBackend)
        return built.delay_s

    script = write_script(tmp_path / "s.json", [{"content": "ok"}], delay_s=0.0)
    old = {**OLD_RECORD, "backend": {"provider": "scripted", "script": str(script),
                                     "delay_s": 0.25}}
    config = AgentConfig.from_record(old)
    assert config.backend.options == {"delay_s": 0.25}
    assert AgentConfig.from_record(config.record()) == config
    assert delay(config.backend) == 0.25
    plain = {**OLD_RECORD, "backend": {"provider": "scripted", "script": str(script)}}
    assert AgentConfig.from_record(plain).backend.options == {}
    slow = write_script(tmp_path / "slow.json", [{"content": "ok"}], delay_s=0.5)
    assert delay(AgentConfig.from_record({**plain, "backend": {
        "provider": "scripted", "script": str(slow)}}).backend) == 0.5


def test_a_record_round_trips_and_a_typo_is_refused() -> None:
    config = AgentConfig(backend="local:/ckpt", tools=["python"], context="summarize",
                         budget=Budget(max_steps=7, max_wall_time_s=9.5))
    assert config.backend.provider == "local" and config.backend.checkpoint == "/ckpt"
    recorded = json.loads(json.dumps(config.record()))
    assert AgentConfig.from_record(recorded) == config
    with pytest.raises(ValidationError, match="max_step"):
        AgentConfig.model_validate({**recorded, "max_step": 3})
    with pytest.raises(ValidationError, match="unknown context strategy 'squash'"):
        AgentConfig(context="squash")


def test_build_makes_tools_by_name_with_options_in_the_workspace(tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.json", [
        {"content": None, "tool_calls": [{"name": "files", "arguments": {
            "action": "write", "path": "a.txt", "content": "hi"}}]},
        {"content": "wrote it"}])
    config = AgentConfig(backend="scripted", tools=ToolsConfig(
        names=["files", "python"], options={"python": {"timeout_s": 7}}),
        workspace=tmp_path / "ws")
    config.backend.script = str(script)
    store = SQLiteTraceStore(tmp_path / "t.sqlite")
    agent = config.build(trace=store)
    assert agent.toolset.names == ["files", "python"]
    assert agent.toolset.get("python").exec_timeout_s == 7  # type: ignore[union-attr]
    result = agent.run("write a.txt", run_id="r1")
    assert result.status == "completed" and result.answer == "wrote it"
    assert (tmp_path / "ws" / "a.txt").read_text() == "hi"
    start = next(iter(store.events("r1")))
    assert isinstance(start, RunStarted)
    recorded = AgentConfig.from_record(start.config)
    assert recorded.backend.script == str(script.resolve())  # resolved, so a resume finds it
    assert recorded.tools == config.tools and recorded.workspace == tmp_path / "ws"
    store.close()
    with pytest.raises(ValueError, match="unknown tool 'nope'"):
        AgentConfig(backend="scripted", tools=["nope"]).build(backend=agent.backend)
    with pytest.raises(ConfigError, match="needs --script"):
        AgentConfig(backend="scripted").build()


def test_an_agent_built_from_objects_records_its_tools_by_name(tmp_path: Path) -> None:
    from support.agent_kit import echo
    from thinkact import ScriptedBackend
    from thinkact.messages import Message

    agent = Agent(ScriptedBackend([Message(role="assistant", content="ok")]), tools=[echo],
                  budget=Budget(max_steps=3), workspace=tmp_path)
    assert agent.config.tools.names == ["echo"] and agent.config.budget.max_steps == 3
    assert agent.run("hi").answer == "ok"
