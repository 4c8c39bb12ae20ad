"""Hand-built event sequences shaped like the agent loop's, for store tests."""

from __future__ import annotations

import json

from thinkact.events import (
    AssistantMessage,
    ContentDelta,
    Event,
    FinalAnswer,
    Notice,
    ReasoningDelta,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, ToolCall, ToolResult, Usage

INITIAL = [Message.system("You are careful."), Message.user("Count the files.")]


def started(run_id: str, resumed_from: int | None = None) -> RunStarted:
    return RunStarted(run_id=run_id, task="Count the files.", model="m",
                      config={"tools": ["files"], "budget": {"max_steps": 9}},
                      messages=[] if resumed_from is not None else INITIAL,
                      resumed_from_step=resumed_from)


def tool_step(step: int, calls: int = 1, *, finish: bool = True, notice: bool = False,
              tag: str = "") -> list[Event]:
    """A step with ``calls`` tool calls; without ``finish`` it stops before StepFinished."""
    reasoning = f"thinking about step {step}{tag} ✓"
    tool_calls = [ToolCall(id=f"c{step}-{j}", name="files",
                           arguments=json.dumps({"action": "list", "path": f"d{step}{j}"}))
                  for j in range(calls)]
    msg = Message(role="assistant", content=f"step {step}{tag}", reasoning=reasoning,
                  tool_calls=tool_calls)
    events: list[Event] = [StepStarted(step=step)]
    events += [ReasoningDelta(text=reasoning[i:i + 5]) for i in range(0, len(reasoning), 5)]
    events += [ContentDelta(text=f"step {step}{tag}"),
               AssistantMessage(message=msg, usage=Usage(prompt_tokens=100 * step,
                                                         completion_tokens=10,
                                                         reasoning_tokens=4),
                                finish_reason="tool_calls", duration_s=0.5)]
    events += [ToolCallStarted(call=c) for c in tool_calls]
    events += [ToolResultEvent(result=ToolResult(call_id=c.id, name=c.name,
                                                 content=f"result of {c.id}{tag}",
                                                 error="exception" if j == 1 else None,
                                                 duration_s=0.01))
               for j, c in enumerate(tool_calls)]
    if notice:
        events.append(Notice(kind="repeat", text="you repeat yourself",
                             message=Message.user("you repeat yourself")))
    if finish:
        events.append(StepFinished(step=step))
    return events


def answer_step(step: int, text: str = "There are 3 files.") -> list[Event]:
    msg = Message(role="assistant", content=text, reasoning="done")
    return [StepStarted(step=step), ReasoningDelta(text="done"), ContentDelta(text=text),
            AssistantMessage(message=msg, usage=Usage(prompt_tokens=500, completion_tokens=5),
                             finish_reason="stop"),
            StepFinished(step=step), FinalAnswer(content=text)]


def finished(steps: int, tool_calls: int, status: str = "completed") -> RunFinished:
    return RunFinished(status=status, reason="answered", steps=steps,  # type: ignore[arg-type]
                       tool_calls=tool_calls)
