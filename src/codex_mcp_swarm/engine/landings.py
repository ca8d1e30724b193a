"""Landings as work of the engine: queued per repository, watched, cancelled, resumed.

Owns: :class:`LandingQueue`. A landing request becomes a stored landing (``landings`` table)
that waits behind the earlier landings of its repository (keyed by the git common dir, across
every server sharing the store); the queue claims the oldest one of each repository that has
none running, and runs :func:`.landing.land` for it in a worker thread it owns, with a stop
event: a cancel (seen in the store, so any server's cancel reaches it) stops its checks and
leaves the target at a landed boundary. Each pass also lets ended tasks that land by
themselves join their queue (:func:`.homes.feed`). Progress (the tasks whose candidates are
checked, those landed so far, the check's last line) is written to the store as it changes.

When a server stops, its running landings stop at a landed boundary and go back to the head of
their queue; when a server dies, another server (or the next one) finds the landing running
with its repository's landing lock free (the kernel dropped the dead holder's ``flock``) and
resumes it: the tasks it landed are recorded, so the rerun carries on with the rest.

Must not: decide what lands (:mod:`.landing` does) or speak any face's words.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from .. import git
from ..git.lock import landing_lock
from .errors import Code
from .homes import feed, mark
from .landing import land, landing_repository
from .offload import off_loop
from .records import LandingMark, LandingProgress, LandingRow, LandRequest
from .tasks import TaskError

if TYPE_CHECKING:
    from .tasks import Engine

__all__ = ["LandingQueue", "is_landing_id", "new_landing_id"]

log = logging.getLogger(__name__)

PREFIX = "land"  # task ids are hex: a landing id never looks like one
CANCEL_POLL = 0.5  # seconds between looks at the store for a cancel from any server
PROGRESS_EVERY = 0.25  # seconds between progress writes
ORPHAN_AFTER = 5.0  # seconds a landing must have been running before it counts as orphaned


def new_landing_id() -> str:
    return PREFIX + uuid.uuid4().hex[:8]


def is_landing_id(value: str) -> bool:
    return value.startswith(PREFIX)


def _lock_free(repository: str) -> bool:
    """Whether nobody holds the repository's landing lock (its holder died, or finished)."""
    try:
        with landing_lock(Path(repository), timeout=0.0):
            return True
    except (git.GitError, OSError):
        return False


def _unknown(landing_id: str) -> TaskError:
    return TaskError(
        "unknown landing id {landing_id!r}; {LIST} shows the known ones",
        code=Code.UNKNOWN_TASK,
        landing_id=landing_id,
    )


class LandingQueue:
    """The engine's landings. ``run`` is started in the engine's task group and owns the
    landings' worker threads; ``stop`` interrupts them at a landed boundary."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self._stops: dict[str, threading.Event] = {}
        self._interrupted = False
        self._kick: anyio.Event | None = None

    # ---- faces' calls ----------------------------------------------------------------------

    async def submit(self, request: LandRequest) -> LandingRow:
        """Queue a landing (its arguments checked now: a bad one raises ``TaskError``)."""
        repository = await off_loop(landing_repository, self.engine, request)
        row = await off_loop(self.store.create_landing, new_landing_id(), repository, request)
        self.kick()
        return row

    async def get(self, landing_id: str) -> LandingRow:
        row = await off_loop(self.store.get_landing, landing_id)
        if row is None:
            raise _unknown(landing_id)
        return row

    async def get_many(self, landing_ids: Sequence[str]) -> list[LandingRow]:
        """The landings, in the order asked, read in one trip off the loop (the first unknown
        id raises ``TaskError``)."""
        if not landing_ids:
            return []
        rows = await off_loop(lambda: [self.store.get_landing(i) for i in landing_ids])
        found = []
        for landing_id, row in zip(landing_ids, rows, strict=True):
            if row is None:
                raise _unknown(landing_id)
            found.append(row)
        return found

    async def recent(self, limit: int) -> list[LandingRow]:
        """The newest ``limit`` landings."""
        return await off_loop(self.store.landings, limit=limit)

    async def position(self, row: LandingRow) -> int | None:
        return await off_loop(self.store.landing_position, row)

    async def positions(self, rows: Sequence[LandingRow]) -> list[int | None]:
        """Each landing's place in its repository's queue (None unless queued), in one trip
        off the loop."""
        if not rows:
            return []
        return await off_loop(lambda: [self.store.landing_position(row) for row in rows])

    async def cancel(self, landing_id: str) -> LandingRow:
        """Cancel a queued landing at once; ask a running one to stop, and wait (up to 30 s)
        until it has stopped at a landed boundary."""
        row = await off_loop(self.store.request_landing_cancel, landing_id)
        if row is None:
            raise _unknown(landing_id)
        stop = self._stops.get(landing_id)
        if stop is not None:
            stop.set()
        self.engine._notify()
        with anyio.move_on_after(30):
            while not row.terminal:
                await self.engine.wait_for_change(CANCEL_POLL)
                row = await self.get(landing_id)
        return row

    async def wait(self, landing_ids: Sequence[str], timeout: float) -> list[LandingRow]:
        """Return when every landing has ended, or at ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.get_many(landing_ids)
            left = deadline - time.monotonic()
            if all(r.terminal for r in rows) or left <= 0:
                return rows
            await self.engine.wait_for_change(min(left, 1.0))

    def kick(self) -> None:
        if self._kick is not None:
            self._kick.set()

    # ---- the owner's loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and run landings until cancelled (by the engine's stop)."""
        self._kick = anyio.Event()
        async with anyio.create_task_group() as group:
            try:
                while True:
                    kick = self._kick
                    try:
                        await off_loop(self._resume_orphans)
                        await off_loop(feed, self.engine, new_landing_id)
                        while not self._interrupted:
                            row = await off_loop(self.store.claim_landing, self.engine.owner)
                            if row is None:
                                break
                            self._stops[row.id] = threading.Event()
                            group.start_soon(self._run_one, row)
                    except Exception:
                        log.exception("landing queue pass failed")
                    with anyio.move_on_after(1.0):
                        await kick.wait()
                    if kick is self._kick:
                        self._kick = anyio.Event()
            finally:
                # Stopping: the running landings stop at a landed boundary and go back to the
                # head of their queues; their threads end within a check's kill.
                self._interrupted = True
                for stop in self._stops.values():
                    stop.set()

    def _resume_orphans(self) -> None:
        """Running landings of a server that died: back to the head of their queues."""
        now = time.time()
        for row in self.store.landings(active=True):
            if row.phase != "running" or row.id in self._stops:
                continue
            if now - (row.started_at or now) < ORPHAN_AFTER:
                continue
            orphaned = row.owner == self.engine.owner or _lock_free(row.repository)
            if orphaned and self.store.requeue_landing(row.id):
                log.info("landing %s lost its server; it resumes", row.id)

    async def _run_one(self, row: LandingRow) -> None:
        stop = self._stops[row.id]
        last_write = 0.0
        pending: list[LandingProgress] = []

        def progress(at: LandingProgress) -> None:
            nonlocal last_write
            before = pending[-1] if pending else row.progress
            landed_more = at.landed != before.landed
            # A new candidate checked, or a check's new last line, is written at once too:
            # nothing else may come while that check runs (minutes), so a throttled write
            # would leave the faces showing the previous state all that time.
            news = at.checking != before.checking or at.last_line != before.last_line
            pending[:] = [at]
            now = time.monotonic()
            # What landed is written at once (a resumed run must know it); the rest at most
            # every PROGRESS_EVERY seconds.
            if landed_more or news or now - last_write >= PROGRESS_EVERY:
                last_write = now
                self.store.set_landing_progress(row.id, at)
                self.engine._from_any_thread(self.engine._notify)

        work = functools.partial(
            land,
            self.engine,
            row.request,
            stop=stop,
            on_progress=progress,
            landed_before=row.progress.landed,
            landing_id=row.id,
        )
        phase, report, error = "failed", None, None
        await off_loop(self._mark, row, ("queued",), LandingMark("checking", row.id))
        async with anyio.create_task_group() as watch:
            watch.start_soon(self._watch_cancel, row.id, stop)
            try:
                # Not abandoned on cancel: the thread ends within a check's kill once ``stop``
                # is set, and its consequence (the recorded end) is handled here.
                report = await anyio.to_thread.run_sync(work, abandon_on_cancel=False)
                phase = "completed"
            except (TaskError, git.GitError) as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("landing %s failed", row.id)
                error = f"the landing failed unexpectedly: {exc}"
            finally:
                watch.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            if pending:
                await off_loop(self.store.set_landing_progress, row.id, pending[-1])
            cancelled = (await off_loop(self.store.get_landing, row.id) or row).cancel_requested
            if stop.is_set() and not cancelled:
                await off_loop(self.store.requeue_landing, row.id)  # interrupted: resumes later
            else:
                final = "cancelled" if cancelled else phase
                await off_loop(self.store.finish_landing, row.id, final, report, error)
                if final != "completed":
                    why = "the landing was cancelled" if cancelled else f"the landing {final}"
                    end = LandingMark("given up", row.id, reason=error or why)
                    await off_loop(self._mark, row, ("queued", "checking"), end)
            self._stops.pop(row.id, None)
            self.engine._notify()
            self.kick()

    def _mark(self, row: LandingRow, states: tuple[str, ...], landing: LandingMark) -> None:
        """Tasks of ``row`` that went to land with it and are still in ``states``: now at
        ``landing``."""
        for task_id in row.request.task_ids or ():
            task = self.store.get(task_id)
            now = task.extra.landing if task is not None else None
            if task and now and now.landing_id == row.id and now.state in states:
                mark(self.engine, task, landing)

    async def _watch_cancel(self, landing_id: str, stop: threading.Event) -> None:
        while not stop.is_set():
            await anyio.sleep(CANCEL_POLL)
            with contextlib.suppress(Exception):
                found = await off_loop(self.store.get_landing, landing_id)
                if found is not None and found.cancel_requested:
                    stop.set()
