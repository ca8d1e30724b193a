"""What a task's supervisor is told to run: the typed contract between the engine and a backend.

Owns: :class:`LaunchPlan` (the exact Codex argv, its working directory and environment, the
limits and the retry policy), :class:`Limits` (what a caller may ask for), and what a task runs
in beside its ``cwd``: :class:`WorktreeRequest` (a worktree of its own) or :class:`Checkout` (a
throwaway checkout of another task's work). The engine builds
a plan once, when it records the task; the plan is stored with the task, so any supervisor
(a local runner process, a Ray actor) can run it without asking the engine anything.

Must not: build argv (``codex.command`` does), touch the store, or start anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..git import Worktree

DEFAULT_GRACE = 5.0  # seconds between SIGINT and the kill of Codex's whole tree
DEFAULT_BACKOFF = 2.0  # seconds before the first retry; doubles per attempt, at most 60


@dataclass(frozen=True)
class Limits:
    """How long a task may run and how failures are retried; ``None`` takes the server default."""

    timeout: float | None = None  # seconds of runtime in all
    idle_timeout: float | None = None  # seconds without a Codex event while no command runs
    retries: int | None = None  # extra attempts after a transient model failure


@dataclass(frozen=True)
class LaunchPlan:
    """One task's run, fully decided. ``prompt`` goes to Codex on stdin, never in ``argv``."""

    argv: tuple[str, ...]
    cwd: str
    prompt: str
    env: dict[str, str] = field(default_factory=dict)  # added to the supervisor's environment
    grace: float = DEFAULT_GRACE
    timeout: float | None = None
    idle_timeout: float | None = None
    retries: int = 0
    retry_backoff: float = DEFAULT_BACKOFF

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data.pop("prompt")  # stored once, in the task's spec
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], prompt: str) -> LaunchPlan:
        """The plan stored by :meth:`to_dict` (unknown keys from other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "prompt"}
        values["argv"] = tuple(values.get("argv") or ())
        values["retries"] = int(values.get("retries") or 0)
        values["env"] = dict(values.get("env") or {})
        return cls(prompt=prompt, **values)

    @property
    def limits(self) -> Limits:
        return Limits(timeout=self.timeout, idle_timeout=self.idle_timeout, retries=self.retries)


@dataclass(frozen=True)
class WorktreeRequest:
    """Run the task in its own worktree on branch ``codex-swarm/<task_id>``."""

    base_ref: str | None = None  # branch, tag or commit to start from (default HEAD)
    include_uncommitted: bool = False  # carry the caller's uncommitted and untracked changes
    # A fork: the source task's worktree. The fork's branch starts at base_ref (the source's
    # work so far) but is measured, diffed and merged from the source's own base.
    fork_of: Worktree | None = None


@dataclass(frozen=True)
class Checkout:
    """Run the task in a throwaway checkout of ``commit`` (of the repository ``repo``, in its
    ``subdir``), made where its supervisor runs and removed after it: a read-only look at
    another task's work (a review, a fork without its own worktree) where that task's worktree
    is not on the supervisor's machine. No branch; nothing comes back."""

    repo: str
    commit: str
    subdir: str = ""
    of_task: str = ""  # the task whose work it is
