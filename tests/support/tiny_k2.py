"""Fixtures: a tiny random K2 checkpoint (tokenizer trained on a tiny corpus) and a loopback
``serve-model`` server running it in a background thread. They need torch (imported
when used); ``tests/conftest.py`` offers them everywhere, and the tests that use them carry
``pytest.mark.torch``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.k2_chat import tiny_tokenizer
from support.loopback_server import LoopbackServer

if TYPE_CHECKING:
    from thinkact.backends.local import LocalBackend


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from thinkact.backends.local_checkpoint import make_random_checkpoint

    torch.set_num_threads(1)
    return make_random_checkpoint(tmp_path_factory.mktemp("tiny-k2"), tokenizer=tiny_tokenizer(),
                                  max_seq_len=1024, seed=0)


@pytest.fixture
def backend(checkpoint: Path) -> LocalBackend:
    from thinkact.backends.local import LocalBackend

    return LocalBackend.from_checkpoint(checkpoint)


@pytest.fixture
def served(checkpoint: Path) -> Iterator[tuple[LoopbackServer, LocalBackend]]:
    from thinkact.backends.local import LocalBackend
    from thinkact.server.openai_app import create_app

    backend = LocalBackend.from_checkpoint(checkpoint)
    server = LoopbackServer(create_app(backend))
    try:
        yield server, backend
    finally:
        server.close()
