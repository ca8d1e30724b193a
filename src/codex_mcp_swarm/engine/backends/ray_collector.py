"""The Ray backend's collectors: one thread per task that brings its actor's work to this server.

Owns the collector loop of one task (:class:`Collector`):

* one collector per task across every server sharing the task dir: it holds the task's
  ``collector.lock``; a second server's collector waits on that lock, then finds the end
  recorded (and wakes its own waiters) or takes over if the first server died;
* one ``poll`` call kept outstanding on the actor. The call returns when the task ends or after
  :data:`PROGRESS_INTERVAL`, so raw events, progress, the node and "running" are copied into
  this server's store about every second and the end arrives the moment it happens (no tight
  polling);
* on the way: telling the actor of a cancel set in the store (by anyone), saying what an actor
  not placed yet waits for (:func:`waiting_for`), asking the backend to remove such an actor when
  its task is cancelled, retrying an unreachable actor for :data:`UNAVAILABLE_FOR`, asking the
  backend for a new actor when the old one died with its node;
* the end: handing the backend's consequence (record the end, lost, or cancelled before it
  started) to :meth:`.base.Watchers.act`, which runs it unless the backend has stopped.

A collector is joinable (:meth:`.base.Watchers.joinable`) once it holds the lock: it looks at
the watchers' ``closed`` on every round and ends within a poll of the backend's stop, which joins
it. Only a wait for another server's lock is abandoned, as a local watcher's ``flock`` is.

Must not: create or kill actors on its own account, record a task's end itself (the backend's
consequences do), touch git, or import Ray (the backend hands over its module).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..records import PollSnapshot

if TYPE_CHECKING:
    from ..store import TaskRow
    from .ray import RayBackend

log = logging.getLogger(__name__)

RESOURCE = "codex"  # the custom Ray resource a task's actor asks one unit of
PROGRESS_INTERVAL = 1.0  # seconds: a poll returns at least this often while a task runs
UNAVAILABLE_FOR = 60.0  # seconds an actor may be unreachable before its task is lost
# Seconds an actor may take to start (Ray starts a worker process for it: about 3 s on a busy
# 2-core machine) before a task without a free codex slot is said to wait for one.
WAITING_AFTER = 3.0


class Collector:
    """The collector of one task: :meth:`run` is a watcher thread's whole life."""

    def __init__(self, backend: RayBackend, task_id: str, handle: Any) -> None:
        self.backend = backend
        self.store = backend.store
        self.watchers = backend.watchers
        self.ray = backend._ray
        self.task_id = task_id
        self.handle = handle
        self.stored: TaskRow | None = None  # the task's record when this actor's poll began
        self.offset = 0  # of this actor's events, what this server has
        self.seen_running = False
        self.node_recorded = False
        self.last_progress: Any = None
        self.unreachable_since: float | None = None
        self.cancel_sent = False
        # Until the actor answers once it may be unplaced (waiting for a codex slot): a cancel
        # removes it then. The first poll returns at once when the actor runs.
        self.answered = False
        self.since = time.monotonic()
        self.waiting: str | None = None  # what the record says the task waits for
        self.ref: Any = None  # the poll call outstanding

    def run(self) -> None:
        try:
            fd = os.open(
                self.store.task_path(self.task_id) / "collector.lock",
                os.O_RDWR | os.O_CREAT,
                0o600,
            )
        except OSError:
            log.exception("the collector lock of %s cannot be opened", self.task_id)
            self.watchers.forget(self.task_id)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # returns at once unless another server collects
            self.watchers.joinable()  # from here on it looks at watchers.closed: stop joins it
            row = self.store.get(self.task_id)
            if row is None or row.terminal:
                self.watchers.forget(self.task_id)
                self.backend.ended(self.task_id)
                return
            try:
                self._collect()
            finally:
                self.backend.collected(self.task_id)
        finally:
            os.close(fd)

    # ---- the loop ----------------------------------------------------------------------------

    def _collect(self) -> None:
        self.stored = self.store.get(self.task_id)
        actor = self.stored.extra.ray if self.stored is not None else None
        base = actor.events_base if actor is not None else 0
        size = self.backend.events_size(self.task_id)
        self.waiting = self.stored.extra.waiting_for if self.stored is not None else None
        self._follow(self.handle, max(0, size - base))  # what this actor already gave
        while True:
            if self.watchers.closed:
                self.watchers.forget(self.task_id)
                return
            ready, _ = self.ray.wait([self.ref], timeout=PROGRESS_INTERVAL + 1.0)
            if not ready:
                if not self.answered:  # not placed yet (no free codex slot), or it starts
                    self._unanswered()
                continue
            if not self.answered:
                self._answered()
            try:
                snap: PollSnapshot = self.ray.get(self.ref)
                self.unreachable_since = None
            except (
                self.ray.exceptions.ActorUnavailableError,
                self.ray.exceptions.RayTaskError,
            ) as exc:
                if self._unreachable(exc):
                    continue
                return
            except self.ray.exceptions.RayActorError as exc:  # the actor died (with its node)
                if self._died(exc):
                    continue
                return
            if self._take(snap):
                return

    def _follow(self, handle: Any, offset: int) -> None:
        """Collect from ``handle`` (a task's first actor, or a new one after its node died)."""
        self.handle, self.offset = handle, offset
        self.node_recorded = self.cancel_sent = self.answered = False
        self.since = time.monotonic()
        self.backend.note_unplaced(self.task_id, handle)
        self.ref = handle.poll.remote(offset, 0.0)

    def _unanswered(self) -> None:
        """No answer yet: a cancel removes the actor; after a while, say what it waits for."""
        if self._cancelled_before_start():
            self.backend.remove_unplaced(self.task_id, self.handle)  # the poll fails at once
        elif time.monotonic() - self.since >= WAITING_AFTER:
            row = self.store.get(self.task_id)
            node_id = self.backend.thread_node(row) if row is not None else None
            now = waiting_for(self.ray, node_id)
            if now != self.waiting:
                self._set_waiting(now)

    def _answered(self) -> None:
        self.answered = True
        self.backend.forget_unplaced(self.task_id)
        if self.waiting is not None:
            self._set_waiting(None)

    def _unreachable(self, exc: BaseException) -> bool:
        """Unreachable for now, or the call itself failed (the actor lives on): try again for a
        while (True); then stop the actor, so nothing of the task keeps running (False)."""
        self.unreachable_since = self.unreachable_since or time.monotonic()
        if time.monotonic() - self.unreachable_since < UNAVAILABLE_FOR:
            log.warning("task %s: its actor did not answer (%s); retrying", self.task_id, exc)
            time.sleep(PROGRESS_INTERVAL)
            self.ref = self.handle.poll.remote(self.offset, PROGRESS_INTERVAL)
            return True
        with contextlib.suppress(Exception):
            self.ray.kill(self.handle, no_restart=True)
        why = f"the task's Ray actor did not answer for {UNAVAILABLE_FOR:g} s and was stopped"
        self.backend.end_with(self.task_id, functools.partial(self.backend.lost, self.task_id, why))
        return False

    def _died(self, exc: BaseException) -> bool:
        """The actor died: collect from a new one (True), or hand over the end (False)."""
        if self.backend.was_removed(self.task_id) or (
            not self.answered and self._cancelled_before_start()
        ):
            # Removed by a cancel before it was placed: nothing of the task ran.
            cancelled = functools.partial(self.backend.cancelled_unplaced, self.task_id)
            self.backend.end_with(self.task_id, cancelled)
            return False
        fresh = self.backend.relaunch(self.task_id, exc)
        if fresh is None:
            lost = functools.partial(self.backend.lost, self.task_id, why_gone(exc))
            self.backend.end_with(self.task_id, lost)
            return False
        self.stored = self.store.get(self.task_id)
        self._follow(fresh, 0)  # a new actor's own events start at 0
        return True

    def _take(self, snap: PollSnapshot) -> bool:
        """Copy one poll's answer into the store; True once the end is handed over."""
        task_id = self.task_id
        self.offset = self._append_events(snap)
        row = snap.row
        if not self.cancel_sent and not snap.done and self.store.cancel_requested(task_id):
            # Whoever set the store's flag (this server, the console, another server sharing
            # the task dir), the actor hears of it within a poll.
            self.handle.cancel.remote()
            self.cancel_sent = True
        if not self.node_recorded:
            node = snap.node.public()
            self.store.update_extra(task_id, lambda e: replace(e, node=node))
            self.node_recorded = True
        if not self.seen_running and row is not None and row.codex_pid:
            # The pid is the worker's: a start time of 0 never matches a process of this host.
            self.store.set_running(task_id, row.codex_pid, 0.0)
            self.seen_running = True
        progress = row.progress if row is not None and not snap.done else None
        if progress and progress != self.last_progress:
            self.last_progress = progress
            notes = self.stored.extra.ray_notes if self.stored is not None else ()
            self.store.set_progress(task_id, noted(dict(progress), notes))
        if snap.done and not snap.events:  # every event is copied: record the end
            end = functools.partial(self.backend.record_end, task_id, snap, self.handle)
            self.backend.end_with(task_id, end, self.handle)
            return True
        self.ref = self.handle.poll.remote(self.offset, 0.0 if snap.events else PROGRESS_INTERVAL)
        return False

    # ---- pieces ------------------------------------------------------------------------------

    def _cancelled_before_start(self) -> bool:
        """A cancel was asked for while the task is still ``starting`` (Codex never ran)."""
        row = self.store.get(self.task_id)
        return row is not None and row.cancel_requested and unstarted(row)

    def _set_waiting(self, what: str | None) -> None:
        self.store.update_extra(self.task_id, lambda e: replace(e, waiting_for=what))
        self.waiting = what

    def _append_events(self, snap: PollSnapshot) -> int:
        """Append the snapshot's events to this server's copy; the offset of the next poll."""
        data = snap.events
        if data:
            path = self.store.events_path(self.task_id)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        return snap.offset


def waiting_for(ray: Any, node_id: str | None) -> str | None:
    """What an unplaced actor waits for, when no codex slot it could take is free (else it is
    being started: None). ``node_id``: the node it must run on (its thread's), if any."""
    try:
        total = float(ray.cluster_resources().get(RESOURCE, 0))
        free = float(ray.available_resources().get(RESOURCE, 0))
        if node_id is not None:
            free = _node_free(ray, node_id, free)
    except Exception:
        return None
    if free >= 1:
        return None
    if node_id is not None:
        return (
            f"a free codex slot on node {node_id[:8]}, which holds the thread's session "
            "files (every slot there is in use)"
        )
    if total < 1:
        return "a free codex slot on the Ray cluster (no node offers the codex resource now)"
    return f"a free codex slot on the Ray cluster (all {total:g} are in use)"


def _node_free(ray: Any, node_id: str, cluster_free: float) -> float:
    """Free codex slots on one node. Ray has no public per-node view of what is free: this uses
    its state module (of the ``ray`` handed over, which has loaded it), and falls back to the
    whole cluster's figure where that is missing."""
    try:
        per_node = ray._private.state.available_resources_per_node()
    except Exception:
        return cluster_free
    return float((per_node.get(node_id) or {}).get(RESOURCE, 0))


def unstarted(row: TaskRow) -> bool:
    """Whether Codex has not run for ``row`` (an actor that never answered may be removed)."""
    return row.phase == "starting" and row.codex_pid is None


def noted(progress: dict[str, Any], notes: tuple[str, ...]) -> dict[str, Any]:
    """The worker's progress with this server's notes (an earlier attempt's node died) first."""
    if not notes or not progress:
        return progress
    warnings = [w for w in progress.get("warnings") or [] if w not in notes]
    return {**progress, "warnings": [*notes, *warnings][-10:]}


def why_gone(exc: BaseException) -> str:
    """Why a task's actor is gone, from Ray's error (the line naming the death, if any)."""
    text = str(exc).strip().splitlines()
    detail = next((line for line in text if "died" in line or "node" in line.lower()), "")
    return "the task's Ray worker is gone (its node died or its actor was killed)" + (
        f": {detail.strip()[:300]}" if detail else ""
    )
