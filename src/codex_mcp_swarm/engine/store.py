"""The task store: one SQLite file under the task dir, the single source of truth on disk.

Owns: the schema, every read and write of task rows (a row's ``extra`` record through the
store's codec, :mod:`.codec`), and where a task's files live: ``tasks.db`` and each task's
private dir ``tasks/<id>/`` with its paths (``events.jsonl``, ``stderr.log``, ``runner.lock``,
``runner.log``). Others keep their own files there and name them: the task files module
(``output-schema.json``), the Ray collector (``collector.lock``), the fork server
(``forkserver.log`` in the task dir).

Must not: start or signal processes, parse Codex output, or know about MCP.

Several processes use the store at once (the server, one runner per task, a second server of
another client session), so it runs in WAL mode with a busy timeout, and every state change is a
single short transaction. A terminal state is only written once: later writers cannot overwrite it.

Every write of a task row sets its ``updated_at``. That makes the decoded rows of :meth:`get_many`
and :meth:`list` (with a limit) cacheable: one cheap query reads which rows a call needs and
their ``updated_at``, and only rows that changed since they were last decoded are read again
(whichever process changed them). A row handed out is the caller's own, as an uncached read's
is: its JSON values (``spec``, ``progress``, ``usage``, ``usage_baseline``) are new objects
each time (made from marshal bytes the cache keeps, cheaper than decoding the JSON again), so
a caller that changes one in place changes nothing another caller, or the cache, sees.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import marshal
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..codex.command import TaskSpec
from .codec import (
    extra_from_json,
    extra_to_json,
    progress_from_json,
    progress_to_json,
    report_from_json,
    report_to_json,
    request_from_json,
    request_to_json,
    task_spec_of,
)
from .errors import Code, EngineError
from .phases import ACTIVE, PHASES, SUPERVISED, TERMINAL, Phase
from .plan import LaunchPlan
from .records import LandingProgress, LandingRow, LandReport, LandRequest, TaskExtra

__all__ = [
    "ACTIVE",
    "PHASES",
    "TERMINAL",
    "LandingRow",
    "Phase",
    "Store",
    "StoreError",
    "TaskExtra",
    "TaskRow",
    "backend_of",
    "make_private_dir",
    "valid_task_id",
]

SCHEMA_VERSION = 1
ROW_CACHE = 2000  # decoded rows kept (a few MB): the pages and tasks callers keep asking about
_TASK_ID_RE = re.compile(r"^[a-z0-9]{6,32}$")

# Tasks that are to join a landing queue by themselves and have not yet (launched with
# ``land``, or a reply that took a failed landing home): a text match on the stored record, and
# the condition of the partial index ``tasks_to_land``, so that looking for them reads only them.
# A query uses the index only when it spells this condition exactly so.
_TO_LAND = (
    "(extra LIKE '%\"auto\\_land\": {%' ESCAPE '\\' OR extra LIKE '%\"home\": {%')"
    " AND extra NOT LIKE '%\"landing\": {%'"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    phase TEXT NOT NULL,
    owner TEXT,
    spec TEXT NOT NULL,
    cwd TEXT NOT NULL,
    title TEXT NOT NULL,
    thread_id TEXT,
    parent_id TEXT,
    runner_pid INTEGER,
    runner_ctime REAL,
    codex_pid INTEGER,
    codex_ctime REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    exit_signal INTEGER,
    error TEXT,
    progress TEXT,
    result TEXT,
    usage TEXT,
    usage_baseline TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    extra TEXT
);
CREATE INDEX IF NOT EXISTS tasks_phase ON tasks(phase, seq);
CREATE INDEX IF NOT EXISTS tasks_thread ON tasks(thread_id);
CREATE INDEX IF NOT EXISTS tasks_seq ON tasks(seq);
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, phase);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks(updated_at);
CREATE TABLE IF NOT EXISTS steers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS steers_task ON steers(task_id, state, id);
CREATE TABLE IF NOT EXISTS landings (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    repository TEXT NOT NULL,
    phase TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    owner TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress TEXT,
    report TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS landings_phase ON landings(phase, seq);
"""
# Columns added after the first schema: (name, declaration). Added in place when missing.
_ADDED_COLUMNS = (
    ("priority", "INTEGER NOT NULL DEFAULT 0"),
    ("extra", "TEXT"),
    ("steer_count", "INTEGER NOT NULL DEFAULT 0"),
    ("steered_at", "REAL"),
)


# The backend a task runs under, as the engine records it in ``extra`` (rows from before that
# record are local): one SQL condition with one parameter, the backend's name. The key is the
# codec's (:mod:`.codec`): it always writes it.
_OF_BACKEND = "COALESCE(json_extract(extra, '$.backend'), 'local') = ?"


def backend_of(row: TaskRow) -> str:
    """The backend that runs ``row`` (``local`` for rows from before backends were recorded)."""
    return row.extra.backend


class StoreError(EngineError, RuntimeError):
    """The store cannot be opened or used; the text says what to do."""

    default_code = Code.UNAVAILABLE


def valid_task_id(task_id: object) -> bool:
    """Task ids are short lowercase alphanumerics: safe in paths, checked before any path use."""
    return isinstance(task_id, str) and bool(_TASK_ID_RE.match(task_id))


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; tighten an existing one we own."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


@dataclass
class TaskRow:
    """One task as stored. JSON columns are decoded; ``spec`` stays a dict (the engine owns it;
    :attr:`task` and :attr:`plan` read it typed); ``extra`` is the typed record the store's
    codec (:mod:`.codec`) reads and writes."""

    id: str
    seq: int
    created_at: float
    updated_at: float
    started_at: float | None
    ended_at: float | None
    phase: Phase
    owner: str | None
    spec: dict[str, Any]
    cwd: str
    title: str
    thread_id: str | None
    parent_id: str | None
    runner_pid: int | None
    runner_ctime: float | None
    codex_pid: int | None
    codex_ctime: float | None
    cancel_requested: bool
    exit_code: int | None
    exit_signal: int | None
    error: str | None
    progress: dict[str, Any]
    result: str | None
    usage: dict[str, int]
    usage_baseline: dict[str, int]
    priority: int = 0
    extra: TaskExtra = field(default_factory=TaskExtra)  # e.g. the worktree and its outcome
    steer_count: int = 0  # codex_steer requests accepted (queued ones joined the prompt)
    steered_at: float | None = None  # when the latest was accepted

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def task(self) -> TaskSpec:
        """What the task was asked to do, as recorded (the spec's ``task``, typed)."""
        return task_spec_of(self.spec)

    @property
    def plan(self) -> LaunchPlan:
        """What the task's supervisor runs (decided by the engine when it recorded the task)."""
        return LaunchPlan.from_dict(self.spec["launch"], self.spec["task"]["prompt"])

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> TaskRow:
        data = dict(row)
        for key in ("spec", "progress", "usage", "usage_baseline"):
            data[key] = json.loads(data[key]) if data[key] else {}
        data["extra"] = extra_from_json(data["extra"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)


class _Cached:
    """A decoded row kept by :class:`Store`: its columns and typed record decoded, its JSON
    values (``spec``, ``progress``, ``usage``, ``usage_baseline``) kept as marshal bytes, so each
    row handed out gets values of its own from one C call (under half the time of decoding the
    JSON again) and no caller can change another's, or the cache's, by changing one in place."""

    __slots__ = ("row", "values")

    def __init__(self, row: TaskRow) -> None:
        self.values = marshal.dumps((row.spec, row.progress, row.usage, row.usage_baseline))
        row.spec, row.progress, row.usage, row.usage_baseline = {}, {}, {}, {}  # in `values`
        self.row = row

    def lend(self) -> TaskRow:
        """A copy of the row that shares nothing mutable with the cache (``extra`` is frozen)."""
        mine = object.__new__(TaskRow)
        mine.__dict__.update(self.row.__dict__)  # copy.copy's result, in a third of its time
        mine.spec, mine.progress, mine.usage, mine.usage_baseline = marshal.loads(self.values)
        return mine


class Store:
    """Access to ``<task_dir>/tasks.db``. Safe to share between threads of one process."""

    def __init__(self, task_dir: Path, *, role: str = "server") -> None:
        """``role``: ``server`` (creates and checks the store), ``runner`` (a task's runner:
        the store exists; no schema work, no integrity scan, a small page cache), or
        ``readonly`` (a reader that changes nothing: no directory or file is created)."""
        self.path = Path(task_dir) / "tasks.db"
        self.readonly = role == "readonly"
        try:
            if self.readonly or role == "runner":  # the server made (and guards) both dirs
                self.task_dir = Path(task_dir)
                self.tasks_dir = self.task_dir / "tasks"
            else:
                self.task_dir = make_private_dir(Path(task_dir))
                self.tasks_dir = make_private_dir(self.task_dir / "tasks")
        except OSError as exc:
            raise StoreError(
                "the task dir {task_dir} cannot be created or used ({reason}). "
                "Point {TASK_DIR} at a writable directory.",
                task_dir=str(task_dir),
                reason=str(exc.strerror or exc),
            ) from exc
        self._lock = threading.RLock()
        self._rows: OrderedDict[str, _Cached] = OrderedDict()  # decoded rows, oldest use first
        old_umask = os.umask(0o077)
        try:
            if self.readonly:
                self._db = sqlite3.connect(
                    f"{self.path.absolute().as_uri()}?mode=ro",
                    uri=True,
                    timeout=30.0,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                self._db = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 30000")
            if role == "server":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._db.executescript(_SCHEMA)  # idempotent; several processes may race here
                self._migrate()
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)",
                    (str(SCHEMA_VERSION),),
                )
                self._db.execute("PRAGMA quick_check").fetchone()
            elif role == "runner":
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._db.execute("PRAGMA cache_size = -256")  # KiB: a runner reads one row
        except sqlite3.DatabaseError as exc:
            text = str(exc).lower()
            if "not a database" not in text and "malformed" not in text:
                raise StoreError(
                    "the task store {path} cannot be written ({reason}): the task dir may be "
                    "read-only or full. Free space or point {TASK_DIR} at a writable directory.",
                    path=str(self.path),
                    reason=str(exc),
                ) from exc
            raise StoreError(
                "the task store {path} cannot be opened ({reason}). Nothing was changed or "
                "deleted: move the file aside (or point {TASK_DIR} elsewhere) and start "
                "again; the old file can be inspected with the sqlite3 tool.",
                path=str(self.path),
                reason=str(exc),
            ) from exc
        finally:
            os.umask(old_umask)

    def _migrate(self) -> None:
        have = {r[1] for r in self._db.execute("PRAGMA table_info(tasks)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process won
                    self._db.execute(f"ALTER TABLE tasks ADD COLUMN {name} {declaration}")
        with contextlib.suppress(sqlite3.OperationalError):  # (it names ``extra``, added above)
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS tasks_to_land ON tasks(seq) WHERE {_TO_LAND}"
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- files -------------------------------------------------------------------------------

    def task_path(self, task_id: str) -> Path:
        if not valid_task_id(task_id):
            raise StoreError("invalid task id {task_id!r}", code=Code.INVALID, task_id=task_id)
        return self.tasks_dir / task_id

    def events_path(self, task_id: str) -> Path:
        return self.task_path(task_id) / "events.jsonl"

    def stderr_path(self, task_id: str) -> Path:
        return self.task_path(task_id) / "stderr.log"

    def lock_path(self, task_id: str) -> Path:
        return self.task_path(task_id) / "runner.lock"

    def runner_log(self, task_id: str) -> Path:
        return self.task_path(task_id) / "runner.log"

    @staticmethod
    def runner_log_path(task_dir: Path, task_id: str) -> Path:
        """``runner.log`` of a task, without opening the store (a forked runner's first step)."""
        if not valid_task_id(task_id):
            raise StoreError("invalid task id {task_id!r}", code=Code.INVALID, task_id=task_id)
        return Path(task_dir) / "tasks" / task_id / "runner.log"

    # ---- writes ------------------------------------------------------------------------------

    def create(
        self,
        task_id: str,
        *,
        spec: dict[str, Any],
        cwd: str,
        title: str,
        owner: str,
        parent_id: str | None = None,
        thread_id: str | None = None,
        usage_baseline: dict[str, int] | None = None,
        priority: int = 0,
        extra: TaskExtra | None = None,
    ) -> None:
        make_private_dir(self.task_path(task_id))
        now = time.time()
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks").fetchone()[0]
            db.execute(
                "INSERT INTO tasks(id, seq, created_at, updated_at, phase, owner, spec, cwd, title,"
                " thread_id, parent_id, usage_baseline, priority, extra)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    task_id,
                    seq,
                    now,
                    now,
                    "queued",
                    owner,
                    json.dumps(spec),
                    cwd,
                    title,
                    thread_id,
                    parent_id,
                    json.dumps(usage_baseline or {}),
                    priority,
                    extra_to_json(extra or TaskExtra()),
                ),
            )

    def claim_queued(self, limit: int, backend: str = "local") -> list[str]:
        """Move the oldest queued tasks of ``backend`` to ``starting`` while fewer than ``limit``
        of that backend's tasks are active.

        One transaction, so several servers sharing the store never exceed the limit together.
        Each backend has its own queue and limit: an engine never claims a task another kind of
        backend is to run (a console command's local engine beside a Ray server), and the
        cluster's tasks do not count against this machine's limit.
        """
        with self._tx() as db:
            busy = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE phase IN ('starting', 'running') AND "
                + _OF_BACKEND,
                (backend,),
            ).fetchone()[0]
            free = max(0, limit - busy)
            if not free:
                return []
            ids = [
                r[0]
                for r in db.execute(
                    f"SELECT id FROM tasks WHERE phase = 'queued' AND {_OF_BACKEND}"
                    " ORDER BY priority DESC, seq LIMIT ?",
                    (backend, free),
                )
            ]
            now = time.time()
            db.executemany(
                "UPDATE tasks SET phase = 'starting', started_at = ?, updated_at = ? WHERE id = ?",
                [(now, now, i) for i in ids],
            )
            return ids

    def requeue_unstarted(self, task_id: str) -> bool:
        """Put a claimed task whose runner never started back in the queue (its place kept:
        the queue orders by priority and creation). Only from 'starting' with no runner and
        no Codex recorded; True when it was put back."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE tasks SET phase = 'queued', started_at = NULL, updated_at = ? WHERE id = ?"
                " AND phase = 'starting' AND runner_pid IS NULL AND codex_pid IS NULL",
                (time.time(), task_id),
            )
            return cur.rowcount == 1

    def set_runner(self, task_id: str, pid: int, ctime: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET runner_pid = ?, runner_ctime = ?, updated_at = ? WHERE id = ?",
                (pid, ctime, time.time(), task_id),
            )

    def set_running(self, task_id: str, codex_pid: int, codex_ctime: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET phase = 'running', codex_pid = ?, codex_ctime = ?, updated_at = ?"
                " WHERE id = ? AND phase IN ('queued', 'starting', 'running')",
                (codex_pid, codex_ctime, time.time(), task_id),
            )

    def set_progress(self, task_id: str, progress: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET progress = ?, thread_id = COALESCE(?, thread_id), updated_at = ?"
                " WHERE id = ?",
                (json.dumps(progress), progress.get("thread_id"), time.time(), task_id),
            )

    def update_extra(
        self, task_id: str, change: Callable[[TaskExtra], TaskExtra]
    ) -> TaskExtra | None:
        """Change the task's ``extra`` record in one transaction: ``change`` gets the stored
        record and returns the new one (``dataclasses.replace`` of it; no I/O, it runs under
        the write lock). Returns the record written, or None for an unknown task."""
        with self._tx() as db:
            row = db.execute("SELECT extra FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            extra = change(extra_from_json(row[0]))
            db.execute(
                "UPDATE tasks SET extra = ?, updated_at = ? WHERE id = ?",
                (extra_to_json(extra), time.time(), task_id),
            )
        return extra

    def queue_position(self, row: TaskRow) -> int | None:
        """1-based place of a queued task in its backend's start order (priority first, then
        FIFO)."""
        if row.phase != "queued":
            return None
        with self._lock:
            ahead = self._db.execute(
                f"SELECT COUNT(*) FROM tasks WHERE phase = 'queued' AND {_OF_BACKEND} AND"
                " (priority > ? OR (priority = ? AND seq < ?))",
                (backend_of(row), row.priority, row.priority, row.seq),
            ).fetchone()[0]
        return int(ahead) + 1

    def request_cancel(self, task_id: str) -> TaskRow | None:
        """Mark a task cancel-requested; a queued one is cancelled on the spot. Returns the row."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? AND phase IN"
                " ('queued', 'starting', 'running')",
                (now, task_id),
            )
            db.execute(
                "UPDATE tasks SET phase = 'cancelled', ended_at = ?, updated_at = ?, error ="
                " 'cancelled before it started' WHERE id = ? AND phase = 'queued'",
                (now, now, task_id),
            )
        return self.get(task_id)

    def finish(
        self,
        task_id: str,
        *,
        phase: str,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        result: str | None = None,
        usage: dict[str, int] | None = None,
        unless_steered: bool = False,
    ) -> bool:
        """Record the end of a task atomically. Only the first terminal write wins. With
        ``unless_steered`` nothing is written while a steer waits (the runner goes on)."""
        assert phase in TERMINAL
        now = time.time()
        with self._tx() as db:
            if unless_steered and self._pending_steer(db, task_id):
                return False
            cur = db.execute(
                "UPDATE tasks SET phase = ?, ended_at = ?, updated_at = ?, exit_code = ?,"
                " exit_signal = ?, error = ?, progress = COALESCE(?, progress),"
                " thread_id = COALESCE(?, thread_id), result = ?, usage = COALESCE(?, usage)"
                " WHERE id = ? AND phase NOT IN ('completed', 'failed', 'cancelled', 'lost')",
                (
                    phase,
                    now,
                    now,
                    exit_code,
                    exit_signal,
                    error,
                    json.dumps(progress) if progress is not None else None,
                    (progress or {}).get("thread_id"),
                    result,
                    json.dumps(usage) if usage is not None else None,
                    task_id,
                ),
            )
            return cur.rowcount == 1

    # ---- reads -------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRow | None:
        if not valid_task_id(task_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return TaskRow.from_sql(row) if row else None

    def cancel_requested(self, task_id: str) -> bool:
        """Whether a cancel was asked for: the runner's frequent, cheap check."""
        with self._lock:
            row = self._db.execute(
                "SELECT cancel_requested FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
        return bool(row and row[0])

    def get_many(self, task_ids: Sequence[str]) -> dict[str, TaskRow]:
        ids = [t for t in task_ids if valid_task_id(t)]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._cached(f"SELECT id, updated_at FROM tasks WHERE id IN ({marks})", ids)
        return {r.id: r for r in rows}

    def _cached(self, stamps_query: str, args: Sequence[Any]) -> builtins.list[TaskRow]:
        """The rows ``stamps_query`` names (it selects ``id, updated_at``), in its order:
        decoded ones from the cache when their ``updated_at`` is unchanged, the rest read
        and decoded now. One read transaction, so all of them are of one moment."""
        cache = self._rows
        with self._lock:
            own = not self._db.in_transaction
            if own:
                self._db.execute("BEGIN")
            try:
                stamps = self._db.execute(stamps_query, args).fetchall()
                stale = [i for i, at in stamps if i not in cache or cache[i].row.updated_at != at]
                for start in range(0, len(stale), 500):  # SQLite's limit of bound values
                    part = stale[start : start + 500]
                    marks = ",".join("?" * len(part))
                    for raw in self._db.execute(
                        f"SELECT * FROM tasks WHERE id IN ({marks})", part
                    ).fetchall():
                        cache[raw["id"]] = _Cached(TaskRow.from_sql(raw))
            finally:
                if own:
                    self._db.execute("COMMIT")
            rows = []
            for task_id, _at in stamps:
                cache.move_to_end(task_id)
                rows.append(cache[task_id].lend())
            while len(cache) > ROW_CACHE:
                cache.popitem(last=False)
        return rows

    def count(self, *, phases: Collection[str] | None = None) -> int:
        query = "SELECT COUNT(*) FROM tasks"
        args: list[Any] = []
        if phases:
            query += f" WHERE phase IN ({','.join('?' * len(phases))})"
            args += sorted(phases)
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def changed_since(self, since: float) -> list[tuple[str, float]]:
        """(id, updated_at) of the tasks changed after ``since``, oldest change first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, updated_at FROM tasks WHERE updated_at > ? ORDER BY updated_at",
                (since,),
            ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def list(
        self,
        *,
        phases: Collection[str] | None = None,
        owner: str | None = None,
        limit: int | None = None,
    ) -> list[TaskRow]:
        query = "SELECT * FROM tasks"
        where: list[str] = []
        args: list[Any] = []
        if phases:
            where.append(f"phase IN ({','.join('?' * len(phases))})")
            args += sorted(phases)
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY seq DESC"
        if limit is not None and limit <= ROW_CACHE:  # a page: served from the cache
            query += " LIMIT ?"
            args.append(limit)
            return self._cached(query.replace("SELECT *", "SELECT id, updated_at", 1), args)
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [TaskRow.from_sql(r) for r in rows]

    def pages(self, size: int = 500) -> Iterator[builtins.list[TaskRow]]:
        """Every task, newest first, ``size`` rows a query (the decoded rows of one page at a
        time, not cached: a whole listing would only push the rows callers ask about out)."""
        before: int | None = None
        while True:
            where = "" if before is None else " WHERE seq < ?"
            args = (size,) if before is None else (before, size)
            with self._lock:
                raw = self._db.execute(
                    f"SELECT * FROM tasks{where} ORDER BY seq DESC LIMIT ?", args
                ).fetchall()
            if not raw:
                return
            yield [TaskRow.from_sql(r) for r in raw]
            before = int(raw[-1]["seq"])

    def latest_for_thread(self, thread_id: str) -> TaskRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM tasks WHERE thread_id = ? ORDER BY seq DESC LIMIT 1", (thread_id,)
            ).fetchone()
        return TaskRow.from_sql(row) if row else None

    def active_thread_task(self, thread_id: str) -> TaskRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM tasks WHERE thread_id = ? AND phase IN ('queued', 'starting',"
                " 'running') ORDER BY seq DESC LIMIT 1",
                (thread_id,),
            ).fetchone()
        return TaskRow.from_sql(row) if row else None

    def usage_totals(self) -> dict[str, int]:
        """Tokens of every task, summed per key (each task's own turn, not the thread's total)."""
        totals: dict[str, int] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT usage, usage_baseline FROM tasks WHERE usage IS NOT NULL"
            ).fetchall()
        for usage_text, base_text in rows:
            usage = json.loads(usage_text or "{}")
            base = json.loads(base_text or "{}")
            for key, value in usage.items():
                totals[key] = totals.get(key, 0) + max(0, int(value) - int(base.get(key, 0)))
        return totals

    # ---- steering ----------------------------------------------------------------------------

    @staticmethod
    def _pending_steer(db: sqlite3.Connection, task_id: str) -> bool:
        row = db.execute(
            "SELECT 1 FROM steers WHERE task_id = ? AND state = 'pending' LIMIT 1", (task_id,)
        ).fetchone()
        return row is not None

    def add_steer(self, task_id: str, message: str) -> str | None:
        """Steer a task in one transaction: a queued task gets ``message`` added to its prompt;
        a starting or running one gets it queued for its runner. Returns the phase the task
        was in (a terminal phase means nothing changed), or None for an unknown task."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT phase, spec FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            phase = str(row[0])
            if phase == "queued":
                spec = json.loads(row[1])
                spec["task"]["prompt"] = f"{spec['task']['prompt'].rstrip()}\n\n{message}"
                db.execute(
                    "UPDATE tasks SET spec = ?, updated_at = ? WHERE id = ?",
                    (json.dumps(spec), now, task_id),
                )
            elif phase in SUPERVISED:
                db.execute(
                    "INSERT INTO steers(task_id, created_at, message) VALUES (?, ?, ?)",
                    (task_id, now, message),
                )
            else:
                return phase
            db.execute(
                "UPDATE tasks SET steer_count = steer_count + 1, steered_at = ?, updated_at = ?"
                " WHERE id = ?",
                (now, now, task_id),
            )
            return phase

    def has_pending_steer(self, task_id: str) -> bool:
        """Whether a steer waits for the runner: its frequent, cheap check."""
        with self._lock:
            return self._pending_steer(self._db, task_id)

    def pending_steers(self, task_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM steers WHERE task_id = ? AND state = 'pending'", (task_id,)
            ).fetchone()
        return int(row[0])

    def take_steers(self, task_id: str) -> builtins.list[str]:
        """The waiting steer messages, oldest first, marked delivered in the same transaction."""
        now = time.time()
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, message FROM steers WHERE task_id = ? AND state = 'pending'"
                " ORDER BY id",
                (task_id,),
            ).fetchall()
            db.executemany(
                "UPDATE steers SET state = 'delivered', delivered_at = ? WHERE id = ?",
                [(now, r[0]) for r in rows],
            )
        return [str(r[1]) for r in rows]

    # ---- landings ------------------------------------------------------------------------------
    # A landing waits behind the earlier landings of its repository (its git common dir): at
    # most one of them runs at a time, across every server sharing this store.

    @staticmethod
    def _landing(row: sqlite3.Row) -> LandingRow:
        return LandingRow(
            id=row["id"],
            seq=row["seq"],
            repository=row["repository"],
            phase=row["phase"],
            request=request_from_json(row["request"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            owner=row["owner"],
            cancel_requested=bool(row["cancel_requested"]),
            progress=progress_from_json(row["progress"]),
            report=report_from_json(row["report"]),
            error=row["error"],
        )

    def create_landing(self, landing_id: str, repository: str, request: LandRequest) -> LandingRow:
        if not valid_task_id(landing_id):
            raise StoreError(
                "invalid landing id {landing_id!r}", code=Code.INVALID, landing_id=landing_id
            )
        now = time.time()
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM landings").fetchone()[0]
            db.execute(
                "INSERT INTO landings (id, seq, repository, phase, request, created_at,"
                " updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (landing_id, seq, repository, request_to_json(request), now, now),
            )
        found = self.get_landing(landing_id)
        assert found is not None
        return found

    def get_landing(self, landing_id: str) -> LandingRow | None:
        if not valid_task_id(landing_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM landings WHERE id = ?", (landing_id,)).fetchone()
        return self._landing(row) if row else None

    def landings(
        self, *, active: bool = False, limit: int | None = None
    ) -> builtins.list[LandingRow]:
        """Landings, newest first (``active``: only queued and running ones)."""
        sql = "SELECT * FROM landings"
        if active:
            sql += " WHERE phase IN ('queued', 'running')"
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(sql).fetchall()
        return [self._landing(r) for r in rows]

    def landing_position(self, row: LandingRow) -> int | None:
        """How many landings of the same repository go before a queued one."""
        if row.phase != "queued":
            return None
        with self._lock:
            found = self._db.execute(
                "SELECT COUNT(*) FROM landings WHERE repository = ? AND seq < ?"
                " AND phase IN ('queued', 'running')",
                (row.repository, row.seq),
            ).fetchone()
        return int(found[0])

    def claim_landing(self, owner: str) -> LandingRow | None:
        """The oldest queued landing of a repository none of whose landings runs, now running
        and owned by ``owner``; None when there is none."""
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM landings WHERE phase = 'queued' AND repository NOT IN"
                " (SELECT repository FROM landings WHERE phase = 'running')"
                " AND seq = (SELECT MIN(seq) FROM landings AS l WHERE l.phase = 'queued'"
                " AND l.repository = landings.repository) ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE landings SET phase = 'running', owner = ?, started_at ="
                " COALESCE(started_at, ?), updated_at = ? WHERE id = ?",
                (owner, now, now, row[0]),
            )
        return self.get_landing(row[0])

    def requeue_landing(self, landing_id: str) -> bool:
        """A running landing goes back to the head of its queue (its server stopped or died)."""
        with self._tx() as db:
            done = db.execute(
                "UPDATE landings SET phase = 'queued', owner = NULL, updated_at = ?"
                " WHERE id = ? AND phase = 'running'",
                (time.time(), landing_id),
            )
        return done.rowcount == 1

    def set_landing_progress(self, landing_id: str, progress: LandingProgress) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE landings SET progress = ?, updated_at = ? WHERE id = ? AND phase ="
                " 'running'",
                (progress_to_json(progress), time.time(), landing_id),
            )

    def finish_landing(
        self, landing_id: str, phase: str, report: LandReport | None, error: str | None
    ) -> None:
        """Record a landing's end, once (a later writer cannot change it)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE landings SET phase = ?, report = ?, error = ?, ended_at = ?,"
                " updated_at = ? WHERE id = ? AND phase IN ('queued', 'running')",
                (
                    phase,
                    report_to_json(report) if report is not None else None,
                    error,
                    now,
                    now,
                    landing_id,
                ),
            )

    def awaiting_landing(self) -> builtins.list[TaskRow]:
        """Ended tasks that are to join a landing queue by themselves and have not yet: tasks
        launched with ``land``, and replies that took a failed landing home (``_TO_LAND``, a
        cheap text match on the stored record first; the caller reads the typed record).
        Read through the partial index ``tasks_to_land`` (``+phase`` keeps SQLite off the
        phase index): the landing queue looks once a second, and scanning 10,000 ended tasks
        took about 10 ms, with the store's lock held."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE +phase IN ('completed', 'failed', 'cancelled') AND"
                f" {_TO_LAND} ORDER BY seq"
            ).fetchall()
        return [TaskRow.from_sql(r) for r in rows]

    def join_landing(
        self,
        task_ids: Sequence[str],
        repository: str,
        request: LandRequest,
        new_id: str,
        mark: Callable[[TaskExtra, str], TaskExtra],
    ) -> tuple[str, builtins.list[str]] | None:
        """In one transaction: the tasks not yet marked (``extra.landing`` unset) join a queued
        landing of ``repository`` with the same arguments as ``request`` (its ``task_ids``
        aside) and no cancel asked, or a new one (id ``new_id``); each task's record becomes
        ``mark(extra, landing_id)``. Returns (the landing id, the tasks that joined), or None
        when every task had joined already (another server did it)."""
        now = time.time()
        with self._tx() as db:
            fresh: list[tuple[str, TaskExtra]] = []
            for task_id in task_ids:
                found = db.execute("SELECT extra FROM tasks WHERE id = ?", (task_id,)).fetchone()
                if found is None:
                    continue
                extra = extra_from_json(found[0])
                if extra.landing is None:
                    fresh.append((task_id, extra))
            if not fresh:
                return None
            ids = [task_id for task_id, _extra in fresh]
            same = replace(request, task_ids=None)
            landing_id = None
            queued = db.execute(
                "SELECT id, request FROM landings WHERE phase = 'queued' AND repository = ? AND"
                " cancel_requested = 0 ORDER BY seq DESC",
                (repository,),
            ).fetchall()
            for row in queued:
                theirs = request_from_json(row[1])
                if theirs.task_ids is None or replace(theirs, task_ids=None) != same:
                    continue
                joined = replace(theirs, task_ids=(*theirs.task_ids, *ids))
                db.execute(
                    "UPDATE landings SET request = ?, updated_at = ? WHERE id = ?",
                    (request_to_json(joined), now, row[0]),
                )
                landing_id = row[0]
                break
            if landing_id is None:
                landing_id = new_id
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM landings").fetchone()[0]
                db.execute(
                    "INSERT INTO landings (id, seq, repository, phase, request, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    (
                        landing_id,
                        seq,
                        repository,
                        request_to_json(replace(request, task_ids=tuple(ids))),
                        now,
                        now,
                    ),
                )
            for task_id, extra in fresh:
                db.execute(
                    "UPDATE tasks SET extra = ?, updated_at = ? WHERE id = ?",
                    (extra_to_json(mark(extra, landing_id)), now, task_id),
                )
        return landing_id, ids

    def request_landing_cancel(self, landing_id: str) -> LandingRow | None:
        """A queued landing is cancelled at once; a running one is asked to stop (its server
        stops its checks and records the end)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE landings SET phase = 'cancelled', ended_at = ?, updated_at = ?,"
                " cancel_requested = 1 WHERE id = ? AND phase = 'queued'",
                (now, now, landing_id),
            )
            db.execute(
                "UPDATE landings SET cancel_requested = 1, updated_at = ? WHERE id = ? AND"
                " phase = 'running'",
                (now, landing_id),
            )
        return self.get_landing(landing_id)
