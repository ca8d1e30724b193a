"""Running blocking work (SQLite, git, process tables) off the event loop, in one way.

Owns: :func:`off_loop`, the single helper every async path of the engine uses for a blocking
call, with one shared limit on the worker threads it occupies, so a busy SQLite lock or a slow
git command never stalls the loop that answers clients. Two kinds of work take a thread outside
that limit instead, each awaited by its owner: a landing's run (:mod:`.landings`; minutes long,
not abandoned on cancel) and a backend's start and stop (joining Ray, joining its watchers), so
neither can hold the shared threads that client calls need.

Must not: know what it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

P = ParamSpec("P")
T = TypeVar("T")

MAX_THREADS = 8
_limiter: RunVar[anyio.CapacityLimiter] = RunVar("codex_swarm_offload_limiter")


def _shared_limiter() -> anyio.CapacityLimiter:
    """One limiter per event loop (a RunVar), made on first use."""
    try:
        return _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(MAX_THREADS)
        _limiter.set(limiter)
        return limiter


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; the caller awaits its result."""
    call = functools.partial(fn, *args, **kwargs)
    return await anyio.to_thread.run_sync(call, limiter=_shared_limiter())
