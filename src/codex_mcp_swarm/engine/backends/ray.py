"""The Ray backend: each task runs under a detached, named actor on a Ray worker node.

Owns the server's side of running tasks on a Ray cluster (``--backend ray``):

* joining the cluster (``--ray-address`` / ``RAY_ADDRESS``; this server's host must be a node of
  it, such as the head) in the swarm's own namespace;
* launching: one actor per task (:class:`.ray_worker.TaskActor`), named
  ``codex-swarm-<task_id>``, detached (it outlives this server), asking for one unit of the
  custom resource ``codex`` and no CPU, so only nodes started with
  ``--resources '{"codex": N}'`` take tasks, at most N at a time;
* collecting: one collector thread per task (:mod:`.ray_collector`) copies the actor's events
  and progress into this server's store as they come and hands over the end; this backend holds
  the consequences it asks for: at the end it fetches the task's branch from the git remote
  (worktree tasks), records the end, releases and kills the actor (then ``ended`` is called);
  a new actor when the old one died with its node and retries allow; ``lost`` otherwise;
* adoption: after a restart, active tasks are found again by their actor's name; a task whose
  actor is gone (its node died) or dies while watched is recorded ``lost`` with the reason;
* cancel: the actor's runner stops Codex's whole tree on the worker. An actor not placed yet
  (every ``codex`` slot it could take is in use) is removed at once instead, and the task is
  ``cancelled``: nothing of it runs later;
* waiting for a slot: a task whose actor is not placed yet stays ``starting`` and its record
  says what it waits for (its record's ``waiting_for``, shown by the status views) while no
  ``codex`` slot it could take is free;
* worktrees: made here from the user's repository as locally (same validation, base and
  carried snapshot), then the base commit is pushed to a private ref on the git remote
  (``git.remote``) and the local checkout is removed; the branch is fetched back at the end, so
  diff, merge and land work on the user's machine unchanged;
* replies to a worktree task: as locally, the reply works on that task's branch in the
  worktree its thread ran in. When it starts, the branch's tip here is pushed to the reply's
  private ref; the worker makes the worktree again at the thread's path from it (on the node
  that holds the thread's session files) and pushes the branch back; the server takes it only
  as a fast-forward of the branch here;
* forks and reviews: a fork runs on the node that holds the source thread's session files (as
  a reply does; refused while that node is gone). The work so far of a running worktree task
  is snapshotted by its actor on the worker and fetched from the git remote
  (:meth:`RayBackend.work_so_far`); a fork's own branch starts from it, and a review (or a fork
  without a worktree) gets a throwaway detached checkout of it on its worker
  (its record's ``checkout``, pushed to its private ref when it starts).

Ray is imported only here and in :mod:`.ray_worker` (at run time; the collectors use the module
this backend hands them), never by the rest of the package: the local backend needs nothing of
it.

Must not: queue or admit tasks, or know MCP.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from ... import git
from ...git import remote as gitremote
from .. import branches
from ..errors import Code, TaskError
from ..phases import Phase, is_terminal
from ..plan import LaunchPlan, WorktreeRequest
from ..records import ActorPayload, Node, PollSnapshot, RayRecord, RemoteCode
from ..store import TaskRow
from .base import Backend, BackendError
from .ray_collector import PROGRESS_INTERVAL, RESOURCE, Collector, noted, unstarted, why_gone

log = logging.getLogger(__name__)

NAMESPACE = "codex-swarm"
STARTING_GRACE = 30.0  # a claimed task may be without an actor this long (being launched)
CALL_TIMEOUT = 120.0  # seconds for one quick actor call before it is counted a failure
CONNECT_TIMEOUT = 10.0  # seconds to reach the cluster's head before giving up at start
NODE_DEATH_WAIT = 60.0  # seconds a relaunch waits for the cluster to see a dead node as dead
NO_END = "the worker ended without recording an end"
NO_ACTOR = "could not create the task's Ray actor: {reason}"


def actor_name(task_id: str) -> str:
    return f"codex-swarm-{task_id}"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendError(
            "the Ray backend needs Ray: install codex-mcp-swarm[ray] (pip install "
            "'codex-mcp-swarm[ray]') on this host and on every worker node"
        ) from exc
    return ray


def branch_id(worktree: git.Worktree) -> str:
    """The task whose branch (``codex-swarm/<id>``) a worktree names."""
    return worktree.branch.removeprefix(git.BRANCH_PREFIX)


class RayBackend(Backend):
    name = "ray"
    remote_worktrees = True
    remote_sessions = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ray: Any = None
        self._actor_class: Any = None
        self._unplaced: dict[str, Any] = {}  # task id -> handle of an actor not answering yet
        self._removed: set[str] = set()  # tasks whose unplaced actor a cancel killed
        self._guard = threading.Lock()  # _unplaced, _removed

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        import anyio

        await anyio.to_thread.run_sync(self._connect)
        self.watchers.open()

    def _connect(self) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            address = self.settings.ray_address or os.environ.get("RAY_ADDRESS") or "auto"
            _check_reachable(address)
            try:
                ray.init(
                    address=address,
                    namespace=NAMESPACE,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    include_dashboard=False,
                )
            except Exception as exc:
                raise BackendError(
                    "could not join the Ray cluster at {address!r}: {reason}. Start one with "
                    "`ray start --head` on this host (and `ray start --address HEAD:PORT "
                    "--resources '{{\"codex\": N}}'` on each worker), then start the server "
                    "with {RAY_ADDRESS}.",
                    address=address,
                    reason=str(exc),
                ) from exc
        _keep_stdout_clean()
        from .ray_worker import TaskActor

        self._ray = ray
        self._actor_class = ray.remote(TaskActor)

    async def stop(self) -> None:
        """Stop the collectors and wait for them (the actors keep running; the next server
        adopts them). A collector still waiting for another server's collector lock is
        abandoned, as a local watcher's wait is."""
        import anyio

        await anyio.to_thread.run_sync(self.watchers.close)

    # ---- worktrees ---------------------------------------------------------------------------

    def _remote_url(self, repo: Path) -> str:
        return gitremote.resolve_remote(repo, self.settings.git_remote)

    def _checked_remote_url(self, repo: Path) -> str:
        """The remote's URL, or a TaskError a caller who asked for a worktree can act on."""
        try:
            return self._remote_url(repo)
        except gitremote.NoRemote as exc:
            raise TaskError(
                "the repository {repo} has no git remote named {name!r}: the Ray backend moves "
                "code through a remote both the server and the workers reach. Add one (git "
                "remote add) or start the server with {GIT_REMOTE}.",
                code=Code.GIT,
                repo=str(exc.repo),
                name=exc.name,
            ) from None

    def make_worktree(self, cwd: Path, task_id: str, request: WorktreeRequest) -> git.Worktree:
        """As locally (the branch and its base here), then the base goes to the git remote for
        the worker; the local checkout is not needed and is removed."""
        wt = super().make_worktree(cwd, task_id, request)
        try:
            url = self._checked_remote_url(wt.repo)
            gitremote.push_base(wt.repo, url, wt.base_commit, task_id)
            gitremote.remove_local_worktree(wt.repo, wt.path)
        except (git.GitError, TaskError):
            with contextlib.suppress(git.GitError):
                super().discard_worktree(wt)
            raise
        return wt

    def continue_worktree(self, parent: TaskRow) -> git.Worktree:
        """The parent's worktree, once its branch is known to be here and reachable: the
        worker makes the checkout again from the branch when the reply starts."""
        record = super().continue_worktree(parent)
        if parent.extra.removed_branch:
            raise TaskError(
                "the branch {branch} of task {task_id} was deleted (merged or cleaned up), so "
                "its thread has no work to continue on. Start {LAUNCH} instead.",
                code=Code.GONE,
                branch=record.branch,
                task_id=parent.id,
            )
        repo = record.repo
        try:
            gitremote.branch_commit(repo, branch_id(record))
        except git.GitError:
            raise TaskError(
                "the branch {branch} of task {task_id} is no longer in {repo}, so its thread "
                "cannot continue on it. Start {LAUNCH} {WORKTREE} instead.",
                code=Code.GONE,
                branch=record.branch,
                task_id=parent.id,
                repo=str(repo),
            ) from None
        self._checked_remote_url(repo)  # a sentence now, not a failed task later
        return record

    def work_so_far(self, row: TaskRow, wt: git.Worktree, *, live: bool) -> str:
        """A running task's work is in its worktree on the worker: its actor writes it as a
        commit (the worktree untouched) and pushes it to a private ref, fetched here. Otherwise
        (not running yet, ended, or it ended meanwhile) the branch tip here, as locally."""
        if not self.supervises(row) or not live or row.phase != "running" or self._ray is None:
            return super().work_so_far(row, wt, live=False)
        key = uuid.uuid4().hex[:12]
        try:
            handle = self._ray.get_actor(actor_name(row.id), namespace=NAMESPACE)
            commit = self._ray.get(handle.snapshot_work.remote(key), timeout=CALL_TIMEOUT)
        except Exception as exc:
            fresh = self.store.get(row.id)
            if fresh is not None and fresh.terminal:  # it ended meanwhile: its branch is here
                return super().work_so_far(fresh, wt, live=False)
            raise TaskError(
                "the worker of task {task_id} did not hand over its work so far ({reason}); "
                "try again once the task has ended ({WAIT} tells when)",
                code=Code.NOT_YET,
                task_id=row.id,
                reason=why_gone(exc),
            ) from None
        if commit is None:  # its checkout is gone: the end (and the branch) came back meanwhile
            return super().work_so_far(row, wt, live=False)
        return gitremote.fetch_snapshot(wt.repo, self._remote_url(wt.repo), key)

    def check_thread(self, parent: TaskRow) -> None:
        """The thread's session files are on the node that ran ``parent``: refuse while that
        node is not in the cluster (nothing else has them)."""
        fresh = self.store.get(parent.id) or parent
        node = fresh.extra.node or Node()
        node_id = node.node_id
        if not node_id or self._ray is None:
            return  # not known yet (the task still starts): the actor's placement decides
        try:
            alive = any(n["NodeID"] == node_id and n["Alive"] for n in self._ray.nodes())
        except Exception:
            return
        if not alive:
            raise BackendError(
                "the thread of task {task_id} ran on Ray node {node} ({where}), which is no "
                "longer in the cluster, and only that node had its Codex session files: start "
                "{LAUNCH} instead, with the context it needs in the prompt",
                code=Code.GONE,
                task_id=parent.id,
                node=node_id[:8],
                where=node.where,
            )

    def discard_worktree(self, wt: git.Worktree) -> None:
        with contextlib.suppress(git.GitError):
            gitremote.drop_base(wt.repo, self._remote_url(wt.repo), wt.path.name)
        git.cleanup(wt.repo, None, wt.branch, into=None, force=True)

    def finish_worktree(self, row: TaskRow, phase: Phase) -> None:
        """The work of a lost task stays on the worker (nothing was pushed): record that."""
        if row.extra.worktree is not None:
            why = "the task's worker is gone, so its work was not pushed; its branch holds only "
            self.store.update_extra(row.id, lambda e: replace(e, outcome_error=why + "its base"))

    # ---- launching ---------------------------------------------------------------------------

    def _payload(self, row: TaskRow) -> ActorPayload:
        wt, checkout = row.extra.worktree, row.extra.checkout
        return ActorPayload(
            task_id=row.id,
            spec=row.spec,
            title=row.title,
            worktree=(
                RemoteCode(self._remote_url(wt.repo), wt.subdir, branch_id(wt))
                if wt is not None
                else None
            ),
            checkout=(
                RemoteCode(self._remote_url(Path(checkout.repo)), checkout.subdir)
                if checkout is not None
                else None
            ),
        )

    def launch(self, row: TaskRow, plan: LaunchPlan) -> None:
        if self._actor_class is None:
            raise BackendError("the Ray backend is not started")
        try:
            payload = self._payload(row)
            wt, code = row.extra.worktree, payload.worktree
            if wt is not None and code is not None and code.branch_id != row.id:
                # A reply: it continues the branch as it is here now (as a local reply works in
                # the worktree as it is when it starts).
                tip = gitremote.branch_commit(wt.repo, code.branch_id)
                gitremote.push_base(wt.repo, code.url, tip, row.id)
            checkout, look = row.extra.checkout, payload.checkout
            if checkout is not None and look is not None:  # the work it looks at, as taken here
                gitremote.push_base(Path(checkout.repo), look.url, checkout.commit, row.id)
        except git.GitError as exc:
            raise BackendError.because(exc, code=Code.GIT) from exc
        handle = self._create_actor(row, payload)
        self._watch(row.id, handle)

    def _create_actor(self, row: TaskRow, payload: ActorPayload, relaunches: int = 0) -> Any:
        """The task's actor, and its record: the name, and where its events start in this
        server's copy (a relaunched actor's own events start at 0 again)."""
        record = RayRecord(
            actor=actor_name(row.id), events_base=self.events_size(row.id), relaunches=relaunches
        )
        self.store.update_extra(row.id, lambda e: replace(e, ray=record))
        options: dict[str, Any] = {
            "name": actor_name(row.id),
            "namespace": NAMESPACE,
            "lifetime": "detached",
            "num_cpus": 0,
            "resources": {RESOURCE: 1},
            "max_concurrency": 8,
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        node_id = self.thread_node(row)
        if node_id is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
        last: Exception | None = None
        for _ in range(20):  # a dead actor's name is released shortly after its death
            try:
                return self._actor_class.options(**options).remote(payload)
            except ValueError as exc:  # the name is still taken
                last = exc
                time.sleep(0.5)
            except Exception as exc:
                raise BackendError(NO_ACTOR, reason=str(exc)) from exc
        raise BackendError(NO_ACTOR, reason=str(last))

    def _wait_node_gone(self, node_id: str) -> None:
        """Until the cluster knows the node is dead (a new actor could be placed there before),
        or :data:`NODE_DEATH_WAIT` passes (then it was the actor alone that died)."""
        deadline = time.monotonic() + NODE_DEATH_WAIT
        while time.monotonic() < deadline and not self.watchers.closed:
            try:
                alive = any(n["NodeID"] == node_id and n["Alive"] for n in self._ray.nodes())
            except Exception:
                return
            if not alive:
                return
            time.sleep(PROGRESS_INTERVAL)

    def thread_node(self, row: TaskRow) -> str | None:
        """A reply continues (a fork copies) a Codex thread whose session files are on the node
        that ran the thread's last task: it must run there too (it cannot while that node is
        gone)."""
        task = row.task
        if not (task.resume_thread_id or task.fork_thread_id) or not row.parent_id:
            return None
        parent = self.store.get(row.parent_id)
        node = parent.extra.node if parent is not None else None
        return node.node_id if node is not None and node.node_id else None

    def events_size(self, task_id: str) -> int:
        try:
            return self.store.events_path(task_id).stat().st_size
        except OSError:
            return 0

    def relaunch(self, task_id: str, exc: BaseException) -> Any:
        """After the task's node died: a new actor, when the task's ``retries`` allow one more
        attempt (and no cancel was asked for). None when the task is to be recorded lost."""
        row = self.store.get(task_id)
        if row is None or row.terminal or row.cancel_requested:
            return None
        done = row.extra.ray.relaunches if row.extra.ray is not None else 0
        if done >= row.plan.retries:
            return None
        old_node = row.extra.node.node_id if row.extra.node is not None else None
        if old_node:
            self._wait_node_gone(old_node)
        if self.watchers.closed:
            return None  # stopped meanwhile: the next server adopts (and judges) the task
        note = f"{why_gone(exc)}; started again on another node (attempt {done + 2})"
        notes = (*row.extra.ray_notes, note)
        self.store.update_extra(task_id, lambda e: replace(e, node=None, ray_notes=notes))
        self.store.set_progress(task_id, noted(row.progress, notes))
        try:
            return self._create_actor(row, self._payload(row), done + 1)
        except (BackendError, git.GitError):
            log.exception("relaunching %s failed", task_id)
            return None

    # ---- watching ----------------------------------------------------------------------------

    def adopt(self, rows: list[TaskRow]) -> None:
        if self._ray is None:
            return
        for row in rows:
            if row.terminal or row.id in self.watchers or not self.supervises(row):
                continue
            try:
                handle = self._ray.get_actor(actor_name(row.id), namespace=NAMESPACE)
            except ValueError:
                handle = None
            except Exception:
                log.exception("looking up the actor of %s failed", row.id)
                continue
            if handle is not None:
                self._watch(row.id, handle)
            elif time.time() - (row.started_at or row.created_at) <= STARTING_GRACE:
                continue  # being launched (by this or another server)
            elif self.store.requeue_unstarted(row.id):
                self.ended(row.id)  # claimed, but its actor never came: nothing ran, queue it
            else:
                self.lost(
                    row.id,
                    "no Ray actor of this task is alive on the cluster (its node died, or the "
                    "cluster was restarted)",
                )
                self.ended(row.id)

    def _watch(self, task_id: str, handle: Any) -> None:
        self.watchers.start(task_id, self._collect, handle, name=f"ray-{task_id}")

    def _collect(self, task_id: str, handle: Any) -> None:
        Collector(self, task_id, handle).run()

    # ---- what the collectors ask of the backend ----------------------------------------------

    def note_unplaced(self, task_id: str, handle: Any) -> None:
        """``handle`` has not answered yet: it may wait for a codex slot (a cancel removes it)."""
        with self._guard:
            self._unplaced[task_id] = handle

    def forget_unplaced(self, task_id: str) -> None:
        """The task's actor answered (it is placed), or its collector ended."""
        with self._guard:
            self._unplaced.pop(task_id, None)

    def collected(self, task_id: str) -> None:
        """The task's collector ended: nothing of it is unplaced or removed any more."""
        with self._guard:
            self._unplaced.pop(task_id, None)
            self._removed.discard(task_id)

    def was_removed(self, task_id: str) -> bool:
        """Whether a cancel removed the task's actor before it was placed."""
        with self._guard:
            return task_id in self._removed

    def remove_unplaced(self, task_id: str, handle: Any) -> None:
        """Kill the actor of a task that was cancelled before its actor answered (it waits for
        a codex slot): it never starts, and its collector records the task cancelled."""
        with self._guard:
            if self._unplaced.get(task_id) is not handle:
                return  # it answered meanwhile: the runner's own cancel takes over
            self._removed.add(task_id)
        with contextlib.suppress(Exception):
            self._ray.kill(handle, no_restart=True)

    def cancelled_unplaced(self, task_id: str) -> None:
        row = self.store.get(task_id)
        if row is None or row.terminal:
            return
        self._drop_private_ref(row)  # nothing was pushed
        self.store.update_extra(task_id, lambda e: replace(e, waiting_for=None))
        self.store.finish(
            task_id,
            phase="cancelled",
            error="cancelled before it started: its Ray actor, still waiting for a free codex "
            "slot, was removed",
        )

    def end_with(self, task_id: str, action: Any, handle: Any = None) -> None:
        """Run the end's consequence (unless the backend stopped), stop the actor, wake."""

        def consequence() -> None:
            action()
            if handle is not None:
                with contextlib.suppress(Exception):
                    self._ray.kill(handle, no_restart=True)

        self.watchers.act(task_id, consequence)

    def record_end(self, task_id: str, snap: PollSnapshot, handle: Any) -> None:
        row = self.store.get(task_id)
        if row is None or row.terminal:
            return
        end = snap.row
        if snap.stderr:
            with contextlib.suppress(OSError):
                fd = os.open(
                    self.store.stderr_path(task_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
                )
                try:
                    os.write(fd, snap.stderr)
                finally:
                    os.close(fd)
        wt = branches.worktree_of(row)
        if wt is not None:
            self._fetch_work(row, wt, snap)
        elif row.extra.checkout is not None:
            self._drop_private_ref(row)
        # The worker drops its checkout before the end is recorded: a reply (possible from
        # then on) makes it again in the same place, and must not lose it to this release.
        with contextlib.suppress(Exception):
            self._ray.get(handle.release.remote(), timeout=CALL_TIMEOUT)
        if end is None:
            self.store.finish(task_id, phase="lost", error=NO_END)
            return
        phase, error = end.phase, end.error
        if not is_terminal(phase):
            phase, error = "lost", NO_END
        self.store.finish(
            task_id,
            phase=phase,
            exit_code=end.exit_code,
            exit_signal=end.exit_signal,
            error=error,
            progress=noted(dict(end.progress), row.extra.ray_notes) or None,
            result=end.result,
            usage=dict(end.usage) or None,
        )

    def _fetch_work(self, row: TaskRow, wt: git.Worktree, snap: PollSnapshot) -> None:
        end = snap.row
        outcome_error = end.outcome_error if end is not None else None
        if not snap.pushed:
            why = snap.push_error or outcome_error or "nothing was pushed"
            self.store.update_extra(row.id, lambda e: replace(e, outcome_error=why))
            return
        try:
            gitremote.fetch_branch(wt.repo, self._remote_url(wt.repo), row.id, branch_id(wt))
            outcome = branches.outcome_of(wt)
            commit = end.commit if end is not None else None
            self.store.update_extra(
                row.id,
                lambda e: replace(e, outcome=outcome, commit=commit, outcome_error=outcome_error),
            )
        except git.GitError as exc:
            why = (
                f"the task's branch could not be fetched from the git remote: {exc}. It is on "
                f"the remote as {wt.branch}."
            )
            self.store.update_extra(row.id, lambda e: replace(e, outcome_error=why))

    def _drop_private_ref(self, row: TaskRow) -> None:
        """Delete the private ref a task got when it started (its base or the work it looked
        at) from the remote. Never raises."""
        wt, checkout = row.extra.worktree, row.extra.checkout
        repo = wt.repo if wt is not None else Path(checkout.repo) if checkout is not None else None
        if repo is not None:
            with contextlib.suppress(git.GitError):
                gitremote.drop_base(repo, self._remote_url(repo), row.id)

    def lost(self, task_id: str, why: str) -> None:
        row = self.store.get(task_id)
        if row is None or row.terminal:
            return
        if row.extra.checkout is not None:
            self._drop_private_ref(row)
        self.finish_worktree(row, "lost")
        self.store.finish(task_id, phase="lost", error=f"{why}. Its events so far are kept.")

    # ---- stopping ----------------------------------------------------------------------------

    def cancel(self, row: TaskRow) -> None:
        if self._ray is None:
            return
        with self._guard:
            unplaced = self._unplaced.get(row.id)
        if unplaced is not None and unstarted(row):  # waiting for a codex slot: remove it now
            self.remove_unplaced(row.id, unplaced)
            return
        try:
            handle = self._ray.get_actor(actor_name(row.id), namespace=NAMESPACE)
        except Exception:
            return  # no actor (yet): adoption or the launch sees the store's cancel flag
        handle.cancel.remote()


def _check_reachable(address: str) -> None:
    """Fail fast (Ray itself retries for minutes) when nothing listens at ``host:port``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", or a form this check does not know: let Ray decide
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise BackendError(
            "no Ray cluster answers at {address} ({reason}). Start its head with "
            "`ray start --head --port PORT` (on this host), or fix {RAY_ADDRESS}.",
            address=address,
            reason=str(exc.strerror or exc),
        ) from None


def _keep_stdout_clean() -> None:
    """Ray's driver prints cluster errors (a raylet died, ...) to ``sys.stdout``; under the stdio
    transport stdout is the MCP channel and a stray line breaks the client. Send them to stderr.
    (A narrow patch of one Ray function; if a Ray version lacks it, nothing is patched.)"""
    try:
        from ray._private import worker as ray_driver
    except ImportError:
        return
    original = getattr(ray_driver, "print_to_stdstream", None)
    if original is None or getattr(original, "codex_swarm_patched", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.codex_swarm_patched = True  # type: ignore[attr-defined]
    ray_driver.print_to_stdstream = to_stderr
