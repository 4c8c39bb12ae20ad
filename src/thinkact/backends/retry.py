"""Which model-call failures are worth retrying, and how long to wait.

Rate limits (429), server errors (5xx), timeouts, connection failures and streams that die
before finishing are transient; a 4xx is the request's fault and retrying cannot help.
Backoff is exponential with full jitter so that parallel runs do not retry in lockstep.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass


class BackendError(RuntimeError):
    """A model call failed for good (not retryable, or retries exhausted)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class IncompleteStream(RuntimeError):
    """The stream ended without a finish reason: the connection dropped mid-answer."""


class EmptyStream(IncompleteStream):
    """A stream that ended before its first chunk. Some servers (llama-cpp-python) answer an
    error this way, so the retry asks without streaming, where the error comes back as one."""


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    jitter: float = 0.5  # fraction of the delay that is randomised
    total_s: float = 120.0  # no retry starts after this long since the first attempt

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        wait = base * (1 - self.jitter) + random.uniform(0, base * self.jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay_s))
        return wait


RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def is_retryable(exc: BaseException) -> bool:
    import httpx  # imported here: only the OpenAI backend (which loads them anyway) calls this
    import openai

    if isinstance(exc, IncompleteStream | openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    # A stream cut mid-body surfaces as a raw httpx transport error while iterating.
    return isinstance(exc, httpx.TransportError)


def is_unreachable(exc: BaseException) -> bool:
    """The connection itself failed (refused, unknown host): nothing answered at all."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return False
    cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
    # by name: the SDK may ship its own copy of httpx, whose classes are not httpx's
    return any(k.__name__ == "ConnectError" for k in type(cause).__mro__)


_CONTEXT_OVERFLOW = re.compile(
    r"context[ _]?(length|window)|maximum context|context_length_exceeded|too many tokens|"
    r"prompt is too long|exceeds? the (model'?s )?(maximum|context)|n_ctx|too long for", re.I)


def is_context_overflow(exc: BaseException) -> bool:
    """A server's refusal of a request as longer than its window (vLLM, llama.cpp, SGLang,
    OpenAI and Moonshot word it differently; all say "context" or "too long")."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status in (400, 413, 422) and bool(_CONTEXT_OVERFLOW.search(str(exc)))


# How servers state the prompt's size in that refusal: vLLM "(7000 in the messages, ...",
# llama.cpp's n_prompt_tokens, others "7000 prompt tokens" / "prompt has 7000 tokens".
_PROMPT_COUNT = re.compile(r"(\d+) in the messages|n_prompt_tokens\W+(\d+)|(\d+) prompt tokens|"
                           r"prompt (?:has|of|is) (\d+) tokens")


def _stated(pattern: re.Pattern[str], message: str) -> int | None:
    """The number the first matching alternative of ``pattern`` captured, if any."""
    found = pattern.search(message)
    return int(next(g for g in found.groups() if g)) if found else None


def prompt_tokens_in(message: str) -> int | None:
    """The prompt size a context-length refusal states, when it states one."""
    return _stated(_PROMPT_COUNT, message)


# How servers state their window in that refusal: vLLM and OpenAI "maximum context length is
# 2048 tokens", llama.cpp's n_ctx field.
_WINDOW = re.compile(r"maximum context length is (\d+)|n_ctx\W+(\d+)")


def window_in(message: str) -> int | None:
    """The context window a context-length refusal states, when it states one."""
    return _stated(_WINDOW, message)


def retry_after_s(exc: BaseException) -> float | None:
    """The server's Retry-After hint in seconds, when it gave one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip() or type(exc).__name__
    prefix = f"HTTP {status}: " if status else f"{type(exc).__name__}: "
    return prefix + text[:500]
