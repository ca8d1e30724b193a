"""The Ray backend's worker side: one detached actor per task, on a node that offers ``codex``.

Owns: :class:`TaskActor`, which plays the local backend's role on the worker node. It keeps a
node-local store (``$CODEX_SWARM_WORKER_DIR``, default ``~/.codex-swarm-worker``) and runs the
task with the very same runner as the local backend (``python -m
codex_mcp_swarm.engine.runner``: it owns the Codex process tree, folds events, enforces the
limits, retries, commits a worktree task's work) against that store. The node-local record is
kept until the server has copied it, so a server that is down loses nothing.

Worktree tasks get their code through git: the actor fetches the task's base from the remote
into a per-node cache repository (``git.remote``), makes the worktree there, and pushes branch
``codex-swarm/<task_id>`` when the runner has recorded the end. A reply to a worktree task
(its payload's ``branch_id``: the task whose branch it continues) works on that branch, in the same
directory its thread ran in before (``worktrees/<branch_id>``), made again from the branch's tip
as the server had it. A task that only looks at another's work (a ``checkout``: a review,
a fork without its own worktree) runs in a detached checkout of its private ref
(``worktrees/<task_id>``), removed on release; nothing is pushed back. While a worktree task
runs, :meth:`TaskActor.snapshot_work` hands its work so far to the server (a commit pushed to a
private ref; the worktree, its index and branch untouched). Tasks without a worktree run in
the ``cwd`` they name, which must exist on the worker (a shared filesystem); otherwise the task
fails at once and says so.

The worker uses its own Codex: ``CODEX_SWARM_CODEX_BIN`` from the environment ``ray start`` had
(else ``codex`` on its PATH), with its own ``CODEX_HOME`` and credentials.

Each actor has one thread of its own, its task's life (prepare, start the runner, wait for it,
record the end when the runner did not, push the branch); it ends with the task, and the actor's
process (killed by the server once it has released the task) with it.

The runner lives in the actor's process session with a parent-death signal: when the actor's
process dies (its node killed, the actor killed), the runner and Codex die with it.

Must not: import Ray at module level (the class is made a Ray actor by :mod:`.ray`), talk to the
server's store, or know MCP.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ... import git
from ...git import remote as gitremote
from ...git import snapshots
from .. import procs
from ..records import ActorPayload, Node, PollSnapshot, TaskExtra, WorkerRow
from ..store import Store

ENV_WORKER_DIR = "CODEX_SWARM_WORKER_DIR"
EVENT_CHUNK = 1024 * 1024  # bytes of raw events handed to the server per call
STDERR_KEEP = 64 * 1024  # bytes of the runner's stderr.log tail handed over at the end


def worker_dir() -> Path:
    return Path(os.environ.get(ENV_WORKER_DIR) or Path.home() / ".codex-swarm-worker")


def _worker_codex() -> str | None:
    return shutil.which(os.environ.get("CODEX_SWARM_CODEX_BIN") or "codex")


def _node() -> Node:
    node = Node(hostname=socket.gethostname(), pid=os.getpid())
    try:
        import ray

        context = ray.get_runtime_context()
        node_id = context.get_node_id()
        address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    except Exception:  # outside Ray (unit use): the host is enough
        return node
    return replace(node, node_id=str(node_id), address=str(address))


class TaskActor:
    """One task on one worker node. Construct with the :class:`~..records.ActorPayload` that
    :mod:`.ray` sends; every method returns quickly except :meth:`wait`, which returns when the
    task ended or after ``timeout``."""

    def __init__(self, payload: ActorPayload) -> None:
        self.task_id = payload.task_id
        self.payload = payload
        self.cancelled = False  # a cancel came while it was still preparing
        self.node = _node()
        root = worker_dir()
        self.store = Store(root / "tasks")
        self.cache = root / "git"
        self.worktrees = root / "worktrees"
        self.done = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pushed: str | None = None
        self.push_error: str | None = None
        #: the task whose branch and worktree directory this task works in (a reply: another's)
        self.branch_id = (payload.worktree.branch_id if payload.worktree else "") or self.task_id
        self._lock = threading.Lock()
        self._checkout = threading.Lock()  # the worktree: a snapshot of it, or its release
        threading.Thread(target=self._life, daemon=True, name=f"task-{self.task_id}").start()

    # ---- the task's life ---------------------------------------------------------------------

    def _prepare(self) -> tuple[dict[str, Any], TaskExtra]:
        """The spec to run here and the node-local row's record; GitError/OSError if
        impossible."""
        spec = dict(self.payload.spec)
        launch = dict(spec["launch"])
        argv = list(launch["argv"])
        extra = TaskExtra()
        codex = _worker_codex()
        if codex is None:
            raise OSError(
                "this worker has no Codex CLI: set CODEX_SWARM_CODEX_BIN (or put codex on PATH) "
                "in the environment of `ray start` on that host"
            )
        argv[0] = codex
        wt = self.payload.worktree
        if wt is not None:
            path, commit = gitremote.checkout_task(
                self.cache, wt.url, self.task_id, self.worktrees, self.branch_id
            )
            cwd = str(path / wt.subdir) if wt.subdir else str(path)
            Path(cwd).mkdir(parents=True, exist_ok=True)
            record = git.Worktree(
                path=path,
                branch=git.BRANCH_PREFIX + self.branch_id,
                repo=gitremote.cache_repo(self.cache, wt.url),
                base_ref=commit,
                base_commit=commit,
                base_branch=None,
                carried_commit=None,
                subdir=wt.subdir,
            )
            extra = replace(extra, worktree=record)
        elif self.payload.checkout is not None:
            view = self.payload.checkout
            path, _commit = gitremote.checkout_task(
                self.cache, view.url, self.task_id, self.worktrees, detached=True
            )
            cwd = str(path / view.subdir) if view.subdir else str(path)
            if not Path(cwd).is_dir():
                raise OSError(f"the work to look at has no directory {view.subdir!r}")
        else:
            cwd = launch["cwd"]
            if not Path(cwd).is_dir():
                raise OSError(
                    f"the directory {cwd!r} does not exist on worker {self.node.hostname} "
                    f"({self.node.address or '?'}): a task without a worktree runs in a "
                    "directory the workers share with the server. Start the task in a worktree "
                    "of its own (its code then travels through the git remote) or use a shared "
                    "filesystem."
                )
        argv = [f"--cd={cwd}" if a.startswith("--cd=") else a for a in argv]
        launch.update(argv=argv, cwd=cwd)
        spec["launch"] = launch
        return spec, extra

    def _life(self) -> None:
        try:
            if self.store.get(self.task_id) is None:
                self._start()
            else:  # this actor was restarted by Ray: the runner is gone with the old process
                row = self.store.get(self.task_id)
                if row is not None and not row.terminal:
                    self.store.finish(
                        self.task_id,
                        phase="lost",
                        error="the task's Ray actor was restarted; its runner is gone",
                    )
            proc = self.proc
            if proc is not None:
                proc.wait()
            row = self.store.get(self.task_id)
            if row is not None and not row.terminal:  # the runner died without an end
                self.store.finish(
                    self.task_id,
                    phase="lost",
                    error=f"the task runner on worker {self.node.hostname} ended "
                    "without recording an end",
                )
            self._push()
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.store.finish(
                    self.task_id, phase="failed", error=f"the Ray worker failed: {exc!r}"
                )
        finally:
            self.done.set()

    def _start(self) -> None:
        spec: dict[str, Any] | None = None
        failure: str | None = None
        extra = TaskExtra()
        try:
            spec, extra = self._prepare()
        except (git.GitError, OSError) as exc:
            failure = str(exc)
        self.store.create(
            self.task_id,
            spec=spec or dict(self.payload.spec),
            cwd=(spec or self.payload.spec)["launch"]["cwd"],
            title=self.payload.title,
            owner="ray-worker",
            extra=replace(extra, node=self.node),
        )
        self.store.claim_queued(1_000_000)  # 'starting': the runner takes it from here
        if failure is not None:
            self.store.finish(self.task_id, phase="failed", error=failure)
            return
        if self.cancelled:
            self.store.request_cancel(self.task_id)
        log = os.open(
            self.store.runner_log(self.task_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        try:
            with self._lock:
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "codex_mcp_swarm.engine.runner",
                        *("--task-dir", str(self.store.task_dir)),
                        *("--task-id", self.task_id),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # In the actor's session, and dying with the actor: nothing of the task
                    # outlives its node or its actor.
                    preexec_fn=procs.parent_death_signal(signal.SIGKILL),
                )
        finally:
            os.close(log)
        self.store.set_runner(self.task_id, self.proc.pid, procs.create_time(self.proc.pid) or 0)

    def _push(self) -> None:
        wt = self.payload.worktree
        if wt is None:
            return
        try:
            self.pushed = gitremote.push_task_branch(self.cache, wt.url, self.branch_id)
        except git.GitError as exc:
            self.push_error = f"the task's branch could not be pushed from the worker: {exc}"

    # ---- the server's calls ------------------------------------------------------------------

    def snapshot(self, offset: int = 0) -> PollSnapshot:
        """The node-local record and the raw events from byte ``offset`` (at most a chunk)."""
        row = self.store.get(self.task_id)
        events = b""
        with contextlib.suppress(OSError), open(self.store.events_path(self.task_id), "rb") as f:
            f.seek(offset)
            events = f.read(EVENT_CHUNK)
            cut = events.rfind(b"\n")  # whole lines only; the rest comes next time
            events = events[: cut + 1] if cut >= 0 else b""
        done = self.done.is_set()
        record = None
        if row is not None:
            record = WorkerRow(
                phase=row.phase,
                codex_pid=row.codex_pid,
                progress=row.progress,
                exit_code=row.exit_code,
                exit_signal=row.exit_signal,
                error=row.error,
                result=row.result,
                usage=row.usage,
                commit=row.extra.commit,
                outcome_error=row.extra.outcome_error,
            )
        snap = PollSnapshot(
            node=self.node, done=done, events=events, offset=offset + len(events), row=record
        )
        if done:
            stderr = b""
            with (
                contextlib.suppress(OSError),
                open(self.store.stderr_path(self.task_id), "rb") as f,
            ):
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - STDERR_KEEP))
                stderr = f.read()
            snap = replace(snap, pushed=self.pushed, push_error=self.push_error, stderr=stderr)
        return snap

    def poll(self, offset: int, timeout: float) -> PollSnapshot:
        """:meth:`snapshot` once the task has ended or ``timeout`` has passed, whichever is
        first: the server keeps one of these outstanding per task (no tight polling)."""
        self.done.wait(timeout)
        return self.snapshot(offset)

    def wait(self, timeout: float) -> bool:
        """Whether the task has ended (and its branch is pushed), waiting up to ``timeout``."""
        return self.done.wait(timeout)

    def cancel(self) -> None:
        """Stop the task: the runner stops Codex's whole tree (SIGINT, grace, SIGKILL)."""
        row = self.store.request_cancel(self.task_id)
        with self._lock:
            proc = self.proc
        if proc is not None and proc.poll() is None and row is not None and row.phase == "running":
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        if proc is None and not self.done.is_set():
            self.cancelled = True  # still preparing: cancelled as it starts

    def snapshot_work(self, key: str) -> str | None:
        """The task's work so far as a commit (HEAD plus every tracked and untracked change;
        the worktree, its index and branch untouched), pushed to the private ref of ``key`` for
        the server. None when this task has no checkout (yet, or any more)."""
        wt = self.payload.worktree
        if wt is None:
            return None
        path = self.worktrees / self.branch_id
        with self._checkout:
            if not path.is_dir():
                return None
            commit = snapshots.work_so_far(
                gitremote.cache_repo(self.cache, wt.url),
                git.BRANCH_PREFIX + self.branch_id,
                path,
                live=True,
                label=self.task_id,
            )
            gitremote.push_snapshot(path, wt.url, commit, key)
        return commit

    def release(self) -> None:
        """The server has the task's events and branch: drop the worktree (or the checkout it
        looked at) from the node's cache."""
        wt, view = self.payload.worktree, self.payload.checkout
        with self._checkout:
            if wt is not None and self.done.is_set():
                with contextlib.suppress(git.GitError, OSError):
                    gitremote.remove_task(
                        self.cache, wt.url, self.task_id, self.worktrees, self.branch_id
                    )
            elif view is not None and self.done.is_set():
                with contextlib.suppress(git.GitError, OSError):
                    gitremote.remove_task(self.cache, view.url, self.task_id, self.worktrees)
        self.released_at = time.time()
