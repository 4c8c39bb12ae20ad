"""Parser conformance (docs/k2.md, "Output parsing"), non-streaming and streamed in chunks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from support.k2_chat import WEATHER, tiny_tokenizer
from thinkact.chat_format.parser import K2OutputParser, ParseResult, TextDelta, ToolCallParsed
from thinkact.chat_format.tokens import (
    ARG_BEGIN as AB,
)
from thinkact.chat_format.tokens import (
    CALL_BEGIN as CB,
)
from thinkact.chat_format.tokens import (
    CALL_END as CE,
)
from thinkact.chat_format.tokens import (
    DEFAULT_MARKERS,
    IM_END,
)
from thinkact.chat_format.tokens import (
    SECTION_BEGIN as SB,
)
from thinkact.chat_format.tokens import (
    SECTION_END as SE,
)
from thinkact.messages import ToolSpec

NEWS = ToolSpec(name="get_news", description="news",
                parameters={"type": "object", "properties": {"topic": {"type": "string"}}})
TIME = ToolSpec(name="get_time", description="time",
                parameters={"type": "object", "properties": {"city": {"type": "string"},
                                                             "tz": {"type": "string"}}})


def call(ident: str, args: str, space: str = " ") -> str:
    """One call as the vLLM tests write it (a space before the argument marker)."""
    return f"{CB}{ident}{space}{AB}{args}{CE}"


@dataclass
class Case:
    name: str
    text: str
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments)
    content: str | None = None
    reasoning: str | None = None
    implicit: bool = False  # tool-parser cases: no implicit reasoning
    tools: list[ToolSpec] = field(default_factory=list)
    truncated: list[bool] | None = None
    malformed: list[str] = field(default_factory=list)
    finished: bool = False


BJ, SH, PARIS = '{"city": "Beijing"}', '{"city": "Shanghai"}', '{"city": "Paris"}'
PRETTY = '{\n  "name": "test",\n  "value": 123\n}'
NESTED = '{"code": "def f():\\n    return {\\"a\\": {\\"b\\": 1}}", "md": "## T\\n- `x`"}'

CASES = [
    # vLLM kimi_k2 tool parser
    Case("no tools", "This is a test", content="This is a test"),
    Case("single call", "I'll check. " + SB + call("functions.get_weather:0", BJ) + SE,
         [("functions.get_weather:0", "get_weather", BJ)], content="I'll check. "),
    Case("parallel calls", SB + call("functions.get_weather:0", BJ)
         + call("functions.get_weather:1", SH) + SE,
         [("functions.get_weather:0", "get_weather", BJ),
          ("functions.get_weather:1", "get_weather", SH)]),
    Case("three calls", SB + call("functions.get_weather:0", BJ)
         + call("functions.get_news:1", '{"topic": "ai"}')
         + call("functions.send_email:2", '{"to": "a@b.c"}') + SE,
         [("functions.get_weather:0", "get_weather", BJ),
          ("functions.get_news:1", "get_news", '{"topic": "ai"}'),
          ("functions.send_email:2", "send_email", '{"to": "a@b.c"}')]),
    Case("angle brackets in JSON", SB + call("functions.render:0",
                                             '{"html": "<div>content</div>"}') + SE,
         [("functions.render:0", "render", '{"html": "<div>content</div>"}')]),
    Case("multi-line JSON", SB + call("functions.test:0", "\n" + PRETTY + "\n") + SE,
         [("functions.test:0", "test", PRETTY)]),
    Case("no functions. prefix", SB + call("get_weather:0", BJ) + SE,
         [("get_weather:0", "get_weather", BJ)]),
    Case("empty arguments", SB + call("functions.test:0", "{}") + SE,
         [("functions.test:0", "test", "{}")]),
    Case("bad JSON still extracted", SB + call("functions.bad:0", '{"a": 1')
         + call("functions.good:1", '{"b": 2}') + SE,
         [("functions.bad:0", "bad", '{"a": 1'), ("functions.good:1", "good", '{"b": 2}')]),
    Case("malformed identifier skipped", SB + call("functions.invalid.0", "{}")
         + call("functions.valid:1", "{}") + SE,
         [("functions.valid:1", "valid", "{}")], malformed=["functions.invalid.0"]),
    Case("bare counter, one tool", SB + call("0", BJ) + SE,
         [("functions.get_weather:0", "get_weather", BJ)], tools=[WEATHER]),
    Case("bare counter, inferred from keys", SB + call("1", '{"topic": "x"}') + SE,
         [("functions.get_news:1", "get_news", '{"topic": "x"}')], tools=[WEATHER, NEWS]),
    Case("bare counter, ambiguous dropped", SB + call("0", BJ) + SE,
         tools=[WEATHER, TIME], malformed=["0"]),
    Case("noise between section and call", SB + "  noise\n" + call("functions.f:0", "{}") + SE,
         [("functions.f:0", "f", "{}")]),
    Case("empty section", "Nothing to call." + SB + SE, content="Nothing to call."),
    Case("truncated call", SB + call("functions.get_weather:0", '{"city": "Bei')[: -len(CE)],
         [("functions.get_weather:0", "get_weather", '{"city": "Bei')], truncated=[True]),
    Case("text after section end dropped", SB + call("functions.f:0", "{}") + SE + "trailing",
         [("functions.f:0", "f", "{}")]),
    # vLLM and SGLang return the calls of every section, not only the first one's
    Case("two sections", "Checking. " + SB + call("functions.f:0", "{}") + SE + " then "
         + SB + call("functions.g:1", BJ) + call("functions.h:2", "{}") + SE,
         [("functions.f:0", "f", "{}"), ("functions.g:1", "g", BJ), ("functions.h:2", "h", "{}")],
         content="Checking. "),
    Case("second section cut off", SB + call("functions.f:0", "{}") + SE + SB + CB
         + "functions.g:1" + AB + '{"x"',
         [("functions.f:0", "f", "{}"), ("functions.g:1", "g", '{"x"')],
         truncated=[False, True]),
    # SGLang KimiK2Detector
    Case("sglang single call", SB + call("functions.get_weather:0", PARIS, "") + SE,
         [("functions.get_weather:0", "get_weather", PARIS)]),
    Case("sglang two calls", SB + call("functions.get_weather:0", PARIS, "")
         + call("functions.get_tourist_attractions:1", PARIS, "") + SE,
         [("functions.get_weather:0", "get_weather", PARIS),
          ("functions.get_tourist_attractions:1", "get_tourist_attractions", PARIS)]),
    Case("sglang partial call", SB + CB + "functions.get_weather:0" + AB + '{"city": "Paris"',
         [("functions.get_weather:0", "get_weather", '{"city": "Paris"')], truncated=[True]),
    Case("sglang no section begin", "functions.get_weather:0" + AB + PARIS,
         content="functions.get_weather:0" + AB + PARIS),
    Case("sglang nested braces and markdown", SB + call("functions.run:0", NESTED, "") + SE,
         [("functions.run:0", "run", NESTED)]),
    Case("sglang prefix text", "Let me look. " + SB + call("functions.f:0", "{}", "") + SE,
         [("functions.f:0", "f", "{}")], content="Let me look. "),
    # vLLM kimi_k2 reasoning parser and SGLang forced reasoning
    Case("think then answer", "<think>step by step reasoning</think>final answer",
         content="final answer", reasoning="step by step reasoning", implicit=True),
    Case("empty think", "<think></think>final answer", content="final answer", reasoning="",
         implicit=True),
    Case("implicit reasoning", "implicit reasoning with no tags",
         reasoning="implicit reasoning with no tags", implicit=True),
    Case("section begin ends reasoning", "some reasoning" + SB + call("functions.f:0", "{}") + SE,
         [("functions.f:0", "f", "{}")], reasoning="some reasoning", implicit=True),
    Case("think, content, calls, end", "<think>Plan.</think>Checking. " + SB
         + call("functions.get_weather:0", BJ, "") + SE + IM_END + "ignored",
         [("functions.get_weather:0", "get_weather", BJ)], content="Checking. ",
         reasoning="Plan.", implicit=True, finished=True),
    Case("im_end ends the turn", "<think>r</think>answer" + IM_END + "garbage",
         content="answer", reasoning="r", implicit=True, finished=True),
    Case("im_end inside arguments", SB + CB + "functions.f:0" + AB + '{"x": 1' + IM_END,
         [("functions.f:0", "f", '{"x": 1')], truncated=[True], finished=True),
    Case("call interrupted by next call", SB + CB + "functions.f:0" + AB + '{"x"'
         + call("functions.g:1", "{}") + SE,
         [("functions.f:0", "f", '{"x"'), ("functions.g:1", "g", "{}")],
         truncated=[True, False]),
]

Chunker = Callable[[str], list[str]]


def char_chunks(n: int) -> Chunker:
    return lambda text: [text[i:i + n] for i in range(0, len(text), n)]


def token_chunks(n: int) -> Chunker:
    def cut(text: str) -> list[str]:
        tok = tiny_tokenizer()
        ids = tok.encode(text)
        dec = tok.stream_decoder()
        pieces = [dec.feed(ids[i:i + n]) for i in range(0, len(ids), n)]
        return [*pieces, dec.flush()]
    return cut


CHUNKERS = {"whole": lambda t: [t]} | {
    f"chars{n}": char_chunks(n) for n in (1, 2, 3, 5, 8)} | {
    f"tokens{n}": token_chunks(n) for n in (1, 2, 3, 5, 8)}


def run(case: Case, chunks: list[str]) -> tuple[ParseResult, list[Any]]:
    parser = K2OutputParser(implicit_reasoning=case.implicit, tools=case.tools)
    events = [e for c in chunks for e in parser.feed(c)]
    events += parser.flush()
    return parser.final(), events


def summary(res: ParseResult) -> dict[str, Any]:
    return {"reasoning": res.reasoning, "content": res.content, "malformed": res.malformed,
            "finished": res.finished,
            "calls": [(c.id, c.name, c.arguments, c.truncated) for c in res.tool_calls]}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case: Case) -> None:
    res, _ = run(case, [case.text])
    assert [(c.id, c.name, c.arguments) for c in res.tool_calls] == case.calls
    assert res.content == case.content
    assert res.reasoning == case.reasoning
    assert res.malformed == case.malformed
    assert res.finished == case.finished
    assert [c.truncated for c in res.tool_calls] == (case.truncated or [False] * len(case.calls))
    assert res.truncated == any(case.truncated or [])


@pytest.mark.parametrize("chunker", list(CHUNKERS), ids=list(CHUNKERS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_streaming_matches_non_streaming(case: Case, chunker: str) -> None:
    chunks = CHUNKERS[chunker](case.text)
    assert "".join(chunks) == case.text
    if chunker.startswith("tokens") and chunker != "tokens1":
        assert len(chunks) < len(CHUNKERS["tokens1"](case.text))  # really multi-token chunks
    whole, _ = run(case, [case.text])
    res, events = run(case, chunks)
    assert summary(res) == summary(whole)
    # Deltas add up to the final text, and no marker leaks into them.
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert "".join(d.text for d in deltas if d.kind == "reasoning") == (res.reasoning or "")
    assert "".join(d.text for d in deltas if d.kind == "content") == (res.content or "")
    leaked = [m for d in deltas for m in DEFAULT_MARKERS.all() if m in d.text]
    assert not leaked or case.name == "sglang no section begin"
    called = [e.call for e in events if isinstance(e, ToolCallParsed)]
    assert [(c.id, c.arguments) for c in called] == [(c.id, c.arguments) for c in res.tool_calls]


def test_special_markers_are_single_tokens_in_the_tiny_tokenizer() -> None:
    tok = tiny_tokenizer()
    for marker in DEFAULT_MARKERS.all():
        assert tok.encode(marker) == [tok.special_id(marker)]


def test_reasoning_deltas_come_before_content_and_think_tokens_yield_nothing() -> None:
    parser = K2OutputParser()
    assert parser.feed("<think>") == []
    first = parser.feed("abc")
    assert [(e.kind, e.text) for e in first if isinstance(e, TextDelta)] == [("reasoning", "abc")]
    assert parser.feed("</think>") == []
    assert parser.feed("x<|tool_calls_sec") != []  # "x" goes out, the rest could be a marker
    flushed = parser.flush()  # ... and at the end it is plain text after all
    assert [e.text for e in flushed if isinstance(e, TextDelta)] == ["<|tool_calls_sec"]
    res = parser.final()
    assert res.reasoning == "abc" and res.content == "x<|tool_calls_sec"


def test_split_end_marker_never_leaks_into_arguments() -> None:
    parser = K2OutputParser(implicit_reasoning=False)
    for piece in [SB, CB, "functions.f:0", AB, "{", '"city": "Paris"', "}", CE[:7], CE[7:15],
                  CE[15:], SE]:
        parser.feed(piece)
    res = parser.final()
    assert [c.arguments for c in res.tool_calls] == ['{"city": "Paris"}']
    assert json.loads(res.tool_calls[0].arguments) == {"city": "Paris"}


def test_truncated_flag_reaches_the_message_tool_call() -> None:
    from thinkact.chat_format.parser import K2OutputParser

    parser = K2OutputParser()
    parser.feed("<think>r</think><|tool_calls_section_begin|><|tool_call_begin|>"
                'functions.f:0<|tool_call_argument_begin|>{"x": 1')
    parser.flush()
    (call,) = parser.final().to_message().tool_calls
    assert call.truncated and call.arguments == '{"x": 1'
