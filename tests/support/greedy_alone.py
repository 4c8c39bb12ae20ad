"""The reference for batched local decoding: one request decoded by itself with the engine
(a fresh cache, the whole prompt in one forward, greedy, token by token) and parsed the way
``LocalBackend`` parses. Needs torch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from thinkact.messages import Message, ToolSpec


def greedy_alone(backend: Any, msgs: list[Message], max_new: int,
                 tools: Sequence[ToolSpec] = ()) -> Message:
    from thinkact.chat_format.parser import K2OutputParser
    from thinkact.model.engine import Session
    from thinkact.model.sampling import SamplingParams

    prompt = backend.prompt_ids(msgs, tools)
    s = Session(backend.model, backend.max_seq_len)
    s.sync(prompt)
    stop = backend.tokenizer.special_id(backend.fmt.markers.im_end)
    toks = s.generate(max_new, SamplingParams(temperature=0.0), stop_tokens={stop}).tokens[0]
    parser = K2OutputParser(tools=list(tools), implicit_reasoning=backend.implicit_reasoning,
                            markers=backend.fmt.markers)
    decoder = backend.tokenizer.stream_decoder()
    parser.feed(decoder.feed(toks))
    parser.feed(decoder.flush())
    parser.flush()
    return parser.final().to_message()
