"""Fixtures: a tiny random K2 checkpoint (tokenizer trained on a tiny corpus) and a loopback
``serve-model`` server running it in a background thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from support.k2_chat import tiny_tokenizer
from support.loopback_server import LoopbackServer
from thinkact.backends.local import LocalBackend
from thinkact.backends.local_checkpoint import make_random_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return make_random_checkpoint(tmp_path_factory.mktemp("tiny-k2"), tokenizer=tiny_tokenizer(),
                                  max_seq_len=1024, seed=0)


@pytest.fixture
def backend(checkpoint: Path) -> LocalBackend:
    return LocalBackend.from_checkpoint(checkpoint)


@pytest.fixture
def served(checkpoint: Path) -> Iterator[tuple[LoopbackServer, LocalBackend]]:
    from thinkact.server.openai_app import create_app

    backend = LocalBackend.from_checkpoint(checkpoint)
    server = LoopbackServer(create_app(backend))
    try:
        yield server, backend
    finally:
        server.close()
