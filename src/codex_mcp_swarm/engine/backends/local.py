"""The local backend: one runner process per task on this machine.

Owns: starting runners (forked from the pre-imported fork server, see :mod:`..forkserver`, or
spawned as ``python -m codex_mcp_swarm.engine.runner`` when that is unavailable), learning the
instant one is gone, signalling one to stop, and judging a task ``lost`` when its runner
vanished without recording an end (and then stopping its orphaned Codex and committing its
worktree).

How the end is learned without polling: before a runner exists this backend takes an exclusive
``flock`` on the task's ``runner.lock`` and hands the descriptor to the runner, which holds it
for its whole life. A watcher thread per task blocks on a shared lock of the same file and
returns the instant the runner is gone, however it died. Watching starts only once the runner
is recorded in the store: a watcher never holds the lock while a launch still needs it, and
"lost" is judged against the runner the watcher saw (pid and start time), never a newer one.
A watcher's blocking wait is abandoned when the backend stops; a wake-up after that does
nothing (the next server adopts the task). A runner spawned as a child of this process is reaped
by the watcher that sees it go (no thread of its own), or at stop if it has already gone.

Must not: queue or admit tasks, or know MCP.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil

from .. import procs
from ..errors import Code
from ..forkserver import RUNNER_MODULE, ForkServer, ForkServerError
from ..plan import LaunchPlan
from ..store import TaskRow
from .base import Backend, BackendError

log = logging.getLogger(__name__)

STARTING_GRACE = 10.0  # a task may sit in 'starting' without a recorded runner this long
LOCK_RETRY_FOR = 2.0  # seconds a launch retries the exclusive lock (a late watcher may hold it)


@dataclass(frozen=True)
class RunnerIdentity:
    """A runner process as recorded: its pid and start time (a reused pid is another process)."""

    pid: int | None
    ctime: float | None

    @classmethod
    def of(cls, row: TaskRow) -> RunnerIdentity:
        return cls(row.runner_pid, row.runner_ctime)


def use_fork_server() -> bool:
    """Fork runners from a pre-imported parent where fork is dependable (not on macOS, where
    forking a process that may have loaded system frameworks is unsafe); CODEX_SWARM_FORKSERVER=0
    turns it off."""
    if os.environ.get("CODEX_SWARM_FORKSERVER", "1") == "0":
        return False
    return sys.platform.startswith("linux")


class LocalBackend(Backend):
    name = "local"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._forks: ForkServer | None = (
            ForkServer(self.store.task_dir / "forkserver.log") if use_fork_server() else None
        )
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # spawned runners to reap
        self._children_guard = threading.Lock()

    async def start(self) -> None:
        self.watchers.open()

    def prepare(self) -> None:
        """A task was recorded: have the fork server ready before the queue starts it (a
        console command that only reads or cancels never starts one)."""
        if self._forks is not None:
            self._forks.warm()

    async def stop(self) -> None:
        """Abandon the watchers' waits; wait for consequences already being handled."""
        import anyio

        def close() -> None:
            self.watchers.close()
            if self._forks is not None:
                self._forks.close()
            with self._children_guard:  # those still running are reaped by their watcher
                for task_id, proc in list(self._children.items()):
                    if proc.poll() is not None:
                        del self._children[task_id]

        await anyio.to_thread.run_sync(close)

    # ---- launching ---------------------------------------------------------------------------

    def _exclusive_lock(self, task_id: str) -> int:
        fd = os.open(self.store.lock_path(task_id), os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + LOCK_RETRY_FOR
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise BackendError(
                        "the lock of task {task_id} is held by another process; another "
                        "server may be starting it",
                        code=Code.NOT_YET,
                        task_id=task_id,
                    ) from None
                time.sleep(0.01)

    def _spawn(self, task_id: str, fd: int) -> int | None:
        """The new runner's pid; None when it is unknown whether one started."""
        if self._forks is not None:
            try:
                return self._forks.spawn(self.store.task_dir, task_id, fd)
            except ForkServerError as exc:
                log.warning("%s; starting runners as new processes", exc)
                if exc.maybe_started:
                    return None
        log_fd = os.open(
            self.store.runner_log(task_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    RUNNER_MODULE,
                    *("--task-dir", str(self.store.task_dir)),
                    *("--task-id", task_id),
                    *("--lock-fd", str(fd)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=(fd,),
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        # Reaped when its watcher sees it go, so it does not linger as a zombie of this server.
        with self._children_guard:
            self._children[task_id] = proc
        return proc.pid

    def _reap(self, task_id: str) -> None:
        """Reap the runner this server spawned for ``task_id``, if any (it has let go of its
        lock: it is exiting or gone)."""
        with self._children_guard:
            proc = self._children.pop(task_id, None)
        if proc is not None:
            proc.wait()

    def launch(self, row: TaskRow, plan: LaunchPlan) -> None:
        fd = self._exclusive_lock(row.id)
        try:
            # Under the lock: still ours to start? (another server may have put a task that
            # waited too long back in the queue, or a cancel may have ended it.)
            fresh = self.store.get(row.id)
            if fresh is None or fresh.phase != "starting" or fresh.runner_pid is not None:
                return
            try:
                pid = self._spawn(row.id, fd)
            except OSError as exc:
                raise BackendError(
                    "could not start the task runner: {reason}", reason=str(exc)
                ) from exc
        finally:
            os.close(fd)  # the runner's copy keeps the lock held
        if pid is None:
            # A runner may hold the lock: adoption watches it if so (its end is recorded as
            # usual), or puts the task back in the queue once nobody holds the lock.
            return
        # The runner owns the task now: nothing below may report it failed.
        identity = RunnerIdentity(pid, procs.create_time(pid) or time.time())
        try:
            self.store.set_runner(row.id, pid, identity.ctime or time.time())
        except Exception:  # cancel then goes through the store's flag alone
            log.exception("could not record the runner of %s", row.id)
        self._watch(row.id, identity)

    # ---- watching ----------------------------------------------------------------------------

    def adopt(self, rows: list[TaskRow]) -> None:
        for listed in rows:
            if listed.terminal or listed.id in self.watchers or not self.supervises(listed):
                continue
            # Read again: the list may be older than a watcher that has just ended (a runner
            # records its end before it lets go of its lock), and watching an ended task would
            # leave a thread for nothing.
            row = self.store.get(listed.id)
            if row is None or row.terminal:
                continue
            if row.runner_pid is not None:
                self._watch(row.id, RunnerIdentity.of(row))
            elif time.time() - (row.started_at or row.created_at) > STARTING_GRACE:
                self._judge_unrecorded(row)
            # else: claimed by a server that is starting its runner now: leave the lock alone

    def _judge_unrecorded(self, row: TaskRow) -> None:
        """A task long in 'starting' or 'running' with no runner recorded, and nobody holding
        its lock: no runner is alive. Back to the queue if Codex never started (the server that
        claimed it stopped before its runner ran: nothing was done), else lost."""
        try:
            fd = os.open(self.store.lock_path(row.id), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a runner holds it (its pid was not recorded): watch it
            os.close(fd)
            self._watch(row.id, RunnerIdentity(None, None))
            return
        try:
            fresh = self.store.get(row.id)
            if fresh is not None and not fresh.terminal and fresh.runner_pid is None:
                if fresh.phase == "starting" and fresh.codex_pid is None:
                    self.store.requeue_unstarted(row.id)
                else:
                    self._mark_lost(fresh, "its runner ended before it was recorded")
        finally:
            os.close(fd)
        self.ended(row.id)

    def _watch(self, task_id: str, seen: RunnerIdentity) -> None:
        self.watchers.start(task_id, self._watch_thread, seen, name=f"watch-{task_id}")

    def _watch_thread(self, task_id: str, seen: RunnerIdentity) -> None:
        try:
            fd = os.open(self.store.lock_path(task_id), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # returns when no runner holds the lock
            finally:
                os.close(fd)
            self._reap(task_id)
        except OSError:
            log.exception("watching %s failed", task_id)
        self.watchers.act(task_id, functools.partial(self._runner_gone, task_id, seen))

    def _runner_gone(self, task_id: str, seen: RunnerIdentity) -> None:
        row = self.store.get(task_id)
        if row is None or row.terminal:
            return
        recorded = RunnerIdentity.of(row)
        if seen.pid is not None and recorded != seen:
            self._watch(task_id, recorded)  # another runner took over: watch that one instead
            return
        if recorded.pid is None and seen.pid is None:
            self._mark_lost(row, "its runner ended before it was recorded")
            return
        self._mark_lost(
            row, "the task's runner process vanished without recording an end (killed or crashed)"
        )

    def _mark_lost(self, row: TaskRow, why: str) -> None:
        codex = procs.same_process(row.codex_pid, row.codex_ctime)
        note = ""
        if codex is not None:
            tree = [codex, *procs.descendants(codex.pid)]
            procs.signal_all([codex], signal.SIGINT)
            procs.kill_all(tree, grace=self.settings.cancel_grace)
            note = "; its orphaned Codex process was stopped"
        self.finish_worktree(row, "lost")
        self.store.finish(row.id, phase="lost", error=f"{why}{note}. Its events so far are kept.")

    # ---- stopping ----------------------------------------------------------------------------

    def steer(self, row: TaskRow) -> None:
        # As for cancel: only a runner in 'running' has its SIGUSR1 handler installed (the
        # default action of SIGUSR1 would kill it).
        runner = procs.same_process(row.runner_pid, row.runner_ctime)
        if runner is not None and row.phase == "running":
            with contextlib.suppress(OSError, psutil.Error):
                runner.send_signal(signal.SIGUSR1)

    def cancel(self, row: TaskRow) -> None:
        # A runner in 'running' has its SIGTERM handler installed: signal it for a fast stop.
        # Before that the store's cancel flag, which the runner reads at start and on every
        # tick, is the only safe channel (an early SIGTERM would kill it before it records).
        runner = procs.same_process(row.runner_pid, row.runner_ctime)
        if runner is not None and row.phase == "running":
            with contextlib.suppress(OSError, psutil.Error):
                runner.send_signal(signal.SIGTERM)
