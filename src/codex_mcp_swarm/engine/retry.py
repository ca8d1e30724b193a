"""The transient-failure rule: which failed turns are worth running again, and when.

Owns: :func:`is_transient` (a failed turn's message that looks like a passing model or network
fault) and :func:`retry_delay` (the exponential back-off before attempt n + 1, capped).

Must not: run anything, sleep, or know about processes or the store.
"""

from __future__ import annotations

MAX_DELAY = 60.0  # seconds: the longest wait before another attempt

_TRANSIENT = (
    "high demand",
    "429",
    "too many requests",
    "rate limit",
    "stream disconnected",
    "internal server error",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
    "timed out",
    "timeout",
    "connection",
    "overloaded",
)


def is_transient(failure: str) -> bool:
    """Whether a failed turn's message looks like a passing model/network fault worth a retry."""
    text = failure.lower()
    return any(marker in text for marker in _TRANSIENT)


def retry_delay(attempt: int, backoff: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): ``backoff`` doubling each
    time, at most :data:`MAX_DELAY`."""
    return min(MAX_DELAY, backoff * 2.0 ** (attempt - 1))
