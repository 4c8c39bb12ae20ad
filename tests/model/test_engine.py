"""KV-cached engine on the real tiny K2 model: batching, seeds, forced tokens, injection."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from support.k2_hf import make_routing_nontrivial, tiny_config
from thinkact.model.engine import Session
from thinkact.model.model import K2ForCausalLM
from thinkact.model.sampling import SamplingParams

pytestmark = pytest.mark.torch

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> K2ForCausalLM:
    torch.manual_seed(0)
    m = K2ForCausalLM(tiny_config(initializer_range=0.15)).eval()
    make_routing_nontrivial(m)
    return m


class Counting:
    """Wraps the model to count forwards and fed tokens (to prove prefix reuse)."""

    def __init__(self, model: K2ForCausalLM) -> None:
        self.model = model
        self.calls = 0
        self.tokens = 0

    def __call__(self, ids: torch.Tensor, **kw: Any) -> torch.Tensor:
        self.calls += 1
        self.tokens += ids.shape[1]
        return self.model(ids, **kw)

    def new_cache(self, b: int, s: int) -> Any:
        return self.model.new_cache(b, s)


@torch.no_grad()
def greedy_reference(model: K2ForCausalLM, prompt: list[int], n: int) -> list[int]:
    """Uncached greedy decoding: full forward over the whole sequence every step."""
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt) :]


PROMPT = [5, 9, 33, 2, 71, 100, 12]
GREEDY = SamplingParams(temperature=0.0)


def test_cached_greedy_matches_uncached(model: K2ForCausalLM) -> None:
    s = Session(model, 64)
    s.feed(PROMPT)
    out = s.generate(12, GREEDY)
    assert out.tokens[0] == greedy_reference(model, PROMPT, 12)
    assert out.forced[0] == [False] * 12 and out.finish_reasons == ["length"]
    assert s.tokens == PROMPT + out.tokens[0]


def test_batch8_replicated_prompt_equals_separate_runs(model: K2ForCausalLM) -> None:
    single = Session(model, 64)
    single.feed(PROMPT)
    want = single.generate(10, GREEDY).tokens[0]
    base = Session(model, 64)
    base.feed(PROMPT)
    batch = base.fork(8)
    assert batch.cache.batch_size == 8
    out = batch.generate(10, GREEDY)
    assert out.tokens == [want] * 8


def test_batch8_different_prompts_equals_separate_runs(model: K2ForCausalLM) -> None:
    g = torch.Generator().manual_seed(3)
    prompts = torch.randint(0, 128, (8, 6), generator=g).tolist()
    s = Session(model, 64, batch_size=8)
    s.feed_rows(prompts)
    out = s.generate(8, GREEDY)
    for p, toks in zip(prompts, out.tokens, strict=True):
        assert toks == greedy_reference(model, p, 8)
    assert len({tuple(t) for t in out.tokens}) > 1  # the rows really differ


def test_same_seed_reproduces_and_rows_are_independent(model: K2ForCausalLM) -> None:
    params = SamplingParams(temperature=1.0, top_p=0.95, top_k=50)

    def run(batch: int, seeds: list[int | None]) -> list[list[int]]:
        s = Session(model, 64)
        s.feed(PROMPT)
        runner = s.fork(batch) if batch > 1 else s
        return runner.generate(16, params, seeds).tokens

    a = run(4, [11, 12, 13, 14])
    b = run(4, [11, 12, 13, 14])
    assert a == b
    assert len({tuple(t) for t in a}) > 1  # different seeds, different samples
    # a row's draws depend on its own seed only, not on its batch neighbours
    assert run(1, [13])[0] == a[2]


def test_forced_tokens_replace_sampling(model: K2ForCausalLM) -> None:
    s = Session(model, 64)
    s.feed(PROMPT)
    batch = s.fork(3)
    forced = [7, 8, 9]
    steps = []
    for step in batch.stream(8, GREEDY):
        steps.append(step)
        if step.index == 1:
            batch.force(1, forced)
    row1 = [st.tokens[1] for st in steps]
    mask1 = [st.forced[1] for st in steps]
    assert row1[2:5] == forced and mask1 == [False, False, True, True, True, False, False, False]
    assert not any(st.forced[0] or st.forced[2] for st in steps)
    # after the forced tokens, row 1 continues greedily from the forced context
    prefix = PROMPT + [t for t in row1[:5] if t is not None]
    assert row1[5:] == greedy_reference(model, prefix, 3)
    # the other rows are unaffected
    assert [st.tokens[0] for st in steps] == greedy_reference(model, PROMPT, 8)


def test_chunked_injection_equals_token_by_token(model: K2ForCausalLM) -> None:
    chunk = [40, 41, 42, 43, 44, 45]
    a = Session(model, 64)
    a.feed(PROMPT)
    la = a.feed(chunk)  # one forward at start_pos = len(PROMPT) > 0
    b = Session(model, 64)
    b.feed(PROMPT)
    for t in chunk:
        lb = b.feed([t])
    assert a.position == b.position == len(PROMPT) + len(chunk)
    assert torch.allclose(la, lb, atol=1e-5, rtol=0)
    assert a.generate(6, GREEDY).tokens == b.generate(6, GREEDY).tokens


def test_injection_mid_stream(model: K2ForCausalLM) -> None:
    counting = Counting(model)
    s = Session(counting, 64)  # type: ignore[arg-type]
    s.feed(PROMPT)
    got: list[int] = []
    chunk = [90, 91, 92, 93]
    for step in s.stream(6, GREEDY):
        assert step.tokens[0] is not None
        got.append(step.tokens[0])
        if step.index == 2:
            before = counting.calls
            s.feed(chunk)  # the pending token and the chunk go in one forward
            assert counting.calls == before + 1
    expect_first = greedy_reference(model, PROMPT, 3)
    assert got[:3] == expect_first
    assert got[3:] == greedy_reference(model, PROMPT + expect_first + chunk, 3)
    assert s.tokens == PROMPT + got[:3] + chunk + got[3:]


def test_per_sequence_stopping(model: K2ForCausalLM) -> None:
    g = torch.Generator().manual_seed(4)
    prompts = torch.randint(0, 128, (4, 5), generator=g).tolist()
    refs = [greedy_reference(model, p, 10) for p in prompts]
    stop = refs[1][3]  # row 1 stops at step 3 (or earlier if the token shows up before)
    s = Session(model, 64, batch_size=4)
    s.feed_rows(prompts)
    out = s.generate(10, GREEDY, stop_tokens={stop})
    for ref, toks, why in zip(refs, out.tokens, out.finish_reasons, strict=True):
        if stop in ref:
            cut = ref.index(stop) + 1
            assert toks == ref[:cut] and why == "stop"
        else:
            assert toks == ref and why == "length"
    assert out.finish_reasons[1] == "stop" and len(out.tokens[1]) <= 4
    # rows that stopped while others went on were dropped from the cache
    longest = max(len(t) for t in out.tokens)
    assert s.cache.batch_size == sum(len(t) == longest for t in out.tokens)


def test_finished_rows_leave_the_batch(model: K2ForCausalLM) -> None:
    s = Session(model, 64)
    s.feed(PROMPT)
    batch = s.fork(4)
    ref = greedy_reference(model, PROMPT, 6)
    seen_sizes = []
    for step in batch.stream(6, GREEDY, stop_tokens=()):
        seen_sizes.append(batch.cache.batch_size)
        if step.index == 0:
            batch.rows[2].done = True  # as if row 2 had sampled a stop token
            batch.rows[3].done = True
    assert seen_sizes == [4, 2, 2, 2, 2, 2]
    assert batch.rows[0].history[len(PROMPT) :] == ref


def test_sync_reuses_common_prefix(model: K2ForCausalLM) -> None:
    counting = Counting(model)
    s = Session(counting, 64)  # type: ignore[arg-type]
    conv1 = [*PROMPT, 20, 21, 22]
    s.sync(conv1)
    gen = s.generate(4, GREEDY).tokens[0]
    conv2 = conv1 + gen[:2] + [60, 61, 62]  # tool result replaces the rest of the old turn
    counting.tokens = 0
    logits = s.sync(conv2)
    assert counting.tokens == 3  # only the new suffix was fed
    fresh = Session(model, 64)
    assert torch.allclose(logits, fresh.feed(conv2), atol=1e-5, rtol=0)
    assert s.tokens == conv2 and s.position == len(conv2)
    # same tokens again: nothing to recompute
    counting.tokens = 0
    assert torch.allclose(s.sync(conv2), logits)
    assert counting.tokens == 0


def test_rollback_and_truncate(model: K2ForCausalLM) -> None:
    s = Session(model, 64)
    s.feed(PROMPT)
    first = s.generate(5, GREEDY).tokens[0]
    s.rollback(5 + 1)  # drop the generation and the last prompt token
    assert s.tokens == PROMPT[:-1]
    s.feed(PROMPT[-1:])
    assert s.generate(5, GREEDY).tokens[0] == first
    s.truncate(2)
    assert s.position == 2 and s.tokens == PROMPT[:2]
    with pytest.raises(ValueError, match="truncate"):
        s.truncate(50)


def test_errors_name_the_problem(model: K2ForCausalLM) -> None:
    s = Session(model, 8)
    with pytest.raises(ValueError, match="feed"):
        s.generate(3, GREEDY)
    with pytest.raises(ValueError, match="max_seq_len"):
        s.feed(list(range(9)))
    s2 = Session(model, 16, batch_size=2)
    with pytest.raises(ValueError, match="batch-1"):
        s2.feed([1, 2])
    with pytest.raises(ValueError, match="equal numbers"):
        s2.feed_rows([[1, 2], [3]])


def test_generate_cli_bytes_prompt_batch_and_seed(tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from thinkact.cli.main import app
    from thinkact.model.checkpoint import save_checkpoint

    torch.manual_seed(1)
    m = K2ForCausalLM(tiny_config(vocab_size=300, initializer_range=0.15)).eval()
    save_checkpoint(m, tmp_path / "ckpt")
    args = [
        "model",
        "generate",
        str(tmp_path / "ckpt"),
        "--prompt",
        "hi there",
        "--max-new-tokens",
        "5",
        "--batch",
        "3",
        "--json",
    ]
    runner = CliRunner()

    def run(*extra: str) -> dict[str, Any]:
        res = runner.invoke(app, [*args, *extra])
        assert res.exit_code == 0, res.output
        out: dict[str, Any] = json.loads(res.output.strip().splitlines()[-1])
        return out

    greedy = run()
    assert greedy["prompt_tokens"] == len(b"hi there")
    rows = [r["tokens"] for r in greedy["rows"]]
    assert rows == [greedy_reference(m, list(b"hi there"), 5)] * 3
    sampled = run("--temperature", "1.0", "--seed", "9")
    assert sampled["rows"] == run("--temperature", "1.0", "--seed", "9")["rows"]
    assert all(len(r["tokens"]) == 5 and "text" in r for r in sampled["rows"])
    bad = runner.invoke(app, ["model", "generate", str(tmp_path / "ckpt"), "--prompt-ids", "1,x"])
    assert bad.exit_code != 0 and "integers" in bad.output
