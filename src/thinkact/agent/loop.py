"""One run of the agent loop: step = model call → assistant message → tools → tool messages.

Every message added to the conversation is visible in an event (``RunStarted.messages``,
``AssistantMessage``, ``ToolResultEvent``, ``Notice.message``), inside its step, and
``StepFinished`` comes only after all of a step's tool results, so a trace can rebuild the
conversation of complete steps and resume. Events go to the trace before they are yielded.
Budget and repeat stops end with one tool-less call for the model's best final answer.
A step still running at the wall-time deadline is cut off like a kill (``Deadline``): it
gets no ``StepFinished`` and the run goes on from the conversation of complete steps.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from thinkact.agent.budget import Budget, Deadline, DeadlineExceeded, Spend
from thinkact.agent.context import ContextStrategy, HideToolOutputs, MeteredBackend, Summarize
from thinkact.agent.context_view import MAX_SCALE, ContextView
from thinkact.agent.repeat import RepeatDetector
from thinkact.agent.verify import VerifyPolicy
from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.retry import BackendError, is_context_overflow, prompt_tokens_in
from thinkact.backends.text_calls import with_text_calls
from thinkact.backends.tokens import estimate_tools
from thinkact.events import (
    AssistantMessage,
    ContextCompacted,
    Event,
    FinalAnswer,
    Notice,
    RunError,
    RunFinished,
    RunStarted,
    RunStatus,
    StepFinished,
    StepStarted,
    ToolCallStarted,
    ToolResultEvent,
)
from thinkact.messages import Message, Price, ToolCall, ToolResult, ToolSpec
from thinkact.tools.base import ToolContext
from thinkact.tools.toolset import Toolset
from thinkact.traces.base import TraceStore

if TYPE_CHECKING:
    from thinkact.agent.config import AgentConfig

WRAP_UP = ("[notice] The run must stop now ({reason}). Do not call any more tools. Give your "
           "best final answer using what you have found so far.")

CUT_OFF = ("[notice] Your last answer was cut off by the token limit. Continue, more "
           "concisely: call a tool or give the final answer.")

EMPTY = ("[notice] Your last reply was empty. Give your final answer as text, or call a "
         "tool.")


CONTEXT_RETRIES = 2  # compactions after a server's "too long" before the run gives up


class ContextOverflow(RuntimeError):
    """The request cannot be made to fit the context window."""


@dataclass
class RunSetup:
    """Everything fixed for a run (the Agent builds it): the backend, the tools, the
    config and what a run keeps beside them."""

    backend: ModelBackend
    toolset: Toolset
    config: AgentConfig
    repeats: RepeatDetector
    ctx: ToolContext
    trace: TraceStore | None

    @property
    def budget(self) -> Budget:
        return self.config.budget

    @property
    def context(self) -> ContextStrategy:
        return self.config.context

    @property
    def options(self) -> GenerationOptions:
        return self.config.options

    @property
    def verify(self) -> VerifyPolicy:
        return self.config.verify

    @property
    def output_reserve(self) -> int | None:
        return self.config.output_reserve


class Run:
    def __init__(self, setup: RunSetup, run_id: str, task: str, history: list[Message],
                 spend: Spend, resumed_from: int | None = None) -> None:
        self.s = setup
        self.run_id, self.task = run_id, task
        self.resumed_from = resumed_from  # the steps already done, for a resumed run
        self.history = history
        self.spend = spend
        self.specs: list[ToolSpec] = setup.toolset.specs()
        self.view = ContextView(history, estimate_tools(self.specs))
        self.price: Price | None = setup.budget.price or getattr(setup.backend, "price", None)
        self.answer: str | None = None
        self.status: RunStatus = "failed"
        self.reason = ""
        self.stop_reason: str | None = None
        self.asked_empty = False  # an empty reply is asked again once, then ends the run

    def _emit(self, event: Event) -> Event:
        if self.s.trace is not None:
            self.s.trace.append(self.run_id, event)
        return event

    def _add(self, msg: Message) -> None:
        self.history.append(msg)
        self.view.append(msg)

    async def events(self) -> AsyncIterator[Event]:
        resumed_from = self.resumed_from
        yield self._emit(RunStarted(
            run_id=self.run_id, task=self.task, model=self.s.backend.model_name,
            config=self.s.config.record(),
            messages=[] if resumed_from is not None else self.history,
            resumed_from_step=resumed_from))
        deadline = Deadline.of(self.s.budget, self.spend)
        try:
            prepare = getattr(self.s.backend, "prepare", None)
            if prepare is not None:  # e.g. learn the server's context window first
                await prepare()
            while self.answer is None:
                reason = self.stop_reason or self.s.budget.exhausted(self.spend)
                if reason and deadline.passed() and not deadline.grace_s:
                    # no final call
                    self._end("stopped", deadline.reason, best_answer(self.history))
                    break
                mark = self._mark()
                step = self._wrap_up(reason) if reason else self._step()
                try:
                    async for event in deadline.bound(step, final=bool(reason)):
                        yield self._emit(event)
                except DeadlineExceeded as cut:
                    self._rollback(mark)  # the cut step is left unfinished, as a kill leaves it
                    if reason:  # the final answer ran out of grace too
                        self._end("stopped", f"{cut}; final answer cut off",
                                  best_answer(self.history))
                        break
        except ContextOverflow as exc:
            self._end("stopped", f"context window exceeded: {exc}", best_answer(self.history))
            yield self._emit(RunError(message=self.reason, fatal=True))
        except Exception as exc:  # errors end the run as events; it can be resumed
            self._end("failed", f"{type(exc).__name__}: {exc}")
            yield self._emit(RunError(message=self.reason, fatal=True))
        if self.answer:
            yield self._emit(FinalAnswer(content=self.answer))
        yield self._emit(RunFinished(
            status=self.status, reason=self.reason, steps=self.spend.steps,
            tool_calls=self.spend.tool_calls, usage=self.spend.usage,
            duration_s=self.spend.elapsed_s()))

    def _end(self, status: RunStatus, reason: str, answer: str | None = None) -> None:
        """The one place that decides how the run ends (``RunFinished`` reports it)."""
        self.status, self.reason, self.answer = status, reason, answer

    def _mark(self) -> tuple[int, int, str | None]:
        return self.spend.steps, len(self.history), self.stop_reason

    def _rollback(self, mark: tuple[int, int, str | None]) -> None:
        """Forget a cut-off step: what a resume would rebuild from the trace, in memory.

        Its spent tokens stay spent; its tool calls never finished, so were never counted.
        The view is rebuilt (compaction redone at the next call, the learnt scale kept).
        """
        self.spend.steps, done, self.stop_reason = mark
        del self.history[done:]
        scale, self.view = self.view.scale, ContextView(self.history, self.view.tools_tokens)
        self.view.scale = scale

    async def _step(self) -> AsyncGenerator[Event, None]:
        self.spend.steps += 1
        yield StepStarted(step=self.spend.steps)
        done: AssistantMessage | None = None
        async for event in self._model_call(self.specs):
            yield event
            if isinstance(event, AssistantMessage):
                done = event
        reply = _finished(done)
        self._add(reply)
        if not reply.tool_calls:
            note = self._before_final(done)
            if note is not None:  # not final yet: the model is told why and goes on
                msg = Message.user(note[1])
                self._add(msg)
                yield Notice(kind=note[0], text=note[1], message=msg)
            yield StepFinished(step=self.spend.steps)
            if note is None and not (reply.content or "").strip():
                self._end("stopped", "no_answer", "")
            elif note is None:
                self._end("completed", "answered", reply.content or "")
            return
        for call in reply.tool_calls:
            yield ToolCallStarted(call=call)
        results, notes = await self._execute(reply.tool_calls)
        for result in results:
            self._add(Message.tool(result))
            yield ToolResultEvent(result=result)
        for kind, text in notes:
            msg = Message.user(text)
            self._add(msg)
            yield Notice(kind=kind, text=text, message=msg)
        yield StepFinished(step=self.spend.steps)

    def _before_final(self, done: AssistantMessage | None) -> tuple[str, str] | None:
        """Why an answer is not final yet, as (notice kind, message to the model): it was cut
        off by the token limit, or ``VerifyPolicy`` wants it checked first."""
        if done is not None and done.finish_reason == "length":
            return "length", CUT_OFF
        if not (self.history[-1].content or "").strip():
            if self.asked_empty:
                return None
            self.asked_empty = True
            return "empty", EMPTY
        check = self.s.verify.check(self.history)
        return None if check is None else ("verify", check)

    async def _execute(
        self, calls: Sequence[ToolCall]
    ) -> tuple[list[ToolResult], list[tuple[str, str]]]:
        """Run the allowed calls concurrently; refused ones get an error result in place."""
        left = self.s.budget.tool_calls_left(self.spend)
        refused: dict[int, ToolResult] = {}
        notes: list[tuple[str, str]] = []
        for i, call in enumerate(calls):
            verdict, count = self.s.repeats.observe(call)
            if verdict == "stop":
                self.stop_reason = (f"repeat: {call.name} called {count} times with the "
                                    "same arguments")
                refused[i] = ToolResult(call_id=call.id, name=call.name, error="repeated",
                                        content=f"not run: {self.stop_reason}")
            elif left is not None and i - len(refused) >= left:
                refused[i] = ToolResult(call_id=call.id, name=call.name, error="budget",
                                        content="not run: tool-call budget exhausted")
            elif verdict == "warn":
                notes.append(("repeat", self.s.repeats.reminder(call, count)))
        to_run = [c for i, c in enumerate(calls) if i not in refused]
        ran = iter(await self.s.toolset.call_many(to_run, self.s.ctx))
        self.spend.tool_calls += len(to_run)
        results = [refused[i] if i in refused else next(ran) for i in range(len(calls))]
        return results, notes

    async def _wrap_up(self, reason: str) -> AsyncGenerator[Event, None]:
        """The extra, tool-less call that turns a stop into a best final answer."""
        self.spend.steps += 1
        yield StepStarted(step=self.spend.steps)
        text = WRAP_UP.format(reason=reason)
        msg = Message.user(text)
        self._add(msg)
        yield Notice(kind="stop", text=text, message=msg)
        done: AssistantMessage | None = None
        async for event in self._model_call([]):
            yield event
            if isinstance(event, AssistantMessage):
                done = event
        reply = _finished(done)
        self._add(reply)
        for call in reply.tool_calls:  # keep the conversation well-formed for a resume
            result = ToolResult(call_id=call.id, name=call.name, error="budget",
                                content=f"not run: {reason}")
            self._add(Message.tool(result))
            yield ToolResultEvent(result=result)
        yield StepFinished(step=self.spend.steps)
        self._end("stopped", reason, reply.content or "")

    async def _model_call(self, tools: list[ToolSpec]) -> AsyncIterator[Event]:
        for refusals in range(CONTEXT_RETRIES + 1):
            if refusals == 0:  # after a refusal, the server's own figure counts
                await self._count_exact(tools)
            async for event in self._fit_context(bool(tools)):
                yield event
            options = self._options(bool(tools))
            sent = self.view.raw_estimate(bool(tools))
            try:
                async for event in self.s.backend.stream(self.view.messages, tools, options):
                    if isinstance(event, AssistantMessage):
                        if tools:  # a text call to a tool that does not exist is a call
                            event = with_text_calls(event, {t.name for t in tools},
                                                    undeclared=True)
                        self.view.observe(event.usage.prompt_tokens, sent)
                        self.spend.add_model_call(event.usage, event.message, self.price)
                    yield event
                return
            except BackendError as exc:
                if not is_context_overflow(exc):
                    raise
                if refusals == CONTEXT_RETRIES:
                    raise ContextOverflow(f"the server still refused it: {exc}") from exc
                # the server counts more than estimated: count as it does, compact, ask again
                counted = prompt_tokens_in(str(exc))
                scale = counted * 1.05 / sent if counted else self.view.scale * 2
                self.view.scale = min(max(scale, self.view.scale * 1.25), MAX_SCALE * 4)
                yield Notice(kind="context", text=f"request refused as too long ({exc}); "
                                                  "compacting and retrying")

    async def _count_exact(self, tools: list[ToolSpec]) -> None:
        """Where the backend counts exactly (a local tokenizer, a server's /tokenize), size
        the request by that count instead of the script-aware estimate."""
        count = getattr(self.s.backend, "count_exact", None)
        exact = await count(self.view.messages, tools) if count is not None else None
        if exact:
            self.view.calibrate(exact, bool(tools))

    def _cap(self) -> int | None:
        caps = [c for c in (self.s.options.max_tokens, self.s.budget.max_thinking_tokens_per_step)
                if c is not None]
        return min(caps) if caps else None

    def _reserve(self) -> int:
        window = self.s.backend.context_window
        if self.s.output_reserve is not None:
            return self.s.output_reserve
        return min(self._cap() or min(window // 4, 32768), window // 2)

    def _limit(self) -> int:
        window = self.s.backend.context_window
        return window - self._reserve() - max(window // 100, 8)

    async def _fit_context(self, with_tools: bool) -> AsyncIterator[Event]:
        limit = self._limit()
        before = self.view.estimate(with_tools)
        if before <= limit:
            return
        # the configured strategy; then hiding every old tool output; when even that is not
        # enough (a long run's calls and reasoning alone fill the window), older steps are
        # summarised into a user turn, so the ongoing turn's reasoning stays carried exactly
        strategies: list[ContextStrategy] = [self.s.context, HideToolOutputs(keep_recent=0),
                                             Summarize(use_model=False)]
        for strategy in strategies:
            metered = MeteredBackend(self.s.backend)
            detail = await strategy.compact(self.view, limit, metered)
            for reply in metered.replies:  # a summary's model call is spent like a step's
                self.spend.add_model_call(reply.usage, reply.message, self.price)
            after = self.view.estimate(with_tools)
            yield ContextCompacted(strategy=strategy.name, tokens_before=before,
                                   tokens_after=after, detail=detail, usage=metered.usage)
            if after <= limit:
                return
            before = after
        raise ContextOverflow(f"request needs ~{before} tokens, limit is {limit}")

    def _options(self, with_tools: bool) -> GenerationOptions:
        o = self.s.options
        room = self._limit() + self._reserve() - self.view.estimate(with_tools)
        cap = self._cap()
        max_tokens = max(1, min(cap, room) if cap is not None else room)
        thinking = self.s.budget.thinking_tokens_per_step or o.thinking_tokens
        return replace(o, max_tokens=max_tokens, thinking_tokens=thinking)


def best_answer(history: Sequence[Message], limit: int = 4000) -> str | None:
    """What a run cut off before its answer has found: the last paragraph of its latest
    non-empty reasoning, or its latest successful tool output, whichever came last."""
    for msg in reversed(history):
        if msg.role == "assistant" and (msg.content or "").strip() and not msg.tool_calls:
            return msg.content
        if msg.role == "assistant" and (msg.reasoning or "").strip():
            paragraphs = [p for p in (msg.reasoning or "").split("\n\n") if p.strip()]
            return paragraphs[-1].strip()[-limit:]
        if msg.role == "tool" and (msg.content or "").strip() and not (
                msg.content or "").startswith(("error:", "not run:", "unknown tool")):
            return f"Last tool result ({msg.name}):\n{(msg.content or '')[:limit]}"
    return None


def _finished(event: AssistantMessage | None) -> Message:
    if event is None:
        raise RuntimeError("the backend's stream ended without an AssistantMessage")
    return event.message
