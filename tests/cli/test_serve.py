"""``thinkact serve-model`` as a real subprocess, queried with the openai client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from support.cli_run import serve_model

pytestmark = pytest.mark.torch


def test_serve_model_subprocess(checkpoint: Path) -> None:
    args = [str(checkpoint), "--name", "tiny-local", "--threads", "1"]
    with serve_model(args, dict(os.environ)) as base_url:
        client = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["tiny-local"]
        resp = client.chat.completions.create(
            model="tiny-local", messages=[{"role": "user", "content": "hi"}], max_tokens=3,
            seed=0)
        assert resp.choices[0].finish_reason == "length"
        assert resp.usage is not None and resp.usage.completion_tokens == 3
        client.close()


def test_serve_model_rejects_a_non_checkpoint(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "thinkact.cli.main", "serve-model",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "config.json" in out.stderr
