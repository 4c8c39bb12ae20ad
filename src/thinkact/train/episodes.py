"""Whole agent episodes from synthetic tasks, as the agent loop would record them.

An episode is a list of :class:`~thinkact.messages.Message`: the user's question, an assistant
turn that reasons and calls ``python``, the tool's real output, and an assistant turn that
reasons over the output and answers. Some episodes carry an earlier finished exchange first
(so the model sees history whose reasoning the template drops), and a few are small talk with
no tool call. Tool declarations vary (which tools, always in the registry's order) so the
model reads them instead of memorising one prompt.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from thinkact.messages import Message, ToolCall
from thinkact.train.tasks import Task, random_task

THINK_BEFORE = (
    "The user wants {s}. I will compute it with the python tool to be exact.",
    "I need {s}. Let me run it in python rather than guess.",
    "To get {s} right, I will check it with python.",
    "The question asks for {s}. Python will give the exact value.",
)
THINK_AFTER = (
    "The python tool printed {r}. So the answer is {r}.",
    "Python returned {r}, which is {s}.",
    "The output is {r}. That is {s}.",
    "I got {r} from python, so {s} is {r}.",
)
ANSWERS = {
    "arithmetic": ("{s} = {r}", "The answer is {r}.", "{s} = {r}, checked with python."),
    "count": ("There are {r}.", "The answer is {r}.", "{r}"),
    "length": ("It has {r} characters.", "The length is {r}.", "{r}"),
    "sort": ("Sorted: {r}", "In ascending order: {r}", "{r}"),
    "sum": ("The sum is {r}.", "{r}", "The answer is {r}."),
    "reverse": ("Reversed: {r}", "It reads {r}.", "{r}"),
}
SMALL_TALK = (
    (("Hi", "Hello", "hello!", "Hey there"),
     "The user greets me. No tool is needed.",
     "Hello! Ask me something to compute and I will check it with python."),
    (("Who are you?", "What are you?", "What can you do?"),
     "The user asks about me. No tool is needed.",
     "I am thinkact-tiny, a small thinking model. I answer by running python."),
    (("Thanks", "Thank you!", "thanks a lot"),
     "The user thanks me. No tool is needed.",
     "You are welcome!"),
)
TOOL_NAMES = ("python", "files", "search", "browse")


@dataclass(frozen=True)
class Episode:
    """Messages of one conversation; ``train_from`` is the index of the first message of the
    current turn (assistant messages from there on are learned; earlier ones are history)."""

    messages: list[Message]
    tools: list[str]
    train_from: int


def _pick_tools(rng: random.Random, need_python: bool) -> list[str]:
    roll = rng.random()
    if roll < 0.5:
        return list(TOOL_NAMES)
    if roll < 0.7:
        return ["python"]
    keep = [t for t in TOOL_NAMES if (t == "python" and need_python) or rng.random() < 0.5]
    return keep or ["python"]


def tool_exchange(task: Task, rng: random.Random, call_index: int) -> list[Message]:
    """user → assistant (think, call python) → tool output → assistant (think, answer)."""
    call = ToolCall(id=f"functions.python:{call_index}", name="python",
                    arguments=json.dumps({"code": task.code}, ensure_ascii=False))
    r, s = task.result, task.subject
    return [
        Message(role="user", content=task.question),
        Message(role="assistant", content="", reasoning=rng.choice(THINK_BEFORE).format(s=s),
                tool_calls=[call]),
        Message(role="tool", content=task.output, tool_call_id=call.id, name="python"),
        Message(role="assistant", content=rng.choice(ANSWERS[task.kind]).format(s=s, r=r),
                reasoning=rng.choice(THINK_AFTER).format(s=s, r=r)),
    ]


def small_talk(rng: random.Random) -> list[Message]:
    questions, thought, answer = rng.choice(SMALL_TALK)
    return [Message(role="user", content=rng.choice(questions)),
            Message(role="assistant", content=answer, reasoning=thought)]


def _calls_in(messages: Sequence[Message]) -> int:
    return sum(len(m.tool_calls) for m in messages)


def random_episode(rng: random.Random, history_p: float = 0.15, small_talk_p: float = 0.05
                   ) -> Episode:
    """One episode: optional earlier exchange, then the current turn."""
    history: list[Message] = []
    if rng.random() < history_p:
        history = tool_exchange(random_task(rng), rng, 0)
    if rng.random() < small_talk_p:
        current = small_talk(rng)
        tools = _pick_tools(rng, need_python=bool(history))
    else:
        current = tool_exchange(random_task(rng), rng, _calls_in(history))
        tools = _pick_tools(rng, need_python=True)
    return Episode(history + current, tools, len(history))
