"""Byte-level BPE tokenizer with K2 specials; tiktoken-format interchange; render→parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.k2_chat import WEATHER, example_conversation, tiny_tokenizer
from thinkact.chat_format.ids import normalize_tool_call_ids
from thinkact.chat_format.parser import K2OutputParser
from thinkact.chat_format.render import generation_prompt, render, render_assistant_body
from thinkact.chat_format.tokenizer import (
    PRETOKENIZE_PATTERN,
    K2Tokenizer,
    export_tiktoken,
    read_tiktoken_model,
    train_tokenizer,
)
from thinkact.chat_format.tokens import IM_END, K2_SPECIAL_IDS, K2_SPECIAL_NAMES, THINK
from thinkact.messages import Message, ToolCall

SAMPLES = [
    "Hello world, it's a test: 12345678 and 3.14159!",
    "北京天气晴朗。Mixed 中文 and English, they're here.",
    "def f(x):\n    return {\"a\": [1, 2, 3]}\n\n\n  tabs\tand  spaces  ",
    "CamelCaseWords HTTPServer don't WON'T émigré naïve 😀 emoji",
    render(example_conversation(), [WEATHER]),
]


def test_specials_on_top_in_k2_order_and_single_tokens() -> None:
    tok = tiny_tokenizer()
    ids = [tok.special_id(n) for n in K2_SPECIAL_NAMES]
    assert ids == list(range(tok.vocab_size - len(ids), tok.vocab_size))
    assert tok.encode("a<|im_end|>b").count(tok.special_id(IM_END)) == 1
    assert tok.decode([tok.special_id(THINK)]) == THINK
    with pytest.raises(KeyError, match="no special token"):
        tok.special_id("<|nope|>")


@pytest.mark.parametrize("text", SAMPLES)
def test_encode_decode_round_trip(text: str) -> None:
    tok = tiny_tokenizer()
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    dec = tok.stream_decoder()
    assert "".join(dec.feed([i]) for i in ids) + dec.flush() == text  # one token at a time


def test_pretokenizer_splits_like_section_4_1() -> None:
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated")
    pieces = [p for p, _ in split.pre_tokenize_str("北京abc It's 1234567\n\n  x")]
    assert pieces == ["北京", "abc", " It's", " ", "123", "456", "7", "\n\n", " ", " x"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    tok = tiny_tokenizer()
    tok.save(tmp_path)
    assert (tmp_path / "tokenizer.json").exists() and (tmp_path / "tokenizer_config.json").exists()
    again = K2Tokenizer.load(tmp_path)
    assert again.specials == tok.specials
    for text in SAMPLES:
        assert again.encode(text) == tok.encode(text)


@pytest.mark.parametrize("engine", ["tiktoken", "tokenizers"])
def test_tiktoken_format_file_encodes_identically(tmp_path: Path, engine: str) -> None:
    """Export the trained BPE as a K2-style tiktoken file, load it back with tiktoken itself or
    as a BPE rebuilt from the ranks: same ids as the original on every sample."""
    tok = tiny_tokenizer()
    export_tiktoken(tok, tmp_path)
    ranks = read_tiktoken_model(tmp_path / "tiktoken.model")
    assert len(ranks) == tok.vocab_size - len(tok.specials)
    tik = K2Tokenizer.load(tmp_path, engine=engine)
    assert tik.specials == tok.specials
    source = Path(__file__).read_text()  # a longer, varied text
    for text in [*SAMPLES, source]:
        assert tik.encode(text) == tok.encode(text), text[:80]
        assert tik.decode(tok.encode(text)) == text


def test_tiktoken_dir_without_config_uses_k2_ids(tmp_path: Path) -> None:
    tok = train_tokenizer(["abc abd"] * 5, vocab_size=300, special_names=())
    export_tiktoken(tok, tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()
    k2 = K2Tokenizer.load(tmp_path)
    assert k2.special_id(IM_END) == K2_SPECIAL_IDS[IM_END] == 163586
    assert k2.encode("ab<|im_end|>") [-1] == 163586


def test_bad_inputs_named() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["x"], vocab_size=100)
    with pytest.raises(FileNotFoundError):
        K2Tokenizer.load("/nonexistent-dir")
    with pytest.raises(ValueError, match="engine"):
        K2Tokenizer.load("/nonexistent-dir", engine="sentencepiece")


def test_render_tokenize_parse_round_trip() -> None:
    """Each assistant turn of a conversation, rendered and re-tokenized, then fed to the parser
    one token at a time (as generated tokens would be), gives back the original message."""
    tok = tiny_tokenizer()
    conv = [
        Message.user("Weather in Beijing?"),
        Message(role="assistant", reasoning="Need the tool. 北京", content="Checking. ",
                tool_calls=[ToolCall(id="call_1", name="get_weather",
                                     arguments='{"city": "Beijing"}'),
                            ToolCall(id="call_2", name="get_weather",
                                     arguments='{"city": "Tokyo"}')]),
        Message(role="tool", content="Sunny", tool_call_id="call_1"),
        Message(role="tool", content="Rain", tool_call_id="call_2"),
        Message(role="assistant", reasoning="Both known.", content="Sunny and rain."),
    ]
    conv = normalize_tool_call_ids(conv)  # what the model sees (and echoes back)
    for i, msg in enumerate(conv):
        if msg.role != "assistant":
            continue
        # The step's prompt is the rendered history up to here (current-turn reasoning kept).
        assert render(conv[:i], [WEATHER]).endswith(generation_prompt())
        body = render_assistant_body(msg) + IM_END
        parser = K2OutputParser(tools=[WEATHER])
        dec = tok.stream_decoder()
        for t in tok.encode(body):
            parser.feed(dec.feed([t]))
        parser.feed(dec.flush())
        got = parser.final()
        assert got.finished
        assert got.reasoning == msg.reasoning and got.content == msg.content
        assert [(c.id, c.name, c.arguments) for c in got.tool_calls] == [
            (c.id, c.name, c.arguments) for c in msg.tool_calls]
    assert sum(len(m.tool_calls) for m in conv) == 2


def test_rebuilt_bpe_rejects_special_ids_far_from_the_vocab(tmp_path: Path) -> None:
    tok = train_tokenizer(["abc abd"] * 5, vocab_size=300, special_names=())
    export_tiktoken(tok, tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()  # K2's own ids (163584+) for a 260-token vocab
    with pytest.raises(ValueError, match="special ids"):
        K2Tokenizer.load(tmp_path, engine="tokenizers")
