"""The checkpoint's Jinja chat_template renders what thinkact renders, token for token, through
transformers' ``AutoTokenizer.apply_chat_template`` (tools, reasoning, tool results)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from thinkact.backends.embedded import EMBEDDED_DIR
from thinkact.backends.local_checkpoint import load_chat_format
from thinkact.chat_format.jinja import chat_template, write_chat_template
from thinkact.chat_format.render import DEFAULT_FORMAT, ChatFormat, render
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.messages import Message, ToolCall
from thinkact.train.data import tool_specs

SPECS = tool_specs(["python", "files", "facts", "search"])


def _call(cid: str, name: str, args: dict[str, Any]) -> ToolCall:
    return ToolCall(id=cid, name=name, arguments=json.dumps(args))


CONVERSATION = [
    Message(role="user", content="What is 17 * 23 + 4?"),
    Message(role="assistant", reasoning="Compute it.", content="",
            tool_calls=[_call("call_a", "python", {"code": "print(17 * 23 + 4)"})]),
    Message(role="tool", content="395\n", tool_call_id="call_a", name="python"),
    Message(role="assistant", reasoning="It printed 395.", content="17 * 23 + 4 = 395"),
    Message(role="user", content="And the capital of Kenya, then its population?"),
    Message(role="assistant", reasoning="Two lookups.", content="Looking up.",
            tool_calls=[_call("call_0", "facts", {"sql": "SELECT capital FROM country"}),
                        _call("call_1", "search", {"query": "Kenya"})]),
    Message(role="tool", content="capital\n-------\nNairobi\n(1 row)", tool_call_id="call_0",
            name="facts"),
    Message(role="tool", content="No local documents match.", tool_call_id="call_1"),
    Message(role="assistant", reasoning="Now python: ünïcode ok.", content="",
            tool_calls=[_call("call_0", "python", {"code": "print('{{ x }}')"})]),
    Message(role="tool", content="{{ x }}", tool_call_id="call_0", name="python"),
]


def hf_message(m: Message) -> dict[str, Any]:
    """A thinkact message in the OpenAI / transformers shape."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.reasoning is not None:
        out["reasoning_content"] = m.reasoning
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments}}
                             for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    if m.name:
        out["name"] = m.name
    return out


def test_the_bundled_model_renders_the_same_tokens_through_transformers() -> None:
    hf = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    tok = K2Tokenizer.load(EMBEDDED_DIR)
    fmt = load_chat_format(EMBEDDED_DIR)
    tools = [s.to_openai() for s in SPECS]
    for k in range(1, len(CONVERSATION) + 1):
        msgs = CONVERSATION[:k]
        want = tok.encode(render(msgs, SPECS, fmt=fmt))
        got = hf.apply_chat_template([hf_message(m) for m in msgs], tools=tools,
                                     add_generation_prompt=True, tokenize=True,
                                     return_dict=False)
        assert list(got) == want, k
    text = hf.apply_chat_template([hf_message(m) for m in CONVERSATION], tokenize=False)
    assert text == render(CONVERSATION, fmt=fmt, add_generation_prompt=False)


@pytest.mark.parametrize("fmt", [DEFAULT_FORMAT, ChatFormat(default_system=None,
                                                            reasoning_retention="all",
                                                            think_in_prompt=True)])
def test_other_formats_render_the_same_text(fmt: ChatFormat, tmp_path: Path) -> None:
    shutil.copytree(EMBEDDED_DIR, tmp_path / "ck")
    write_chat_template(tmp_path / "ck", fmt)
    hf = AutoTokenizer.from_pretrained(tmp_path / "ck")
    tools = [s.to_openai() for s in SPECS]
    system = [Message(role="system", content="Be brief.")]
    for msgs in (CONVERSATION, system + CONVERSATION[:4]):
        got = hf.apply_chat_template([hf_message(m) for m in msgs], tools=tools,
                                     add_generation_prompt=True, tokenize=False)
        assert got == render(msgs, SPECS, fmt=fmt)


def test_per_turn_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="global ids"):
        chat_template(ChatFormat(id_scheme="per_turn"))
