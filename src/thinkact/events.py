"""The closed set of typed events that flow out of a run.

Backends yield the model-facing subset (deltas, retries, the finished assistant message);
the agent loop yields all of them; the trace store writes them; every view (CLI live view,
``--json`` JSONL stream, server SSE) renders them. Nothing renders from private state.

Each event is a pydantic model with a literal ``type`` tag, so ``Event`` round-trips through
JSON via ``EVENT_ADAPTER``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, TypeAdapter

from thinkact.messages import Message, ToolCall, ToolResult, Usage

RunStatus = Literal["completed", "stopped", "failed"]  # how a run ended
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)


class RunStarted(BaseModel):
    type: Literal["run_started"] = "run_started"
    run_id: str
    task: str
    model: str
    config: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message] = Field(default_factory=list)  # the initial conversation
    resumed_from_step: int | None = None


class StepStarted(BaseModel):
    type: Literal["step_started"] = "step_started"
    step: int


class ReasoningDelta(BaseModel):
    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ContentDelta(BaseModel):
    type: Literal["content_delta"] = "content_delta"
    text: str


class Retry(BaseModel):
    """A model call failed and will be retried. The failed attempt's deltas are void: a
    consumer drops the last ``discard_deltas`` reasoning/content deltas it received (all
    of them came after the step's ``step_started`` or the previous ``retry``)."""

    type: Literal["retry"] = "retry"
    attempt: int
    error: str
    delay_s: float
    discard_deltas: int = 0


class AssistantMessage(BaseModel):
    """One finished model call: the complete assistant message with its usage."""

    type: Literal["assistant_message"] = "assistant_message"
    message: Message
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    duration_s: float = 0.0


class ToolCallStarted(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    call: ToolCall


class ToolResultEvent(BaseModel):
    type: Literal["tool_result"] = "tool_result"
    result: ToolResult


class StepFinished(BaseModel):
    """All tool results of the step are in; the step is complete and resumable from here."""

    type: Literal["step_finished"] = "step_finished"
    step: int


class ContextCompacted(BaseModel):
    """The request view was shrunk; ``usage``: what the strategy's own model calls spent."""

    type: Literal["context_compacted"] = "context_compacted"
    strategy: str
    tokens_before: int
    tokens_after: int
    detail: str = ""
    usage: Usage = Field(default_factory=Usage)


class Notice(BaseModel):
    """Something the loop told the model or the user (repeat reminder, budget warning)."""

    type: Literal["notice"] = "notice"
    kind: str
    text: str
    message: Message | None = None  # set when the notice was added to the conversation


class FinalAnswer(BaseModel):
    type: Literal["final_answer"] = "final_answer"
    content: str


class RunError(BaseModel):
    type: Literal["error"] = "error"
    message: str
    fatal: bool = False


class RunFinished(BaseModel):
    type: Literal["run_finished"] = "run_finished"
    status: RunStatus
    reason: str
    steps: int
    tool_calls: int
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0


Event = Annotated[
    RunStarted | StepStarted | ReasoningDelta | ContentDelta | Retry | AssistantMessage
    | ToolCallStarted | ToolResultEvent | StepFinished | ContextCompacted | Notice
    | FinalAnswer | RunError | RunFinished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# What a model backend's stream may yield.
BackendEvent = ReasoningDelta | ContentDelta | Retry | AssistantMessage
