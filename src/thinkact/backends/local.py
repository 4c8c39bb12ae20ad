"""``LocalBackend``: a thinkact checkpoint run in-process with the KV-cached engine.

Each call renders the conversation in K2's chat format, tokenizes it and makes the engine's
cache hold exactly those tokens, reusing the longest cached prefix: in an agent run, step
N+1's prompt is step N's prompt plus the answer and tool results, so only the new suffix is
prefilled (``reuse_prefix=False`` re-encodes everything, for comparison). Tokens are decoded
incrementally and parsed into the same events a remote backend yields. Torch runs in a worker
thread; tokens reach the event loop through a queue, so the loop never blocks.

Options: ``json_guard`` masks tokens that would make tool-call arguments invalid JSON
(``local_json``); :meth:`LocalBackend.force_next` queues text whose tokens replace sampling at
the start of the next call (tests use it to make a random model call a tool; never a default).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from thinkact.backends.base import GenerationOptions
from thinkact.backends.local_checkpoint import load_chat_format, load_local_model
from thinkact.backends.local_json import ArgumentGuard
from thinkact.backends.thinking import BudgetForcing, forcing_for
from thinkact.chat_format.parser import K2OutputParser, TextDelta
from thinkact.chat_format.render import DEFAULT_FORMAT, ChatFormat, render
from thinkact.chat_format.tokenizer import K2Tokenizer
from thinkact.events import AssistantMessage, BackendEvent, ContentDelta, ReasoningDelta
from thinkact.messages import Message, Usage
from thinkact.model.engine import Session
from thinkact.model.sampling import SamplingParams, make_generators, sample
from thinkact.tools.base import ToolSpec

_DONE = object()


@dataclass
class _Job:
    prompt: list[int]
    max_new: int
    params: SamplingParams
    seed: int | None
    forced: deque[int]
    guard: ArgumentGuard | None
    emit: Callable[[object], object]
    cancel: threading.Event = field(default_factory=threading.Event)
    cached: int = 0
    finish: str = "length"
    reasoning_tokens: int = 0
    produced: int = 0
    forcing: BudgetForcing | None = None  # the thinking budget's rule (backends.thinking)


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
        # KV caches kept warm, most recent first: several conversations interleaving (heavy
        # mode's trajectories) each extend their own cache instead of evicting each other.
        self.max_sessions = sessions
        self.sessions = [Session(model, self.max_seq_len)]
        self._locks: dict[int, asyncio.Lock] = {}  # per event loop (tests use several)
        self._forced: deque[str] = deque()
        m = fmt.markers
        self._stop = {tokenizer.special_id(m.im_end)}
        self._reasoning_end = {tokenizer.special_id(m.think_end),
                               tokenizer.special_id(m.section_begin)}
        self._think = tokenizer.special_id(m.think)
        self._think_end = tokenizer.special_id(m.think_end)
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

    def force_next(self, text: str) -> None:
        """Queue ``text`` to be emitted (as forced tokens) at the start of the next call."""
        self._forced.append(text)

    async def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], options: GenerationOptions
    ) -> AsyncIterator[BackendEvent]:
        started = time.monotonic()
        prompt = self.prompt_ids(messages, tools)
        room = self.max_seq_len - len(prompt)
        if room <= 0:
            raise ValueError(f"prompt has {len(prompt)} tokens; the context window is "
                             f"{self.max_seq_len}")
        max_new = min(options.max_tokens or room, room)
        temperature = self.temperature if options.temperature is None else options.temperature
        params = SamplingParams(temperature=temperature,
                                top_p=self.top_p if options.top_p is None else options.top_p)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        forced = deque(self.tokenizer.encode(self._forced.popleft()) if self._forced else [])
        job = _Job(prompt, max_new, params, options.seed, forced, self._new_guard(),
                   lambda item: loop.call_soon_threadsafe(queue.put_nowait, item),
                   forcing=forcing_for(options, self._think_end, self.tokenizer.encode))
        parser = K2OutputParser(tools=tools, implicit_reasoning=self.implicit_reasoning,
                                markers=self.fmt.markers)
        decoder = self.tokenizer.stream_decoder()
        async with self._locks.setdefault(id(loop), asyncio.Lock()):
            worker = loop.run_in_executor(None, self._generate, job)
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, BaseException):
                        raise item
                    assert isinstance(item, int)
                    for event in parser.feed(decoder.feed([item])):
                        if isinstance(event, TextDelta):
                            yield _delta(event)
                for event in parser.feed(decoder.flush()) + parser.flush():
                    if isinstance(event, TextDelta):
                        yield _delta(event)
            finally:
                job.cancel.set()
                await worker  # the worker never raises (errors come via the queue)
        result = parser.final()
        message = result.to_message()
        finish = job.finish
        if message.tool_calls and finish == "stop":
            finish = "tool_calls"
        self.last_stats = {"cached_tokens": job.cached, "malformed_calls": result.malformed,
                           "truncated_calls": result.truncated,
                           "guard_rejections": job.guard.rejections if job.guard else 0}
        usage = Usage(prompt_tokens=len(prompt), completion_tokens=job.produced,
                      reasoning_tokens=job.reasoning_tokens, cached_tokens=job.cached)
        yield AssistantMessage(message=message, usage=usage, finish_reason=finish,
                               duration_s=time.monotonic() - started)

    def _new_guard(self) -> ArgumentGuard | None:
        if not self.json_guard:
            return None
        tok, m = self.tokenizer, self.fmt.markers
        return ArgumentGuard(
            tok.special_id(m.arg_begin), tok.special_id(m.call_end), list(tok.specials.values()),
            lambda t: tok.token_bytes(t).decode("utf-8", errors="surrogateescape"),
        )

    # -- worker thread -------------------------------------------------------------------

    def _generate(self, job: _Job) -> None:
        try:
            with torch.inference_mode():
                self._decode(job)
        except BaseException as exc:  # delivered to the consumer, re-raised there
            job.emit(exc)
        finally:
            job.emit(_DONE)

    @property
    def session(self) -> Session:
        """The most recently used cache."""
        return self.sessions[0]

    def _session_for(self, prompt: Sequence[int]) -> Session:
        """The cache to serve ``prompt`` with, moved to the front: one that ``prompt``
        extends (the longest); else, while the pool has room, a new one holding a copy of
        the longest shared prefix; else the one sharing the longest prefix (ties: least
        recently used), truncated to it."""
        if not self.reuse_prefix:
            return self.sessions[0]  # truncated anyway: one cache is enough
        held = [s.tokens for s in self.sessions]
        extends = [i for i, t in enumerate(held) if list(prompt[:len(t)]) == t]
        if extends:
            pick = max(extends, key=lambda i: len(held[i]))
        else:
            shared = [_common_prefix(t, prompt) for t in held]
            pick = max(range(len(held)), key=lambda i: (shared[i], i))
            if len(self.sessions) < self.max_sessions:  # a new cache, seeded with the prefix
                fresh = Session(self.model, self.max_seq_len)
                held_by = self.sessions[pick]
                fresh.copy_prefix(held_by, min(shared[pick], held_by.position))
                self.sessions.append(fresh)
                pick = len(self.sessions) - 1
        session = self.sessions.pop(pick)
        self.sessions.insert(0, session)
        return session

    def _decode(self, job: _Job) -> None:
        session = self._session_for(job.prompt)
        if not self.reuse_prefix:
            session.truncate(0)
        job.cached = _common_prefix(session.tokens, job.prompt)
        logits = session.sync(job.prompt)
        gen = make_generators([job.seed])[0]
        in_reasoning = self.implicit_reasoning
        for i in range(job.max_new):
            if job.cancel.is_set():
                job.finish = "cancelled"
                return
            if job.forcing is not None and not job.forced:  # budget reached: stop thinking
                job.forced.extend(job.forcing.at_budget(in_reasoning, job.reasoning_tokens))
            tok = job.forced.popleft() if job.forced else self._pick(logits, job, gen)
            if job.forcing is not None and tok == self._think_end and in_reasoning:
                cue = job.forcing.on_early_end(job.reasoning_tokens)  # s1: think on
                if cue:
                    tok = cue[0]
                    job.forced.extendleft(reversed(cue[1:]))
            job.produced += 1
            if job.guard is not None:
                job.guard.observe(tok)
            if tok == self._think and i == 0:
                in_reasoning = True
            elif tok in self._reasoning_end:
                in_reasoning = False
            elif in_reasoning:
                job.reasoning_tokens += 1
            job.emit(tok)
            if tok in self._stop:
                job.finish = "stop"
                return
            if i + 1 < job.max_new:
                logits = session.feed([tok])
        job.finish = "length"

    def _pick(self, logits: torch.Tensor, job: _Job, gen: torch.Generator | None) -> int:
        row = logits.float().unsqueeze(0)
        guard = job.guard
        if guard is None or not guard.active:
            return int(sample(row, job.params, [gen])[0])
        row = row.clone()
        for _ in range(32):  # sample, reject what breaks the JSON, resample
            tok = int(sample(row, job.params, [gen])[0])
            if guard.allows(tok):
                return tok
            guard.rejections += 1
            row[0, tok] = float("-inf")
        for tok in torch.argsort(row[0], descending=True).tolist():  # best allowed token
            if guard.allows(int(tok)):
                return int(tok)
        return next(iter(self._stop))  # nothing keeps the JSON valid: end the turn


def _delta(event: TextDelta) -> BackendEvent:
    if event.kind == "reasoning":
        return ReasoningDelta(text=event.text)
    return ContentDelta(text=event.text)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return min(n, len(b) - 1)
