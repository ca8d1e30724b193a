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

Must not: know MCP or the console: callers get :class:`~.store.TaskRow` objects and the dict
views of :mod:`.views`, and errors whose words name no particular face.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from .. import git
from ..codex.command import TaskSpec, build_argv
from ..settings import ENV_DEPTH, Settings
from . import branches
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
from .phases import ACTIVE, SUPERVISED
from .plan import Checkout, LaunchPlan, Limits, WorktreeRequest
from .records import EventPage, TaskExtra
from .store import Store, TaskRow, backend_of, valid_task_id
from .views import listing_view

__all__ = [
    "Checkout",
    "Code",
    "Engine",
    "EngineError",
    "Limits",
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

    def codex_version(self) -> str | None:
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

    def launch(
        self,
        spec: TaskSpec,
        *,
        limits: Limits | None = None,
        parent: TaskRow | None = None,
        priority: int = 0,
        worktree: WorktreeRequest | None = None,
        checkout: Checkout | None = None,
    ) -> TaskRow:
        """Record a new task and queue it; its supervisor starts in the background.

        With ``worktree`` the task's worktree and branch are made first (git work: call this
        from a thread when the caller must not block). With ``checkout`` it runs in a throwaway
        checkout of that commit, made where its supervisor runs (a backend whose worktrees are
        not on this machine; ``spec.cwd`` is then where it was admitted, here)."""
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
        extra = TaskExtra(backend=self.backend.name)  # only it supervises the task
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
                "keeps its session files: {verb} it from a server started with --backend "
                "{backend}",
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

    def get(self, task_id: str) -> TaskRow:
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

    def get_many(self, task_ids: Sequence[str]) -> list[TaskRow]:
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
        """Every task's listing view, newest first. Read off the loop a page of rows at a time,
        so a store of ten thousand tasks is never decoded all at once."""
        return await off_loop(self._listing)

    def _listing(self) -> list[dict[str, Any]]:
        now = time.time()
        return [listing_view(row, now) for page in self.store.pages() for row in page]

    def unfinished_of_this_server(self) -> list[str]:
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
            rows = await off_loop(self.get_many, task_ids)
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

    def read_events(self, task_id: str, start: int, lines: int, max_bytes: int) -> EventPage:
        """A page of a task's raw JSONL from byte offset ``start`` (see :mod:`.eventlog`)."""
        return read_page(self.store.events_path(task_id), task_id, start, lines, max_bytes)

    def request_cancel(self, task_id: str) -> TaskRow:
        """Ask a task to stop and return at once (a queued task is cancelled on the spot)."""
        row = self.get(task_id)
        if row.terminal:
            return row
        row = self.store.request_cancel(task_id) or row
        if not row.terminal:
            self.backend.cancel(row)
        self._from_any_thread(self._notify)
        return row

    async def cancel(self, task_id: str) -> TaskRow:
        """Stop a task and everything it started; returns its row once the end is recorded."""
        row = await off_loop(self.request_cancel, task_id)
        if row.terminal:
            return row
        rows, _done = await self.wait([task_id], timeout=self.settings.cancel_grace + 15)
        return rows[0]
