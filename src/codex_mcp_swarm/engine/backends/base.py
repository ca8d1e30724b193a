"""The seam between the engine and where tasks run.

Owns: the :class:`Backend` interface, and :class:`Watchers` (the bookkeeping of the threads
that wait for supervisors to end, the same for every backend: one per task, none acting after
stop, each joined by stop unless blocked in a wait nothing can interrupt).
The engine (admission, the queue, the store, waking waiters, views) is the same for every
backend; a backend only

* starts the supervisor of a task the engine has claimed (:meth:`Backend.launch`),
* learns that a supervisor has ended and tells the engine (the ``ended`` callback),
* asks a supervisor to stop (:meth:`Backend.cancel`; the store's cancel flag is already set),
* finds the supervisors already running after a restart (:meth:`Backend.adopt`), and judges
  the ones that vanished without recording an end (``lost``),
* makes and finishes a task's worktree where its supervisor can reach it, says which
  worktree a reply to a worktree task continues in, and which commit holds a task's work so
  far (a fork or a review starts from it),
* says whether a thread's session files can still be reached (a reply or fork runs where
  they are).

A supervisor records its task's end in the store itself (or hands it to its backend to record)
*before* it goes away: the store is the single source of truth; ``ended`` is only a wake-up.

Must not: queue or admit tasks (the engine does), refuse one for any reason but where it runs
(a worktree or a thread's session files it cannot reach), or know about MCP or the console.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ... import git
from ...git import snapshots
from .. import branches
from ..errors import Code, EngineError, TaskError
from ..phases import Phase
from ..plan import LaunchPlan, WorktreeRequest
from ..store import Store, TaskRow, backend_of

if TYPE_CHECKING:
    from ...settings import Settings

log = logging.getLogger(__name__)

#: Called (from any thread) with a task id once its supervisor is gone and the store has its end.
Ended = Callable[[str], None]


class Watchers:
    """A backend's watchers: one thread per task that waits for the task's supervisor to end
    (how it waits is the backend's), and the rules every backend needs around them: at most
    one watcher per task in this server, none started once closed, and :meth:`close` waits for
    the consequences already being handled (and the ``ended`` call after each), so nothing acts
    after the backend's ``stop()`` returns.

    Their threads are this object's: :meth:`close` joins every watcher whose wait is over (it
    has called :meth:`act` or :meth:`forget`) or who said its wait ends soon after a close
    (:meth:`joinable`: it looks at :attr:`closed` while it waits). Only a wait that cannot be
    interrupted (a blocking ``flock``) is abandoned, its daemon thread left blocked: whatever it
    wakes up to after :meth:`close` it ignores, and the next server adopts the task."""

    def __init__(self, ended: Ended) -> None:
        self._ended = ended
        self._watched: set[str] = set()
        self._guard = threading.Lock()
        self._idle = threading.Condition(self._guard)
        self._acting = 0  # consequences being handled (close waits for them)
        self._closed = False
        self._waiting: set[threading.Thread] = set()  # watchers still in their wait
        self._ending: set[threading.Thread] = set()  # to join: wait over, or ends on close

    def open(self) -> None:
        with self._guard:
            self._closed = False

    def close(self) -> None:
        """No watcher acts after this returns, and none is left running but the abandoned
        blocking waits. Blocks: call it from a worker thread (an ``ended`` call it waits for
        may need the event loop)."""
        with self._guard:
            self._closed = True
            while self._acting:
                self._idle.wait()
            ending, self._ending = self._ending, set()
        for thread in ending:
            if thread is not threading.current_thread():
                thread.join()

    @property
    def closed(self) -> bool:
        with self._guard:
            return self._closed

    def __contains__(self, task_id: str) -> bool:
        with self._guard:
            return task_id in self._watched

    def start(self, task_id: str, wait: Callable[..., None], *args: Any, name: str) -> None:
        """Run ``wait(task_id, *args)`` in a new watcher thread, unless ``task_id`` is
        watched already or the watchers are closed. ``wait`` ends with :meth:`act` (or
        :meth:`forget`)."""
        thread = threading.Thread(target=wait, args=(task_id, *args), daemon=True, name=name)
        with self._guard:
            if self._closed or task_id in self._watched:
                return
            self._watched.add(task_id)
            self._waiting.add(thread)
            thread.start()

    def joinable(self) -> None:
        """(From a watcher.) From now on this watcher ends soon after :meth:`close` (its wait
        looks at :attr:`closed`): close joins it instead of abandoning it."""
        with self._guard:
            self._wait_over()

    def _wait_over(self) -> None:
        """(Under the guard.) The calling watcher is to be joined by close()."""
        me = threading.current_thread()
        if me in self._waiting:
            self._waiting.discard(me)
            self._ending.add(me)

    def forget(self, task_id: str) -> None:
        """The watcher of ``task_id`` ends without a consequence."""
        with self._guard:
            self._watched.discard(task_id)
            self._wait_over()

    def act(self, task_id: str, consequence: Callable[[], None]) -> None:
        """The watcher of ``task_id`` saw its supervisor end: unless closed, handle it
        (``consequence``: errors are logged, never raised) and wake the engine. The task may
        be watched again from inside ``consequence`` (another supervisor took over)."""
        with self._guard:
            self._watched.discard(task_id)
            self._wait_over()
            if self._closed:
                return  # abandoned: the next server adopts the task
            self._acting += 1
        try:
            try:
                consequence()
            except Exception:
                log.exception("handling the end of task %s failed", task_id)
            self._ended(task_id)
        finally:
            with self._guard:
                self._acting -= 1
                self._idle.notify_all()


class BackendError(EngineError):
    """A backend could not start or reach a task's supervisor; the message says what to do."""

    default_code = Code.UNAVAILABLE


class Backend(ABC):
    """Where task supervisors run. ``await start()`` before use, ``await stop()`` after."""

    name: ClassVar[str]
    #: Whether task worktrees are checked out where the supervisors run (another host) rather
    #: than on this machine: then a task's recorded worktree path does not exist here.
    remote_worktrees: ClassVar[bool] = False
    #: Whether Codex's session files are on the supervisors' hosts rather than this machine:
    #: then a thread no task of the store ran cannot be found (nor continued).
    remote_sessions: ClassVar[bool] = False

    def __init__(self, store: Store, settings: Settings, ended: Ended) -> None:
        self.store = store
        self.settings = settings
        self.ended = ended
        self.watchers = Watchers(ended)

    async def start(self) -> None:
        """Start the backend's own background activities (if any)."""
        return None

    async def stop(self) -> None:
        """Stop them. Supervisors keep running: a task outlives the server that started it.
        Nothing of the backend acts (calls ``ended``, writes the store) after this returns."""
        return None

    def prepare(self) -> None:
        """A task was just recorded and will be launched soon: get ready (cheaply, without
        blocking). Nothing by default."""
        return None

    def supervises(self, row: TaskRow) -> bool:
        """Whether ``row`` runs under this kind of backend (the engine records it in the task's
        record, ``extra.backend``; rows from before that are local). A server of one backend must
        never judge another's tasks lost: several may share a task dir (a console command
        is a local engine)."""
        return backend_of(row) == self.name

    @abstractmethod
    def launch(self, row: TaskRow, plan: LaunchPlan) -> None:
        """Start the supervisor of ``row`` (claimed: phase ``starting``) to run ``plan``.
        Raises :class:`BackendError` when it cannot start; the engine then fails the task."""

    @abstractmethod
    def adopt(self, rows: list[TaskRow]) -> None:
        """``rows`` are the store's tasks in ``starting`` or ``running``: watch those this
        backend does not watch yet (another server may have started them), and record as
        ``lost`` the ones whose supervisor is gone without an end."""

    @abstractmethod
    def cancel(self, row: TaskRow) -> None:
        """Make the task's supervisor stop soon (it also reads the store's cancel flag)."""

    def steer(self, row: TaskRow) -> None:
        """A steer for ``row`` waits in the store: make its supervisor look now. The default
        does nothing (a supervisor also looks on its own about once a second)."""
        return None

    def make_worktree(self, cwd: Path, task_id: str, request: WorktreeRequest) -> git.Worktree:
        """Make the task's worktree and branch where its supervisor will run it."""
        return git.create_worktree(
            cwd,
            self.settings.worktree_dir,
            task_id,
            base_ref=request.base_ref,
            include_uncommitted=request.include_uncommitted,
        )

    def continue_worktree(self, parent: TaskRow) -> git.Worktree:
        """The worktree of a reply to ``parent`` (a worktree task): the reply continues the
        parent's thread in the parent's worktree, on its branch. :class:`~..errors.TaskError`
        (or :class:`~..git.GitError`), saying what to do instead, when it cannot."""
        record = branches.require_worktree(parent)
        if parent.extra.removed_worktree:
            raise TaskError(
                "the worktree of task {task_id} was removed (by a cleanup or expiry), so its "
                "thread cannot continue there. Start {LAUNCH} {WORKTREE_FROM} instead.",
                code=Code.GONE,
                task_id=parent.id,
                branch=record.branch,
            )
        return record

    def check_thread(self, parent: TaskRow) -> None:
        """A task is about to continue or fork ``parent``'s Codex thread: raise
        :class:`BackendError`, saying what to do instead, when it could not reach the thread's
        session files. Nothing by default (they are on this machine)."""
        return None

    def work_so_far(self, row: TaskRow, wt: git.Worktree, *, live: bool) -> str:
        """The commit, in ``wt.repo``, holding ``row``'s work so far: its branch tip, or for a
        ``live`` task a snapshot of its worktree now (the worktree itself left untouched).
        :class:`~..git.GitError` when there is none. Git work: call it from a thread."""
        checkout = None if row.extra.removed_worktree else wt.path
        return snapshots.work_so_far(wt.repo, wt.branch, checkout, live=live, label=row.id)

    def discard_worktree(self, wt: git.Worktree) -> None:
        """Undo :meth:`make_worktree` for a task that was never recorded (nothing ran in it)."""
        git.cleanup(wt.repo, wt.path, wt.branch, into=None, force=True)

    def finish_worktree(self, row: TaskRow, phase: Phase) -> None:
        """Commit a task's work on its branch and record the outcome, for a task whose
        supervisor could not (it vanished). Never raises."""
        branches.finish_worktree(self.store, row, phase)
