"""Synthetic episodes: real tool outputs, and token sequences that match what the local backend
will prompt with, so what the model learns is exactly what it is later asked to continue."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from thinkact.chat_format.tokenizer import train_tokenizer
from thinkact.chat_format.tokens import IM_END, THINK
from thinkact.train.data import corpus_texts, encode_episode, episode_texts, tool_specs
from thinkact.train.episodes import random_episode
from thinkact.train.tasks import GENERATORS
from thinkact.train.trainer import TINY_FORMAT

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return train_tokenizer(list(corpus_texts(300, TINY_FORMAT, seed=3)), 600)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_task_outputs_are_what_python_prints(kind: str) -> None:
    rng = random.Random(kind)
    for _ in range(3):
        task = GENERATORS[kind][1](rng)
        real = subprocess.run([sys.executable, "-c", task.code], capture_output=True, text=True,
                              check=True).stdout
        assert task.output == real
        assert task.result and task.result == real.strip()


def test_each_target_follows_the_exact_prompt_the_backend_would_send(tok) -> None:  # type: ignore[no-untyped-def]
    from thinkact.chat_format.render import render

    rng = random.Random(7)
    for _ in range(40):
        ep = random_episode(rng, history_p=0.5)
        ids, mask = encode_episode(ep, tok, TINY_FORMAT)
        specs = tool_specs(ep.tools)
        assistant_at = [k for k in range(ep.train_from, len(ep.messages))
                        if ep.messages[k].role == "assistant"]
        starts = [i for i in range(len(mask)) if mask[i] and (i == 0 or not mask[i - 1])]
        assert len(starts) == len(assistant_at)
        for k, start in zip(assistant_at, starts, strict=True):
            prompt = tok.encode(render(ep.messages[:k], specs, fmt=TINY_FORMAT))
            assert ids[:start] == prompt  # the backend's prompt, token for token
            assert ids[start] == tok.special_id(THINK)
        ends = [i for i in range(len(mask)) if mask[i] and (i + 1 == len(mask) or not mask[i + 1])]
        assert all(ids[i] == tok.special_id(IM_END) for i in ends)


def test_history_and_tool_output_are_context_not_targets(tok) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    ep = next(e for e in (random_episode(rng, history_p=1.0) for _ in range(50))
              if e.train_from > 0 and len(e.messages) - e.train_from == 4)
    segments = episode_texts(ep, TINY_FORMAT)
    learned = "".join(t for t, on in segments if on)
    context = "".join(t for t, on in segments if not on)
    assert f"## Return of functions.python:1\n{ep.messages[ep.train_from + 2].content}" in context
    assert "## Return of" not in learned and ep.messages[0].content not in learned
    history_reasoning = ep.messages[1].reasoning
    assert history_reasoning and history_reasoning not in "".join(t for t, _ in segments)


def test_signature_declarations_drop_prose_but_keep_schemas() -> None:
    from thinkact.chat_format.render import tools_json

    text = tools_json(tool_specs(["python", "files"]), TINY_FORMAT)
    assert '"description"' not in text
    assert '"name":"python"' in text and '"code":{"type":"string"}' in text
    assert '"enum":["list","read","write","edit"]' in text


def test_unknown_tool_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="teleport"):
        tool_specs(["python", "teleport"])
