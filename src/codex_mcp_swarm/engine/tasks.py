"""The engine: tasks from spec to recorded end. Launch, queue, wait, cancel, reply, adopt.

Owns: task ids, the launch of runners (one detached process per task, see ``runner``), the
concurrency limit, waking waiters the moment a task ends, and adopting tasks that a previous or
parallel server started (every server watches every active task in the store).

Must not: know MCP. Callers get :class:`~.store.TaskRow` objects and dict views (``views``).

How a waiter learns of an end without polling: each runner holds an exclusive ``flock`` on its
task's ``runner.lock`` for its whole life (the engine takes the lock before the runner exists and
hands the descriptor over). A watcher thread per active task blocks on a shared lock of the same
file and returns the instant the runner is gone, whatever killed it; the engine then reads the
store (the runner wrote the end before it exited) and wakes every waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psutil

from .. import git
from ..codex.command import SANDBOX_MODES, SpecError, TaskSpec, build_argv, is_uuid
from ..settings import ENV_DEPTH, MAX_DEPTH, Settings
from . import branches, procs
from .store import ACTIVE, Store, TaskRow, valid_task_id

log = logging.getLogger(__name__)

EXPIRE_INTERVAL = 600.0  # seconds between expiry passes over old finished tasks' worktrees
ADOPT_INTERVAL = 2.0  # seconds between scans for active tasks this server does not watch yet
STARTING_GRACE = 30.0  # a task may sit in 'starting' without a runner this long before it's lost


class TaskError(Exception):
    """A request the engine cannot carry out; the message says what to do instead."""


@dataclass(frozen=True)
class WorktreeRequest:
    """Run the task in its own worktree on branch ``codex-swarm/<task_id>``."""

    base_ref: str | None = None  # branch, tag or commit to start from (default HEAD)
    include_uncommitted: bool = False  # carry the caller's uncommitted and untracked changes


@dataclass(frozen=True)
class Limits:
    """How long a task may run and how failures are retried; ``None`` takes the server default."""

    timeout: float | None = None  # seconds of runtime in all
    idle_timeout: float | None = None  # seconds without a Codex event while no command runs
    retries: int | None = None  # extra attempts after a transient model failure


async def wait_event(event: asyncio.Event, timeout: float | None) -> None:
    """Wait for ``event`` or ``timeout``. Unlike ``asyncio.wait_for`` on Python 3.10/3.11, a
    cancellation that arrives as the event fires is never swallowed (a stop could hang)."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


def nesting_depth() -> int:
    """How many codex-mcp-swarm tasks this process runs inside.

    Codex does not pass its environment on to the MCP servers it starts, so besides the
    ``CODEX_SWARM_DEPTH`` variable this counts task runners among the process's ancestors.
    """
    try:
        depth = int(os.environ.get(ENV_DEPTH) or 0)
    except ValueError:
        depth = 0
    try:
        ancestors = psutil.Process().parents()
    except psutil.Error:
        ancestors = []
    runners = 0
    for proc in ancestors:
        with contextlib.suppress(psutil.Error):
            if "codex_mcp_swarm.engine.runner" in " ".join(proc.cmdline()):
                runners += 1
    return max(depth, runners)


def new_task_id() -> str:
    return uuid.uuid4().hex[:12]


def title_of(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return first[:120]


def _codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def find_session_cwd(thread_id: str) -> str | None:
    """The working directory a Codex thread started in, from its rollout file (if any)."""
    sessions = _codex_home() / "sessions"
    if not sessions.is_dir():
        return None
    for path in sessions.glob(f"*/*/*/rollout-*-{thread_id}.jsonl"):
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.loads(f.readline())
            cwd = meta.get("payload", {}).get("cwd")
            if isinstance(cwd, str):
                return cwd
        except (OSError, ValueError, AttributeError):
            continue
    return None


class Engine:
    """Tasks for one server process. Create, ``await start()``, use, ``await stop()``."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.task_dir)
        self.owner = uuid.uuid4().hex[:12]
        self.started_at = time.time()
        self._watched: set[str] = set()
        self._watch_lock = threading.Lock()
        self._changed = asyncio.Event()
        self._kick = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: asyncio.Task[None] | None = None
        self._codex_version: str | None = None
        self.depth = nesting_depth()
        self._users = 0
        self._stopping = False

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def users(self) -> int:
        return self._users

    async def start(self) -> None:
        """Start (or, for a further user such as another HTTP session, join) the engine."""
        self._users += 1
        if self._users > 1:
            return
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._kick = asyncio.Event()
        self._adopt()
        self._stopping = False
        self._background = asyncio.create_task(self._scheduler())

    async def stop(self) -> None:
        """Stop serving. Detached tasks keep running (and are adopted by the next server) unless
        the server was started with ``cancel_on_exit``. The last user stops it."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        if self.settings.cancel_on_exit:
            mine = [r.id for r in self.store.list(phases=sorted(ACTIVE)) if r.owner == self.owner]
            await asyncio.gather(*(self.cancel(t) for t in mine), return_exceptions=True)
        self._stopping = True
        self._kick.set()
        if self._background is not None:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(self._background, 30)

    def expire(self) -> list[str]:
        """Remove old finished tasks' worktrees (unmerged branches stay). Runs on a timer."""
        return branches.expire(self.store, self.settings.task_max_age)

    async def _scheduler(self) -> None:
        expired_at = 0.0
        # Often enough that a worktree outlives its max age by at most a quarter of it.
        every = min(EXPIRE_INTERVAL, max(1.0, self.settings.task_max_age / 4))
        while not self._stopping:
            try:
                self._start_queued()
                self._adopt()
            except Exception:
                log.exception("scheduler pass failed")
            if time.monotonic() - expired_at > every:
                expired_at = time.monotonic()
                try:
                    await asyncio.to_thread(self.expire)
                except Exception:
                    log.exception("expiry pass failed")
            await wait_event(self._kick, ADOPT_INTERVAL)
            self._kick.clear()

    async def wait_for_change(self, timeout: float) -> None:
        """Return when a task ends (or another change is announced), or after ``timeout``."""
        await wait_event(self._changed, timeout)

    def _notify(self) -> None:
        """Wake every waiter (they re-read the store) and the scheduler (a slot may be free)."""
        self._changed.set()
        self._changed = asyncio.Event()
        self._kick.set()

    # ---- launching ---------------------------------------------------------------------------

    def codex_path(self) -> str:
        """The Codex binary to run, or a TaskError that says how to get one."""
        found = shutil.which(self.settings.codex_bin)
        if found is None:
            raise TaskError(
                f"the Codex CLI was not found ({self.settings.codex_bin!r}). Install it with "
                "'npm install -g @openai/codex' or start the server with --codex-bin PATH "
                "(or CODEX_SWARM_CODEX_BIN)."
            )
        return found

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

    def _check_cwd(self, cwd: str | None) -> str:
        path = Path(cwd).expanduser() if cwd else Path.cwd()
        if not path.is_absolute():
            raise TaskError(f"cwd {cwd!r} must be an absolute path")
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise TaskError(f"cwd {cwd!r} does not exist") from None
        if not resolved.is_dir():
            raise TaskError(f"cwd {cwd!r} is not a directory")
        roots = self.settings.allowed_roots
        if roots and not any(resolved == r or r in resolved.parents for r in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise TaskError(
                f"cwd {cwd!r} (resolved: {resolved}) is outside the directories this server "
                f"allows: {allowed}"
            )
        return str(resolved)

    def _server_default(self, key: str) -> str | None:
        for name, value in reversed(self.settings.overrides):
            if name == key:
                return value.strip('"')
        return None

    def _apply_ceiling(self, spec: TaskSpec) -> TaskSpec:
        """Refuse a sandbox stronger than the operator's ceiling; make the sandbox explicit."""
        ceiling = self.settings.sandbox_ceiling
        if ceiling is None:
            return spec
        from_config = spec.config.get("sandbox_mode")
        asked = spec.sandbox or from_config or self._server_default("sandbox_mode") or "read-only"
        if asked not in SANDBOX_MODES:
            raise TaskError(f"sandbox_mode must be one of {', '.join(SANDBOX_MODES)}")
        if SANDBOX_MODES.index(asked) > SANDBOX_MODES.index(ceiling):
            raise TaskError(
                f"sandbox {asked!r} is stronger than this server allows (ceiling: {ceiling!r}); "
                f"ask for {ceiling!r} or a weaker one"
            )
        if any(key.startswith("sandbox_workspace_write.writable_roots") for key in spec.config):
            raise TaskError("this server has a sandbox ceiling: writable_roots cannot be changed")
        if isinstance(spec.config.get("sandbox_workspace_write"), dict) and (
            "writable_roots" in spec.config["sandbox_workspace_write"]
        ):
            raise TaskError("this server has a sandbox ceiling: writable_roots cannot be changed")
        config = {k: v for k, v in spec.config.items() if k != "sandbox_mode"}
        return replace(spec, sandbox=asked, config=config)

    def launch(
        self,
        spec: TaskSpec,
        *,
        limits: Limits | None = None,
        parent: TaskRow | None = None,
        priority: int = 0,
        worktree: WorktreeRequest | None = None,
    ) -> TaskRow:
        """Record a new task and queue it; the runner starts in the background.

        With ``worktree`` the task's worktree and branch are made first (git work: call this
        from a thread when the caller must not block)."""
        depth = self.depth
        if depth >= MAX_DEPTH:
            raise TaskError(
                f"refusing to start Codex: this server is already running inside {depth} levels "
                "of codex-mcp-swarm tasks (a task's Codex loaded this server through its MCP "
                "config). Remove codex-swarm from the Codex MCP config used by tasks."
            )
        try:
            spec = self._apply_ceiling(replace(spec, cwd=self._check_cwd(spec.cwd)).check())
        except SpecError as exc:
            raise TaskError(str(exc)) from None
        limits = self._resolve_limits(limits, parent)
        if spec.resume_thread_id and self.settings.ephemeral:
            raise TaskError(
                "this server runs with --ephemeral: Codex keeps no session files, so a thread "
                "cannot be continued. Start a new task with codex or codex_async instead."
            )
        codex = self.codex_path()
        task_id = new_task_id()
        extra: dict[str, Any] = {}
        if worktree is not None:
            try:
                wt = git.create_worktree(
                    Path(spec.cwd),
                    self.settings.worktree_dir,
                    task_id,
                    base_ref=worktree.base_ref,
                    include_uncommitted=worktree.include_uncommitted,
                )
            except git.GitError as exc:
                raise TaskError(str(exc)) from None
            spec = replace(spec, cwd=str(wt.path / wt.subdir) if wt.subdir else str(wt.path))
            extra["worktree"] = wt.to_dict()
        elif parent is not None and "worktree" in parent.extra:
            if parent.extra.get("removed_worktree"):
                raise TaskError(
                    f"the worktree of task {parent.id} was removed (codex_cleanup or expiry); "
                    "its thread cannot continue there. Start a new task on its branch with "
                    f"worktree: true and base_ref: {parent.extra['worktree']['branch']!r}."
                )
            extra["worktree"] = parent.extra["worktree"]
        argv = build_argv(
            codex,
            spec,
            self.settings.overrides,
            skip_git_repo_check=self.settings.skip_git_repo_check,
            ephemeral=self.settings.ephemeral,
        )
        launch = {
            "argv": argv,
            "cwd": spec.cwd,
            "env": {ENV_DEPTH: str(depth + 1), "CODEX_SWARM_TASK_ID": task_id},
            "grace": self.settings.cancel_grace,
            "timeout": limits.timeout,
            "idle_timeout": limits.idle_timeout,
            "retries": limits.retries,
        }
        try:
            self._record_new(task_id, spec, launch, parent, priority, extra)
        except BaseException:
            if worktree is not None:  # nothing ran in it yet: do not leave it behind
                with contextlib.suppress(git.GitError):
                    git.cleanup(wt.repo, wt.path, wt.branch, into=None, force=True)
            raise
        self._wake_scheduler()
        row = self.store.get(task_id)
        assert row is not None
        return row

    def _record_new(
        self,
        task_id: str,
        spec: TaskSpec,
        launch: dict[str, Any],
        parent: TaskRow | None,
        priority: int,
        extra: dict[str, Any],
    ) -> None:
        self.store.create(
            task_id,
            spec={"task": asdict(spec), "launch": launch},
            cwd=spec.cwd,
            title=title_of(spec.prompt),
            owner=self.owner,
            parent_id=parent.id if parent else None,
            thread_id=spec.resume_thread_id,
            usage_baseline=parent.usage if parent else None,
            priority=priority,
            extra=extra,
        )

    def _wake_scheduler(self) -> None:
        """Wake the scheduler from the event loop's thread or any other (launch may run in a
        worker thread while it makes a worktree)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._kick.set()
        else:
            loop.call_soon_threadsafe(self._kick.set)

    def _resolve_limits(self, limits: Limits | None, parent: TaskRow | None) -> Limits:
        """Explicit limits, else the parent task's (a reply keeps them), else server defaults."""
        given = limits or Limits()
        inherited = parent.spec.get("launch", {}) if parent else {}
        settings = self.settings

        def pick(name: str, default: Any) -> Any:
            value = getattr(given, name)
            if value is None:
                value = inherited.get(name, default)
            return value

        timeout = pick("timeout", settings.timeout)
        idle = pick("idle_timeout", settings.idle_timeout)
        return Limits(
            timeout=timeout or None,
            idle_timeout=idle or None,
            retries=int(pick("retries", settings.retries) or 0),
        )

    def reply_spec(self, thread_id: str, prompt: str) -> tuple[TaskSpec, TaskRow | None]:
        """The spec that continues ``thread_id`` in its original cwd and settings."""
        if not isinstance(thread_id, str) or not is_uuid(thread_id):
            raise TaskError(
                f"threadId {thread_id!r} is not a UUID; use the threadId a codex or codex_async "
                "result reported"
            )
        if self.settings.ephemeral:
            raise TaskError(
                "this server runs with --ephemeral: Codex keeps no session files, so a thread "
                "cannot be continued. Start a new task with codex or codex_async instead."
            )
        busy = self.store.active_thread_task(thread_id)
        if busy is not None:
            raise TaskError(
                f"thread {thread_id} is still busy with task {busy.id} ({busy.phase}); wait for "
                "it with codex_wait (or cancel it) before replying"
            )
        previous = self.store.latest_for_thread(thread_id)
        if previous is not None:
            fields = dict(previous.spec["task"])
            fields.update(prompt=prompt, resume_thread_id=thread_id)
            return TaskSpec(**fields), previous
        cwd = find_session_cwd(thread_id)
        if cwd is None:
            raise TaskError(
                f"unknown threadId {thread_id}: no task of this server ran it and no Codex "
                "session file holds it"
            )
        return TaskSpec(prompt=prompt, cwd=cwd, resume_thread_id=thread_id), None

    def start_queued_now(self) -> None:
        """Start queued tasks up to the limit at once, for a caller without a running engine
        (a console command that launched tasks); their runners own them from then on."""
        self._start_queued()

    def _start_queued(self) -> None:
        for task_id in self.store.claim_queued(self.settings.max_parallel):
            try:
                self._spawn_runner(task_id)
            except Exception as exc:
                log.exception("could not start the runner of %s", task_id)
                self.store.finish(
                    task_id, phase="failed", error=f"could not start the task runner: {exc}"
                )
                self._notify()

    def _spawn_runner(self, task_id: str) -> None:
        lock_path = self.store.lock_path(task_id)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            log_fd = os.open(
                self.store.task_path(task_id) / "runner.log",
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o600,
            )
            try:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "codex_mcp_swarm.engine.runner",
                        "--task-dir",
                        str(self.store.task_dir),
                        "--task-id",
                        task_id,
                        "--lock-fd",
                        str(fd),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log_fd,
                    stderr=log_fd,
                    pass_fds=(fd,),
                    start_new_session=True,
                )
            finally:
                os.close(log_fd)
        finally:
            os.close(fd)  # the runner's inherited copy keeps the lock held
        # The runner is started and owns the task now: nothing below may report it failed.
        # Reap the runner when it exits so it does not linger as a zombie of this server.
        threading.Thread(target=proc.wait, daemon=True).start()
        self._watch(task_id)
        try:
            self.store.set_runner(task_id, proc.pid, procs.create_time(proc.pid) or time.time())
        except sqlite3.Error:  # cancel then goes through the store's flag alone
            log.exception("could not record the runner of %s", task_id)

    # ---- watching ----------------------------------------------------------------------------

    def _adopt(self) -> None:
        """Watch every active task in the store that this server does not watch yet."""
        for row in self.store.list(phases=("starting", "running")):
            self._watch(row.id)

    def _watch(self, task_id: str) -> None:
        with self._watch_lock:
            if task_id in self._watched:
                return
            self._watched.add(task_id)
        threading.Thread(target=self._watch_thread, args=(task_id,), daemon=True).start()

    def _watch_thread(self, task_id: str) -> None:
        try:
            fd = os.open(self.store.lock_path(task_id), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # returns when no runner holds the lock
            finally:
                os.close(fd)
        except OSError:
            log.exception("watching %s failed", task_id)
        with self._watch_lock:
            self._watched.discard(task_id)
        row = self.store.get(task_id)
        if row is not None and not row.terminal:
            if row.runner_pid is None and time.time() - (row.started_at or 0) < STARTING_GRACE:
                pass  # claimed by another server that has not started its runner yet
            else:
                self._mark_lost(row)  # here, in the watcher thread: it may commit a worktree
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._notify)

    def _mark_lost(self, row: TaskRow) -> None:
        codex = procs.same_process(row.codex_pid, row.codex_ctime)
        note = ""
        if codex is not None:
            tree = [codex, *procs.descendants(codex.pid)]
            procs.signal_all([codex], signal.SIGINT)
            procs.kill_all(tree, grace=self.settings.cancel_grace)
            note = "; its orphaned Codex process was stopped"
        branches.finish_worktree(self.store, row, "lost")
        self.store.finish(
            row.id,
            phase="lost",
            error="the task's runner process vanished without recording an end (killed or "
            f"crashed){note}. Its events so far are kept.",
        )

    # ---- reading and waiting -----------------------------------------------------------------

    def get(self, task_id: str) -> TaskRow:
        if not valid_task_id(task_id):
            raise TaskError(f"{task_id!r} is not a task id (ids look like 'a1b2c3d4e5f6')")
        row = self.store.get(task_id)
        if row is None:
            raise TaskError(f"unknown task id {task_id!r}; codex-swarm:///tasks lists known tasks")
        return row

    def get_many(self, task_ids: Sequence[str]) -> list[TaskRow]:
        for task_id in task_ids:
            if not valid_task_id(task_id):
                raise TaskError(f"{task_id!r} is not a task id (ids look like 'a1b2c3d4e5f6')")
        rows = self.store.get_many(task_ids)
        missing = [t for t in task_ids if t not in rows]
        if missing:
            raise TaskError(
                f"unknown task id(s): {', '.join(missing)}; codex-swarm:///tasks lists known tasks"
            )
        return [rows[t] for t in task_ids]

    def unfinished_of_this_server(self) -> list[str]:
        """Ids of the unfinished tasks this server (its client) started, oldest first."""
        rows = self.store.list(phases=sorted(ACTIVE), owner=self.owner)
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
            rows = self.get_many(task_ids)
            if settled(r.terminal for r in rows):
                return rows, True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return rows, False
            if on_tick is not None:
                await on_tick(rows)
            step = tick if remaining is None else min(tick, remaining)
            await wait_event(changed, step)

    def read_events(self, task_id: str, start: int, lines: int, max_bytes: int) -> dict[str, Any]:
        """A page of a task's raw JSONL from byte offset ``start``: whole lines only (a line
        longer than ``max_bytes`` is cut and marked), and the cursor of the next page."""
        path = self.store.events_path(task_id)
        out: list[str] = []
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(min(start, size))
                used = 0
                position = f.tell()
                while len(out) < lines and used < max_bytes:
                    raw = f.readline(max_bytes + 1)
                    if not raw:
                        break
                    if not raw.endswith(b"\n") and len(raw) <= max_bytes:
                        break  # a line still being written: read it next time
                    if len(raw) > max_bytes:
                        while raw and not raw.endswith(b"\n"):  # skip to the line's end
                            raw = f.readline(max_bytes)
                        out.append(json.dumps({"type": "oversized", "note": "line too long"}))
                    else:
                        out.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                    used += len(raw)
                    position = f.tell()
        except FileNotFoundError:
            size, position = 0, 0
        return {
            "task_id": task_id,
            "cursor": start,
            "next_cursor": position,  # a running task's file grows: read on from here later
            "more": position < size,
            "size": size,
            "lines": out,
        }

    def request_cancel(self, task_id: str) -> TaskRow:
        """Ask a task to stop and return at once (a queued task is cancelled on the spot)."""
        row = self.get(task_id)
        if row.terminal:
            return row
        row = self.store.request_cancel(task_id) or row
        # A runner in 'running' has its SIGTERM handler installed: signal it for a fast stop.
        # Before that the store's cancel flag, which the runner reads at start and on every
        # tick, is the only safe channel (an early SIGTERM would kill it before it records).
        runner = procs.same_process(row.runner_pid, row.runner_ctime)
        if runner is not None and row.phase == "running":
            with contextlib.suppress(OSError, psutil.Error):
                runner.send_signal(signal.SIGTERM)
        self._notify()
        return row

    async def cancel(self, task_id: str) -> TaskRow:
        """Stop a task and everything it started; returns its row once the end is recorded."""
        row = self.request_cancel(task_id)
        if row.terminal:
            return row
        rows, _done = await self.wait([task_id], timeout=self.settings.cancel_grace + 15)
        return rows[0]
