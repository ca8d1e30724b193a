"""The engine: tasks from spec to recorded end, the same for every backend.

Owns: task ids, admission (through :mod:`.admission`), recording a new task with its
:class:`~.plan.LaunchPlan`, the queue and the concurrency limit (claimed in one store
transaction, so several servers sharing a task dir hold it together), handing claimed tasks to
the backend, adopting tasks that another (or an earlier) server started, waking waiters the
moment a task ends, cancelling, paging a task's events, and listing every task a page of rows
at a time.

Where a task's supervisor runs is the backend's business (:mod:`.backends`); the local backend
runs one runner process per task (:mod:`.runner`).

Ownership of background activity: the engine is an async context manager (``async with
Engine(settings) as engine``, or ``await start()`` / ``await stop()`` in one task). What
``start()`` starts it enters into one exit stack, which ``stop()`` (or a failed ``start()``)
unwinds in reverse: the task group with the scheduler (queue, adoption, worktree expiry) is
cancelled and awaited, then the backend stops its watchers. Nothing of either acts after
``stop()`` returns. Blocking work from async code goes
through :func:`.offload.off_loop`.

The surface faces await: ``launch``, ``reply``, ``steer``, ``fork``, ``review``, ``land``,
``merge``, ``cleanup``, ``diff`` and the queries (``get``, ``get_many``, ``list``, ``status``,
...). Each runs its own blocking work (SQLite, git, the backend, files) in a worker thread, so
a slow call of one client never holds up the event loop that answers the others, and no face
decides what blocks. Its ``*_sync`` twins are the same work for engine modules already in a
worker thread and for console commands with no event loop.

Must not: know MCP or the console: callers get :class:`~.store.TaskRow` objects, the typed
views of :mod:`.views` (a listing already as their JSON, ``as_data``) and the records of
:mod:`.records`, and errors whose words name no particular face.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from .. import git
from ..codex.command import TaskSpec, build_argv
from ..settings import ENV_DEPTH, Settings
from . import branches, landing, outlook, steering
from .admission import (
    admit_spec,
    check_depth,
    codex_path,
    credentials_problem,
    nested_swarm_servers,
    nesting_depth,
    reply_spec,
    resolve_limits,
    title_of,
)
from .backends import make_backend
from .backends.base import Backend, BackendError
from .errors import Code, EngineError, TaskError
from .eventlog import read_page
from .offload import off_loop
from .phases import ACTIVE, SUPERVISED, TERMINAL
from .plan import Checkout, LaunchPlan, Limits, WorktreeRequest
from .records import (
    AutoLand,
    CleanupReport,
    Collision,
    ConflictPair,
    DiffReport,
    EventPage,
    LandingRow,
    LandReport,
    MergeReport,
    Overlap,
    TaskExtra,
    as_data,
)
from .store import Store, TaskRow, backend_of, valid_task_id
from .views import listing_view

__all__ = [
    "Checkout",
    "Code",
    "Engine",
    "EngineError",
    "Limits",
    "Newest",
    "Status",
    "TaskError",
    "WorktreeRequest",
    "nesting_depth",
    "new_task_id",
]

log = logging.getLogger(__name__)
_BARE_NAME = re.compile(r"[A-Za-z0-9_-]+")

EXPIRE_INTERVAL = 600.0  # seconds between expiry passes over old finished tasks' worktrees
ADOPT_INTERVAL = 2.0  # seconds between scans for active tasks this server does not watch yet
NOT_AN_ID = "{task_id!r} is not a task id (ids look like 'a1b2c3d4e5f6')"


def new_task_id() -> str:
    return uuid.uuid4().hex[:12]


async def wait_event(event: anyio.Event, timeout: float | None) -> None:
    """Wait for ``event`` or ``timeout`` (None: no limit)."""
    with anyio.move_on_after(timeout):
        await event.wait()


@dataclass(frozen=True)
class Newest:
    """What a list query finds: the newest tasks, how many there are in all, and the newest
    landings, each with its place in its repository's queue (None unless queued)."""

    rows: list[TaskRow]
    total: int
    landings: list[tuple[LandingRow, int | None]]


@dataclass(frozen=True)
class Status:
    """What a status query finds: the rows asked for (in that order), the queue position of
    each queued one, the predicted conflicts between their branches, and for each that waits to
    land how many tasks wait to land in its repository (see :func:`.outlook.waiting_to_land`)."""

    rows: list[TaskRow]
    positions: dict[str, int]
    conflicts: list[ConflictPair]
    waiting: dict[str, int]


class Engine:
    """Tasks for one server process. ``async with Engine(settings) as engine: ...``."""

    def __init__(
        self, settings: Settings, store: Store | None = None, backend: Backend | None = None
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings.task_dir)
        self.backend = backend or make_backend(settings, self.store, self._ended)
        self.owner = uuid.uuid4().hex[:12]
        self.started_at = time.time()
        self.depth = nesting_depth()
        self._codex_version: str | None = None
        self._credentials_found = False  # once found, not looked for again
        self._users = 0
        self._token: anyio.lowlevel.EventLoopToken | None = None
        self._stack: contextlib.AsyncExitStack | None = None  # what start() started
        self._changed: anyio.Event | None = None
        self._kick: anyio.Event | None = None
        self._running = False
        from .landings import LandingQueue  # it builds on this module

        self.landings = LandingQueue(self)

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def users(self) -> int:
        return self._users

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start (or, for a further user in the same task, join) the engine."""
        self._users += 1
        if self._users > 1:
            return
        try:
            async with contextlib.AsyncExitStack() as stack:
                self._token = anyio.lowlevel.current_token()
                self._changed = anyio.Event()
                self._kick = anyio.Event()
                await self.backend.start()
                stack.push_async_callback(self._stop_backend)
                self._running = True
                await off_loop(self._adopt)
                group = await stack.enter_async_context(anyio.create_task_group())
                stack.callback(group.cancel_scope.cancel)  # unwound first: the group ends
                group.start_soon(self._scheduler)
                group.start_soon(self.landings.run)
                self._stack = stack.pop_all()
        except BaseException:
            self._users, self._running, self._token = 0, False, None
            raise

    async def stop(self) -> None:
        """Stop serving. Detached tasks keep running (and are adopted by the next server) unless
        the server was started with ``cancel_on_exit``. The last user stops it; nothing of the
        engine or its backend acts after this returns."""
        self._users = max(0, self._users - 1)
        if self._users or self._stack is None:
            return
        # Shielded: a server shutting down because its caller was cancelled still stops
        # (and, with cancel_on_exit, cancels) everything it owns before returning: the cancels
        # run under their own shield, then the stack unwinds (the backend's stop is shielded).
        if self.settings.cancel_on_exit:
            with anyio.CancelScope(shield=True):
                mine = await off_loop(self.store.list, phases=ACTIVE, owner=self.owner)
                async with anyio.create_task_group() as cancels:
                    for row in mine:
                        cancels.start_soon(self._cancel_quietly, row.id)
        self._running = False
        stack, self._stack = self._stack, None
        try:
            await stack.aclose()  # the scheduler's group, then the backend
        finally:
            self._token = None

    async def _stop_backend(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.backend.stop()

    async def _cancel_quietly(self, task_id: str) -> None:
        """Cancel one of this server's tasks at shutdown; a failure is logged, not raised (the
        other tasks are still cancelled, and the task is adopted by the next server)."""
        try:
            await self.cancel(task_id)
        except Exception:
            log.warning("task %s was not cancelled at shutdown", task_id, exc_info=True)

    def expire(self) -> list[str]:
        """Remove old finished tasks' worktrees (unmerged branches stay). Runs on a timer."""
        return branches.expire(self.store, self.settings.task_max_age)

    async def _scheduler(self) -> None:
        expired_at = 0.0
        # Often enough that a worktree outlives its max age by at most a quarter of it.
        every = min(EXPIRE_INTERVAL, max(1.0, self.settings.task_max_age / 4))
        while self._running:
            kick = self._kick
            assert kick is not None
            try:
                await off_loop(self._start_queued)
                await off_loop(self._adopt)
            except Exception:
                log.exception("scheduler pass failed")
            if time.monotonic() - expired_at > every:
                expired_at = time.monotonic()
                try:
                    await off_loop(self.expire)
                except Exception:
                    log.exception("expiry pass failed")
            await wait_event(kick, ADOPT_INTERVAL)
            if kick is self._kick:
                self._kick = anyio.Event()

    async def wait_for_change(self, timeout: float) -> None:
        """Return when a task ends (or another change is announced), or after ``timeout``."""
        if self._changed is None:
            await anyio.sleep(timeout)
            return
        await wait_event(self._changed, timeout)

    def _notify(self) -> None:
        """Wake every waiter (they re-read the store) and the scheduler (a slot may be free).
        Runs on the event loop's thread."""
        if self._changed is not None:
            self._changed.set()
            self._changed = anyio.Event()
        if self._kick is not None:
            self._kick.set()

    def _from_any_thread(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the engine's event loop, whichever thread calls (a no-op once stopped)."""
        token = self._token
        if token is None:
            return
        try:
            anyio.lowlevel.current_token()
        except RuntimeError:  # not on an event loop: a worker or watcher thread
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(fn, token=token)
            return
        fn()

    def _ended(self, task_id: str) -> None:
        """The backend's call: ``task_id``'s supervisor is gone and the store has its end."""
        self._from_any_thread(self._notify)

    def _wake_scheduler(self) -> None:
        def kick() -> None:
            if self._kick is not None:
                self._kick.set()

        self._from_any_thread(kick)

    # ---- launching ---------------------------------------------------------------------------

    def codex_path(self) -> str:
        """The Codex binary to run, or a TaskError that says how to get one."""
        return codex_path(self.settings)

    def codex_version_sync(self) -> str | None:
        if self._codex_version is None:
            try:
                out = subprocess.run(
                    [self.codex_path(), "--version"],
                    capture_output=True,
                    text=True,
                    timeout=20,
                    stdin=subprocess.DEVNULL,
                )
                self._codex_version = out.stdout.strip() or out.stderr.strip() or None
            except (TaskError, OSError, subprocess.SubprocessError):
                return None
        return self._codex_version

    def launch_sync(
        self,
        spec: TaskSpec,
        *,
        limits: Limits | None = None,
        parent: TaskRow | None = None,
        priority: int = 0,
        worktree: WorktreeRequest | None = None,
        checkout: Checkout | None = None,
        auto_land: AutoLand | None = None,
        wake: bool = True,
    ) -> TaskRow:
        """Record a new task and queue it; its supervisor starts in the background.
        (``wake=False``: the caller wakes the scheduler itself, from the event loop.)

        With ``worktree`` the task's worktree and branch are made first (git work: async
        callers await :meth:`launch`, which runs this in a worker thread). With ``checkout`` it
        runs in a throwaway checkout of that commit, made where its supervisor runs (a backend
        whose worktrees are not on this machine; ``spec.cwd`` is then where it was admitted,
        here)."""
        check_depth(self.depth)
        continued: git.Worktree | None = None  # the worktree a reply continues in
        if parent is not None:
            self._check_thread(spec, parent)
        if worktree is None and parent is not None and parent.extra.worktree is not None:
            try:
                continued = self.backend.continue_worktree(parent)
            except git.GitError as exc:
                raise TaskError.because(exc, code=Code.GIT) from None
        elif checkout is None and parent is not None and spec.resume_thread_id:
            # A reply to a task that looked at a checkout of other work looks at it again.
            checkout = parent.extra.checkout
        spec = self._admit(spec, continued)
        limits = resolve_limits(self.settings, limits, parent)
        codex = self.codex_path()
        task_id = new_task_id()
        extra = TaskExtra(backend=self.backend.name, auto_land=auto_land)  # its backend only
        made: git.Worktree | None = None
        if worktree is not None:
            try:
                made = self.backend.make_worktree(Path(spec.cwd), task_id, worktree)
            except git.GitError as exc:
                raise TaskError.because(exc, code=Code.GIT) from None
            source = worktree.fork_of
            if source is not None:
                made = replace(
                    made,
                    base_ref=source.base_ref,
                    base_commit=source.base_commit,
                    base_branch=source.base_branch,
                )
            spec = replace(
                spec, cwd=str(made.path / made.subdir) if made.subdir else str(made.path)
            )
            extra = replace(extra, worktree=made)
        elif continued is not None:
            extra = replace(extra, worktree=continued)
        elif checkout is not None:
            extra = replace(extra, checkout=checkout)
        nested = tuple(
            (f"mcp_servers.{name}.enabled", "false")
            for name in nested_swarm_servers()
            if _BARE_NAME.fullmatch(name)
            and not any(k.startswith("mcp_servers") for k in spec.config)
        )
        argv = build_argv(
            codex,
            spec,
            (*self.settings.overrides, *nested),
            skip_git_repo_check=self.settings.skip_git_repo_check,
            ephemeral=self.settings.ephemeral,
        )
        plan = LaunchPlan(
            argv=tuple(argv),
            cwd=spec.cwd,
            prompt=spec.prompt,
            env={ENV_DEPTH: str(self.depth + 1), "CODEX_SWARM_TASK_ID": task_id},
            grace=self.settings.cancel_grace,
            timeout=limits.timeout,
            idle_timeout=limits.idle_timeout,
            retries=limits.retries or 0,
        )
        try:
            self.store.create(
                task_id,
                spec={"task": asdict(spec), "launch": plan.to_dict()},
                cwd=spec.cwd,
                title=title_of(spec.prompt),
                owner=self.owner,
                parent_id=parent.id if parent else None,
                thread_id=spec.resume_thread_id,
                usage_baseline=parent.usage if parent else None,
                priority=priority,
                extra=extra,
            )
        except BaseException:
            if made is not None:  # nothing ran in it yet: do not leave it behind
                with contextlib.suppress(git.GitError):
                    self.backend.discard_worktree(made)
            raise
        self.backend.prepare()
        if wake:
            self._wake_scheduler()
        row = self.store.get(task_id)
        assert row is not None
        return row

    def _check_thread(self, spec: TaskSpec, parent: TaskRow) -> None:
        """A reply or fork runs where the thread's session files are: under the backend that
        ran ``parent`` (on Ray, on its node, which must still be there)."""
        thread = spec.resume_thread_id or spec.fork_thread_id
        if not thread:
            return
        verb = "continue" if spec.resume_thread_id else "fork"
        if backend_of(parent) != self.backend.name:
            raise TaskError(
                "thread {thread_id} ran under the {backend} backend (task {task_id}), which "
                "keeps its session files: {verb} it from {BACKEND}",
                code=Code.OTHER_BACKEND,
                thread_id=thread,
                backend=backend_of(parent),
                task_id=parent.id,
                verb=verb,
            )
        try:
            self.backend.check_thread(parent)
        except BackendError as exc:
            raise TaskError.because(exc) from None

    def _admit(self, spec: TaskSpec, continued: git.Worktree | None) -> TaskSpec:
        """The spec as it will run (see :func:`.admission.admit_spec`). A reply whose worktree
        is checked out on the backend's workers, not here, is admitted in the repository that
        worktree was made from (where its first task was admitted) and keeps its cwd. Until a
        launch has found credentials for Codex's model, each looks for them first."""
        if not self._credentials_found:
            problem = credentials_problem(self.settings, spec)
            if problem is not None:
                raise problem
            self._credentials_found = spec.config.get("model_provider") is None
        if continued is None or not self.backend.remote_worktrees:
            return admit_spec(self.settings, spec)
        home = continued.repo / continued.subdir
        return replace(admit_spec(self.settings, replace(spec, cwd=str(home))), cwd=spec.cwd)

    @property
    def worktrees_here(self) -> bool:
        """Whether task worktrees are checked out on this machine (else on the workers)."""
        return not self.backend.remote_worktrees

    @property
    def sessions_here(self) -> bool:
        """Whether Codex's session files are on this machine (else on the workers)."""
        return not self.backend.remote_sessions

    def reply_spec(self, thread_id: str, prompt: str) -> tuple[TaskSpec, TaskRow | None]:
        """The spec that continues ``thread_id`` in its original cwd and settings."""
        return reply_spec(self.settings, self.store, thread_id, prompt)

    def reply_sync(
        self, thread_id: str, prompt: str, *, output_schema: Mapping[str, Any] | None = None
    ) -> TaskRow:
        """Record a task that continues ``thread_id`` with ``prompt`` (see :meth:`reply`)."""
        spec, previous = self.reply_spec(thread_id, prompt)
        spec = replace(spec, output_schema=output_schema)
        if (
            previous is not None
            and previous.extra.branch is not None
            and self.worktrees_here
            and not Path(spec.cwd).is_dir()
        ):
            gone = (
                "task {task_id}'s worktree {path} was removed, so its thread cannot continue there"
            )
            if previous.extra.removed_branch:
                raise TaskError(
                    gone + "; its branch was deleted too (merged or cleaned up): start {LAUNCH}",
                    code=Code.GONE,
                    task_id=previous.id,
                    path=spec.cwd,
                )
            raise TaskError(
                gone + "; its work is on branch {branch}: start {LAUNCH} {WORKTREE_FROM}, "
                "telling it what was done, or restore the worktree with `git worktree add {path} "
                "{branch}` and send {REPLY} again",
                code=Code.GONE,
                task_id=previous.id,
                path=spec.cwd,
                branch=previous.extra.branch,
            )
        return self.launch_sync(spec, parent=previous)

    def start_queued_now(self) -> None:
        """Start queued tasks up to the limit at once, for a caller without a running engine
        (a console command that launched tasks); their runners own them from then on."""
        self._start_queued()

    def _start_queued(self) -> None:
        """Claim what the limit allows and hand each task to the backend (a worker thread)."""
        for task_id in self.store.claim_queued(self.settings.max_parallel, self.backend.name):
            row = self.store.get(task_id)
            if row is None:
                continue
            try:
                self.backend.launch(row, row.plan)
            except Exception as exc:
                log.exception("could not start the supervisor of %s", task_id)
                self.store.finish(task_id, phase="failed", error=f"could not start the task: {exc}")
                self._ended(task_id)

    def _adopt(self) -> None:
        """Hand every supervised task in the store to the backend to watch (it skips known ones)."""
        self.backend.adopt(self.store.list(phases=sorted(SUPERVISED)))

    # ---- reading and waiting -----------------------------------------------------------------

    def get_sync(self, task_id: str) -> TaskRow:
        if not valid_task_id(task_id):
            raise TaskError(NOT_AN_ID, task_id=task_id)
        row = self.store.get(task_id)
        if row is None:
            raise TaskError(
                "unknown task id {task_id!r}; {LIST} shows the known tasks",
                code=Code.UNKNOWN_TASK,
                task_id=task_id,
            )
        return row

    def get_many_sync(self, task_ids: Sequence[str]) -> list[TaskRow]:
        for task_id in task_ids:
            if not valid_task_id(task_id):
                raise TaskError(NOT_AN_ID, task_id=task_id)
        rows = self.store.get_many(task_ids)
        missing = [t for t in task_ids if t not in rows]
        if missing:
            raise TaskError(
                "unknown task id(s): {ids}; {LIST} shows the known tasks",
                code=Code.UNKNOWN_TASK,
                ids=", ".join(missing),
                task_ids=missing,
            )
        return [rows[t] for t in task_ids]

    async def listing(self) -> list[dict[str, Any]]:
        """Every task's listing view as JSON (``as_data``), newest first. Read off the loop a
        page of rows at a time, so a store of ten thousand tasks is never decoded all at once."""
        return await off_loop(self.listing_sync)

    def listing_sync(self) -> list[dict[str, Any]]:
        now = time.time()
        return [as_data(listing_view(row, now)) for page in self.store.pages() for row in page]

    def unfinished_sync(self) -> list[str]:
        """Ids of the unfinished tasks this server (its client) started, oldest first."""
        rows = self.store.list(phases=ACTIVE, owner=self.owner)
        return [r.id for r in reversed(rows)]

    async def wait(
        self,
        task_ids: Sequence[str],
        timeout: float | None,
        *,
        mode: str = "all",
        on_tick: Callable[[list[TaskRow]], Awaitable[None]] | None = None,
        tick: float = 1.0,
    ) -> tuple[list[TaskRow], bool]:
        """Wait until every task (``mode="all"``) or one of them (``"any"``) is terminal, or
        ``timeout`` passes. Returns (rows, condition met).

        Wakes on the end of any task at once; ``on_tick`` is called with fresh rows on each wake
        and at least every ``tick`` seconds (for progress notifications).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        settled = any if mode == "any" else all
        while True:
            changed = self._changed
            rows = await off_loop(self.get_many_sync, task_ids)
            if settled(r.terminal for r in rows):
                return rows, True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return rows, False
            if on_tick is not None:
                await on_tick(rows)
            step = tick if remaining is None else min(tick, remaining)
            if changed is None:
                await anyio.sleep(step)
            else:
                await wait_event(changed, step)

    def read_events_sync(self, task_id: str, start: int, lines: int, max_bytes: int) -> EventPage:
        """A page of a task's raw JSONL from byte offset ``start`` (see :mod:`.eventlog`)."""
        return read_page(self.store.events_path(task_id), task_id, start, lines, max_bytes)

    def request_cancel_sync(self, task_id: str) -> TaskRow:
        """Ask a task to stop and return at once (a queued task is cancelled on the spot)."""
        row = self.get_sync(task_id)
        if row.terminal:
            return row
        row = self.store.request_cancel(task_id) or row
        if not row.terminal:
            self.backend.cancel(row)
        self._from_any_thread(self._notify)
        return row

    async def cancel(self, task_id: str) -> TaskRow:
        """Stop a task and everything it started; returns its row once the end is recorded."""
        row = await off_loop(self.request_cancel_sync, task_id)
        if row.terminal:
            return row
        rows, _done = await self.wait([task_id], timeout=self.settings.cancel_grace + 15)
        return rows[0]

    # ---- the surface faces await -------------------------------------------------------------
    # Each method runs its blocking work (SQLite, git, the backend, files) in a worker thread
    # through off_loop, so the event loop that answers every client never waits on it and no
    # face decides what blocks. The *_sync methods above and the sync functions of steering,
    # landing and branches are the same work for a caller already in a worker thread or with no
    # event loop (engine modules, synchronous console commands).

    async def launch(
        self,
        spec: TaskSpec,
        *,
        limits: Limits | None = None,
        parent: TaskRow | None = None,
        priority: int = 0,
        worktree: WorktreeRequest | None = None,
        checkout: Checkout | None = None,
        auto_land: AutoLand | None = None,
    ) -> TaskRow:
        """Record a new task and queue it (see :meth:`launch_sync`)."""
        row = await off_loop(
            self.launch_sync,
            spec,
            limits=limits,
            parent=parent,
            priority=priority,
            worktree=worktree,
            checkout=checkout,
            auto_land=auto_land,
            wake=False,
        )
        # Here, on the loop: from the worker thread the wake-up would hold the call for a
        # round trip to the loop and back.
        self._wake_scheduler()
        return row

    async def reply(
        self, thread_id: str, prompt: str, *, output_schema: Mapping[str, Any] | None = None
    ) -> TaskRow:
        """A new task continuing ``thread_id`` with ``prompt`` in its original directory (or
        worktree) and settings, its final message shaped by ``output_schema`` (when given).
        A :class:`TaskError` (``Code.GONE``) when that worktree was removed."""
        return await off_loop(self.reply_sync, thread_id, prompt, output_schema=output_schema)

    def steer_sync(self, task_id: str, message: str) -> steering.Steered:
        return steering.steer(self, task_id, message)

    async def steer(self, task_id: str, message: str) -> steering.Steered:
        """Redirect a task in flight (see :func:`.steering.steer`)."""
        return await off_loop(self.steer_sync, task_id, message)

    async def fork(
        self,
        prompt: str,
        *,
        task_id: str | None = None,
        thread_id: str | None = None,
        count: int = 1,
        worktree: bool | None = None,
    ) -> list[TaskRow]:
        """New tasks continuing copies of a thread (see :func:`.steering.fork`)."""
        return await off_loop(
            steering.fork,
            self,
            prompt,
            task_id=task_id,
            thread_id=thread_id,
            count=count,
            worktree=worktree,
        )

    async def review(self, task_id: str, instructions: str | None = None) -> TaskRow:
        """A read-only review task of ``task_id``'s work (see :func:`.steering.review`)."""
        return await off_loop(steering.review, self, task_id, instructions)

    def land_sync(self, request: landing.LandRequest) -> LandReport:
        return landing.land(self, request)

    async def land(self, request: landing.LandRequest) -> LandReport:
        """Land worktree tasks through the merge queue (see :func:`.landing.land`)."""
        return await off_loop(self.land_sync, request)

    def merge_sync(self, task_id: str, *, strategy: str, target: str | None) -> MergeReport:
        return branches.merge(self.store, self.get_sync(task_id), strategy=strategy, target=target)

    async def merge(
        self, task_id: str, *, strategy: str = "merge", target: str | None = None
    ) -> MergeReport:
        """Merge a finished task's branch into its checkout (see :func:`.branches.merge`)."""
        return await off_loop(self.merge_sync, task_id, strategy=strategy, target=target)

    def cleanup_sync(self, task_id: str, *, force: bool = False) -> CleanupReport:
        return branches.cleanup(self.store, self.get_sync(task_id), force=force)

    def cleanup_merged_sync(self) -> list[CleanupReport]:
        return [
            branches.cleanup(self.store, row, force=False)
            for row in branches.merged_tasks(self.store)
        ]

    async def cleanup(self, task_id: str, *, force: bool = False) -> CleanupReport:
        """Remove a task's worktree, and its branch when merged (see :func:`.branches.cleanup`)."""
        return await off_loop(self.cleanup_sync, task_id, force=force)

    async def cleanup_merged(self) -> list[CleanupReport]:
        """:meth:`cleanup` for every finished task whose branch is merged."""
        return await off_loop(self.cleanup_merged_sync)

    def diff_sync(
        self, task_id: str, *, paths: Sequence[str] | None, stat_only: bool, max_chars: int
    ) -> DiffReport:
        return branches.diff(
            self.get_sync(task_id),
            paths=list(paths) if paths else None,
            stat_only=stat_only,
            max_chars=max_chars,
        )

    async def diff(
        self,
        task_id: str,
        *,
        paths: Sequence[str] | None = None,
        stat_only: bool = False,
        max_chars: int,
    ) -> DiffReport:
        """A worktree task's branch against its base (see :func:`.branches.diff`)."""
        return await off_loop(
            self.diff_sync, task_id, paths=paths, stat_only=stat_only, max_chars=max_chars
        )

    async def record_paths(self, row: TaskRow, paths: Sequence[str]) -> list[Overlap]:
        """Record the paths ``row`` means to touch; the unfinished tasks that declared
        overlapping ones (see :func:`.outlook.record_paths`)."""
        return await off_loop(outlook.record_paths, self.store, row, list(paths))

    async def request_cancel(self, task_id: str) -> TaskRow:
        """Ask a task to stop; returns at once (see :meth:`request_cancel_sync`)."""
        return await off_loop(self.request_cancel_sync, task_id)

    # ---- queries -------------------------------------------------------------------------------

    async def get(self, task_id: str) -> TaskRow:
        """The task ``task_id``; a :class:`TaskError` when there is none."""
        return await off_loop(self.get_sync, task_id)

    async def get_many(self, task_ids: Sequence[str]) -> list[TaskRow]:
        """The tasks ``task_ids`` in that order; a :class:`TaskError` naming any unknown."""
        return await off_loop(self.get_many_sync, task_ids)

    def queue_positions_sync(self, rows: Sequence[TaskRow]) -> dict[str, int]:
        found = {}
        for row in rows:
            if row.phase == "queued" and (at := self.store.queue_position(row)) is not None:
                found[row.id] = at
        return found

    def status_sync(self, task_ids: Sequence[str]) -> Status:
        rows = self.get_many_sync(task_ids)
        return Status(
            rows,
            self.queue_positions_sync(rows),
            outlook.conflicts_between(rows),
            outlook.waiting_to_land(self.store, rows),
        )

    async def status(self, task_ids: Sequence[str]) -> Status:
        """The tasks ``task_ids`` with their queue positions and predicted conflicts."""
        return await off_loop(self.status_sync, task_ids)

    async def conflicts(self, rows: Sequence[TaskRow]) -> list[ConflictPair]:
        """Predicted conflicts between these tasks' branches (see :mod:`.outlook`)."""
        return await off_loop(outlook.conflicts_between, list(rows))

    async def waiting_to_land(self, rows: Sequence[TaskRow]) -> dict[str, int]:
        """For each of ``rows`` that waits to land, how many tasks wait to land in its
        repository (see :func:`.outlook.waiting_to_land`)."""
        return await off_loop(outlook.waiting_to_land, self.store, list(rows))

    def conflicts_with_sync(self, row: TaskRow) -> list[Collision]:
        return outlook.conflicts_with(row, self.store.list(phases=TERMINAL))

    async def conflicts_with(self, row: TaskRow) -> list[Collision]:
        """The finished, unlanded tasks whose branches are predicted to conflict with
        ``row``'s (see :func:`.outlook.conflicts_with`)."""
        return await off_loop(self.conflicts_with_sync, row)

    @staticmethod
    def outcomes_now_sync(rows: Sequence[TaskRow]) -> tuple[dict[str, git.Outcome], dict[str, str]]:
        outcomes: dict[str, git.Outcome] = {}
        errors: dict[str, str] = {}
        for row in rows:
            wt = branches.worktree_of(row)
            if wt is None:
                continue
            try:
                outcomes[row.id] = branches.outcome_of(wt)
            except git.GitError as exc:
                errors[row.id] = str(exc)
        return outcomes, errors

    async def outcomes_now(
        self, rows: Sequence[TaskRow]
    ) -> tuple[dict[str, git.Outcome], dict[str, str]]:
        """What each worktree task's branch would do landed on its target's tip now, by task
        id, and why git could not tell for the others; nothing is recorded (unlike
        :meth:`refresh_outcomes`)."""
        return await off_loop(self.outcomes_now_sync, rows)

    async def refresh_outcomes(self, rows: Sequence[TaskRow]) -> list[TaskRow]:
        """Finished worktree tasks' merge outlook against their base branch's tip now."""
        if not any(r.terminal and r.extra.worktree is not None for r in rows):
            return list(rows)
        return await off_loop(branches.refresh_outcomes, self.store, list(rows))

    async def queue_positions(self, rows: Sequence[TaskRow]) -> dict[str, int]:
        """Each queued row's place in the queue (1: next to start)."""
        return await off_loop(self.queue_positions_sync, rows)

    async def count(self, *, phases: Sequence[str] | None = None) -> int:
        return await off_loop(self.store.count, phases=phases)

    def newest_sync(
        self, *, phases: Sequence[str] | None = None, limit: int, landings: int = 0
    ) -> Newest:
        recent = self.store.landings(limit=landings) if landings else []
        return Newest(
            self.store.list(phases=phases, limit=limit),
            self.store.count(phases=phases),
            [(row, self.store.landing_position(row)) for row in recent],
        )

    async def newest(
        self, *, phases: Sequence[str] | None = None, limit: int, landings: int = 0
    ) -> Newest:
        """The newest ``limit`` tasks (only ``phases``), how many there are, and the newest
        ``landings`` landings: one trip off the loop for all (each trip is a thread's wake-up,
        and on a busy machine a wait for a core)."""
        return await off_loop(self.newest_sync, phases=phases, limit=limit, landings=landings)

    async def unfinished(self) -> list[str]:
        """Ids of the unfinished tasks this server (its client) started, oldest first."""
        return await off_loop(self.unfinished_sync)

    async def read_events(self, task_id: str, start: int, lines: int, max_bytes: int) -> EventPage:
        """A page of a task's raw JSONL (see :meth:`read_events_sync`)."""
        return await off_loop(self.read_events_sync, task_id, start, lines, max_bytes)

    async def changed_since(self, since: float) -> list[tuple[str, float]]:
        """(task id, updated_at) of the tasks changed after ``since``, oldest change first."""
        return await off_loop(self.store.changed_since, since)

    async def usage_totals(self) -> dict[str, int]:
        return await off_loop(self.store.usage_totals)

    async def codex_version(self) -> str | None:
        """``codex --version`` of the binary tasks run (asked once), or None."""
        return await off_loop(self.codex_version_sync)

    async def list(
        self, *, phases: Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[TaskRow]:
        """Tasks, newest first (only ``phases``, at most ``limit``). Last in the class: its
        name hides the builtin ``list`` for annotations after it."""
        return await off_loop(self.store.list, phases=phases, limit=limit)
