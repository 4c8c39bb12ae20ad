"""The incremental JSON-prefix checker and the token-level argument guard."""

from __future__ import annotations

import json

import pytest

from support.k2_chat import tiny_tokenizer
from thinkact.backends.local_json import ArgumentGuard, JsonPrefix
from thinkact.chat_format.tokens import ARG_BEGIN, CALL_END, IM_END

pytestmark = pytest.mark.torch

VALID = ['{}', '{"a": 1}', '{"a":[1,2.5e-3,{"b":null}],"c":"x\\u00e9\\n"}', ' { "k" : true } ',
         '{"a": -0.5, "b": [], "c": {}}', '{"html": "<div>}</div>", "n": 0}', '{"é": "北京"}']
INVALID = ['[1]', '{"a" 1}', '{"a": 01}', '{,}', '{"a":1,}', '{"a": tru}', '{"a": 1}}',
           '{"a":"\\x"}', '{"a": 1.}', '{"a": -}', '{"a": [1,]}', '{"a": ]}', '{"a": "x\ny"}',
           '"str"', '{"a": 1} x']


@pytest.mark.parametrize("text", VALID)
def test_valid_objects_and_every_prefix(text: str) -> None:
    json.loads(text)
    state = JsonPrefix()
    assert state.feed(text) and state.complete
    for i in range(len(text)):
        partial = JsonPrefix()
        assert partial.feed(text[:i]) and partial.complete == (i >= len(text.rstrip()))


@pytest.mark.parametrize("text", INVALID)
def test_invalid_is_rejected(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise json.JSONDecodeError("not an object", text, 0)
    state = JsonPrefix()
    assert not (state.feed(text) and state.complete)


def test_guard_allows_end_marker_only_when_complete() -> None:
    tok = tiny_tokenizer()
    guard = ArgumentGuard(tok.special_id(ARG_BEGIN), tok.special_id(CALL_END),
                          list(tok.specials.values()), lambda t: tok.decode([t]))
    end, im_end = tok.special_id(CALL_END), tok.special_id(IM_END)
    assert not guard.active and guard.allows(tok.encode("}")[0])
    guard.observe(tok.special_id(ARG_BEGIN))
    assert guard.active and not guard.allows(end) and not guard.allows(im_end)
    assert not guard.allows(tok.encode("}")[0])
    for t in tok.encode('{"city": "Beijing"'):
        assert guard.allows(t)
        guard.observe(t)
    assert not guard.allows(end)
    guard.observe(tok.encode("}")[0])
    assert guard.allows(end)
    guard.observe(end)
    assert not guard.active
