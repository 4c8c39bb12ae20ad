"""``thinkact model train --config FILE``: a settings file that names an unknown setting, or a
preset that does not exist, is refused before any training starts, with the name in the
error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from thinkact.cli.main import app


def test_a_config_with_an_unknown_setting_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps({"steps": 3, "learning_rate": 0.1}))
    result = CliRunner().invoke(app, ["model", "train", str(tmp_path / "out"), "--config",
                                      str(tmp_path / "cfg.json")])
    assert result.exit_code == 2
    assert "learning_rate" in result.output
    assert not (tmp_path / "out").exists()


def test_an_unknown_preset_in_the_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps({"preset": "giant", "steps": 3}))
    result = CliRunner().invoke(app, ["model", "train", str(tmp_path / "out"), "--config",
                                      str(tmp_path / "cfg.json")])
    assert result.exit_code == 2 and "giant" in result.output
