"""``LocalBackend``: a thinkact checkpoint run in-process with the KV-cached engine.

Each call renders the conversation in K2's chat format, tokenizes it and hands it to the
backend's :class:`~thinkact.backends.local_scheduler.Scheduler`: concurrent calls (heavy
mode's trajectories, ``serve-model``'s clients) decode together, one row each in every step,
each in its own KV cache from the :class:`~thinkact.backends.local_pool.SessionPool`. A
prompt reuses the longest cached prefix: in an agent run, step N+1's prompt is step N's
prompt plus the answer and tool results, so only the new suffix is prefilled
(``reuse_prefix=False`` re-encodes everything, for comparison). Tokens are decoded
incrementally and parsed into the same events a remote backend yields; torch runs in the
scheduler's thread and tokens reach the event loop through a queue (``local_mailbox``: one
wake-up of the loop per decode step), so the loop never blocks.

Options: ``json_guard`` masks tokens that would make tool-call arguments invalid JSON
(``local_json``); :meth:`LocalBackend.force_next` queues text whose tokens replace sampling at
the start of the next call (tests use it to make a random model call a tool; never a default);
:meth:`LocalBackend.rules_for` is where per-request rules (a thinking budget) join a call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from thinkact.backends.base import GenerationOptions
from thinkact.backends.local_checkpoint import load_chat_format, load_local_model
from thinkact.backends.local_json import ArgumentGuard
from thinkact.backends.local_mailbox import mailbox_for
from thinkact.backends.local_pool import SessionPool
from thinkact.backends.local_request import Request, Rule, TokenIds
from thinkact.backends.local_scheduler import DONE, Scheduler
from thinkact.backends.thinking import forcing_for
from thinkact.chat_format.parser import K2OutputParser, TextDelta
from thinkact.chat_format.render import DEFAULT_FORMAT, ChatFormat, render
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, ToolSpec, Usage
from thinkact.model.engine import Session
from thinkact.model.sampling import SamplingParams


class LocalBackend:
    """``ModelBackend`` over a K2 model and tokenizer in this process."""

    def __init__(
        self,
        model: Any,
        tokenizer: K2Tokenizer,
        *,
        name: str = "local",
        max_seq_len: int | None = None,
        fmt: ChatFormat = DEFAULT_FORMAT,
        temperature: float = 1.0,
        top_p: float = 1.0,
        reuse_prefix: bool = True,
        json_guard: bool = False,
        implicit_reasoning: bool = True,
        sessions: int = 1,
        max_batch: int = 8,
        prefill_chunk: int = 256,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        cfg_len = int(getattr(getattr(model, "config", None), "max_position_embeddings", 4096))
        self.max_seq_len = min(max_seq_len or cfg_len, cfg_len)
        self.fmt = fmt
        self.temperature, self.top_p = temperature, top_p
        self.reuse_prefix = reuse_prefix
        self.json_guard = json_guard
        # Output without a leading <think> is reasoning (vLLM's rule); always so when the
        # generation prompt itself opened the think block.
        self.implicit_reasoning = implicit_reasoning or fmt.think_in_prompt
        # KV caches kept warm between calls: several conversations interleaving (heavy
        # mode's trajectories) each extend their own cache instead of evicting each other.
        self.pool = SessionPool(model, self.max_seq_len, sessions, reuse_prefix)
        self.scheduler = Scheduler(self.pool, max_batch, prefill_chunk)
        self._forced: deque[str] = deque()
        m = fmt.markers
        self._ids = TokenIds(
            stop=frozenset({tokenizer.special_id(m.im_end)}),
            reasoning_end=frozenset({tokenizer.special_id(m.think_end),
                                     tokenizer.special_id(m.section_begin)}),
            think=tokenizer.special_id(m.think), think_end=tokenizer.special_id(m.think_end))
        self.last_stats: dict[str, Any] = {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: Any) -> LocalBackend:
        model, tokenizer = load_local_model(path)
        kwargs.setdefault("name", Path(path).name)
        kwargs.setdefault("fmt", load_chat_format(path))
        return cls(model, tokenizer, **kwargs)

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def context_window(self) -> int:
        return self.max_seq_len

    def prompt_ids(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[int]:
        return self.tokenizer.encode(render(messages, tools, fmt=self.fmt))

    def count_tokens(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        """Exact: the rendered prompt's token count (generation prompt included)."""
        return len(self.prompt_ids(messages, tools))

    async def count_exact(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        """``count_tokens``, for the loop: it sizes each request by this where a backend has it."""
        return self.count_tokens(messages, tools)

    def force_next(self, text: str) -> None:
        """Queue ``text`` to be emitted (as forced tokens) at the start of the next call."""
        self._forced.append(text)

    def rules_for(self, options: GenerationOptions) -> list[Rule]:
        """Per-request rules for one call (asked before each token; what they return is
        forced next). The hook for a thinking budget that closes the thinking block."""
        return []

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], options: GenerationOptions
    ) -> AsyncIterator[BackendEvent]:
        started = time.monotonic()
        prompt = self.prompt_ids(messages, tools)
        room = self.max_seq_len - len(prompt)
        if room <= 0:
            raise ValueError(f"prompt has {len(prompt)} tokens; the context window is "
                             f"{self.max_seq_len}")
        temperature = self.temperature if options.temperature is None else options.temperature
        params = SamplingParams(temperature=temperature,
                                top_p=self.top_p if options.top_p is None else options.top_p)
        box = mailbox_for(asyncio.get_running_loop())
        queue: asyncio.Queue[object] = asyncio.Queue()

        def emit(item: object) -> None:
            if not box.post(queue, item):  # the caller's loop is gone: nobody is listening
                req.cancel.set()

        forced = deque(self.tokenizer.encode(self._forced.popleft()) if self._forced else [])
        req = Request(prompt, min(options.max_tokens or room, room), params, self._ids, emit,
                      seed=options.seed, forced=forced, guard=self._new_guard(),
                      rules=self.rules_for(options), in_reasoning=self.implicit_reasoning,
                      forcing=forcing_for(options, self._ids.think_end, self.tokenizer.encode))
        parser = K2OutputParser(tools=tools, implicit_reasoning=self.implicit_reasoning,
                                markers=self.fmt.markers)
        decoder = self.tokenizer.stream_decoder()
        self.scheduler.submit(req)
        done = False
        try:
            while (item := await queue.get()) is not DONE:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, int)
                for event in parser.feed(decoder.feed([item])):
                    if isinstance(event, TextDelta):
                        yield _delta(event)
            done = True
            for event in parser.feed(decoder.flush()) + parser.flush():
                if isinstance(event, TextDelta):
                    yield _delta(event)
        finally:
            req.cancel.set()  # a no-op once finished; else the row leaves at the next step
            while not done:  # its session is back in the pool once DONE comes
                done = await queue.get() is DONE
        result = parser.final()
        message = result.to_message()
        finish = req.finish
        if message.tool_calls and finish == "stop":
            finish = "tool_calls"
        self.last_stats = {"cached_tokens": req.cached, "malformed_calls": result.malformed,
                           "truncated_calls": result.truncated,
                           "guard_rejections": req.guard.rejections if req.guard else 0}
        usage = Usage(prompt_tokens=len(prompt), completion_tokens=req.produced,
                      reasoning_tokens=req.reasoning_tokens, cached_tokens=req.cached)
        yield AssistantMessage(message=message, usage=usage, finish_reason=finish,
                               duration_s=time.monotonic() - started)

    @property
    def max_sessions(self) -> int:
        """KV caches kept between calls (heavy mode sets one per trajectory)."""
        return self.pool.size

    @max_sessions.setter
    def max_sessions(self, n: int) -> None:
        self.pool.size = max(1, n)

    @property
    def sessions(self) -> list[Session]:
        """The pool's KV caches, most recently used first."""
        return self.pool.sessions

    @property
    def session(self) -> Session:
        """The most recently used cache."""
        return self.pool.sessions[0]

    def _new_guard(self) -> ArgumentGuard | None:
        if not self.json_guard:
            return None
        tok, m = self.tokenizer, self.fmt.markers
        return ArgumentGuard(
            tok.special_id(m.arg_begin), tok.special_id(m.call_end), list(tok.specials.values()),
            lambda t: tok.token_bytes(t).decode("utf-8", errors="surrogateescape"),
        )


def _delta(event: TextDelta) -> BackendEvent:
    if event.kind == "reasoning":
        return ReasoningDelta(text=event.text)
    return ContentDelta(text=event.text)
