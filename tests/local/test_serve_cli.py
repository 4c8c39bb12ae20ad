"""``thinkact serve-model`` as a real subprocess, queried with the openai client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from openai import OpenAI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_model_subprocess(checkpoint: Path) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "thinkact.cli.main", "serve-model", str(checkpoint),
           "--port", str(port), "--name", "tiny-local", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve-model did not come up"
            time.sleep(0.2)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["tiny-local"]
        resp = client.chat.completions.create(
            model="tiny-local", messages=[{"role": "user", "content": "hi"}], max_tokens=3,
            seed=0)
        assert resp.choices[0].finish_reason == "length"
        assert resp.usage is not None and resp.usage.completion_tokens == 3
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_model_rejects_a_non_checkpoint(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "thinkact.cli.main", "serve-model",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "config.json" in out.stderr
