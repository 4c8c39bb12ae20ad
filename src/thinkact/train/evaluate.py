"""Does the model do the job? Greedy episodes through the real local backend and parser.

For each held-out task the model gets the question with the default tools declared. Step 1
passes when it calls ``python`` with exactly the code that answers the task; the tool's real
output (known in advance, since the code is right) is then appended, and step 2 passes when
the final answer contains the result. Step 1 runs the model's own tokens through
:class:`~thinkact.chat_format.parser.K2OutputParser`, so a malformed call counts as a failure.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from thinkact.backends.base import GenerationOptions
from thinkact.chat_format.render import ChatFormat
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.events import AssistantMessage
from thinkact.messages import Message
from thinkact.train.data import tool_specs
from thinkact.train.episodes import TOOL_NAMES
from thinkact.train.tasks import Task, random_task


async def _turn(backend: Any, messages: list[Message], tools: list[Any]) -> Message:
    final: Message | None = None
    async for event in backend.stream(messages, tools, GenerationOptions(max_tokens=160,
                                                                         temperature=0.0)):
        if isinstance(event, AssistantMessage):
            final = event.message
    assert final is not None
    return final


def _code_of(msg: Message) -> str | None:
    if len(msg.tool_calls) != 1 or msg.tool_calls[0].name != "python":
        return None
    try:
        args = json.loads(msg.tool_calls[0].arguments)
    except json.JSONDecodeError:
        return None
    return args.get("code") if isinstance(args, dict) else None


async def _episode(backend: Any, task: Task, tools: list[Any]) -> tuple[bool, bool]:
    messages = [Message(role="user", content=task.question)]
    first = await _turn(backend, messages, tools)
    if _code_of(first) != task.code:
        return False, False
    call = first.tool_calls[0]
    messages += [first, Message(role="tool", content=task.output, tool_call_id=call.id,
                                name="python")]
    second = await _turn(backend, messages, tools)
    return True, not second.tool_calls and task.result in (second.content or "")


def evaluate(model: Any, tok: K2Tokenizer, fmt: ChatFormat, n: int = 24, seed: int = 10_000
             ) -> dict[str, Any]:
    """Fractions of ``n`` held-out tasks with a correct call and a correct final answer."""
    from thinkact.backends.local import LocalBackend

    backend = LocalBackend(model, tok, fmt=fmt, temperature=0.0, max_seq_len=1024)
    rng = random.Random(seed)
    tools = tool_specs(TOOL_NAMES)
    results = [asyncio.run(_episode(backend, random_task(rng), tools)) for _ in range(n)]
    return {"tasks": n, "call_ok": sum(c for c, _ in results) / n,
            "answer_ok": sum(a for _, a in results) / n}
