"""`thinkact model init` writes a checkpoint that the loaders and the generator accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thinkact.cli.main import app

pytestmark = pytest.mark.torch


def test_init_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "ck"
    result = CliRunner().invoke(app, ["model", "init", str(out), "--vocab-size", "400"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == 400
    from thinkact.chat_format.tokenizer import K2Tokenizer
    from thinkact.model.checkpoint import load_checkpoint

    model = load_checkpoint(out)
    tok = K2Tokenizer.load(out)
    assert model.config.vocab_size == 400
    ids = tok.encode("<|im_user|>user<|im_middle|>hi<|im_end|>")
    assert tok.special_id("<|im_end|>") in ids
    gen = CliRunner().invoke(app, ["model", "generate", str(out), "--prompt", "hi",
                                   "--max-new-tokens", "4", "--json"])
    assert gen.exit_code == 0, gen.output


def test_init_rejects_an_unknown_preset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "init", str(tmp_path / "x"), "--preset", "nope"])
    assert result.exit_code == 2
    assert "unknown preset" in result.output
