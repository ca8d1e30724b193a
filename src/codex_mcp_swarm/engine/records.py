"""The engine's typed records: what a task row keeps beside its columns, and the results of the
engine's git operations.

Owns: one family of frozen dataclasses.

* :class:`TaskExtra`, a task row's ``extra``: the backend that supervises it, its worktree (the
  git layer's :class:`~..git.Worktree`) and outcome (:class:`~..git.Outcome`), how its work was
  merged (:class:`Merged`), the checkout it looks at (:class:`~.plan.Checkout`), the Ray node it
  runs on (:class:`Node`) and its actor (:class:`RayRecord`), the paths it declared, the
  links between a conflicted task and the task resolving it, and its landing: the ``land`` it
  was launched with (:class:`AutoLand`), where it went (:class:`LandingMark`), and for a reply
  that took a failed landing home, the landing it goes back to (:class:`HomeTrip`);
* the results faces render: :class:`DiffReport`, :class:`MergeReport`, :class:`CleanupReport`,
  and a landing's :class:`LandReport` (with :class:`Landed`, :class:`Conflicted`,
  :class:`CheckFailed`, :class:`Skipped`, :class:`Resolving`, :class:`SentHome`);
* a landing as the merge queue keeps it: what was asked (:class:`LandRequest`), its stored row
  (:class:`LandingRow`) and how far it got (:class:`LandingProgress`);
* a page of a task's raw events (:class:`EventPage`);
* what the conflict outlook finds: :class:`Overlap` (declared paths a running task shares),
  :class:`ConflictPair` and :class:`Collision` (branches that conflict);
* what a Ray task actor is made with (:class:`ActorPayload`, its code coming through the git
  remote as a :class:`RemoteCode`) and hands its server on each poll (:class:`PollSnapshot`,
  with the worker's record of the task, :class:`WorkerRow`);
* :func:`as_data`, a result as JSON-ready data named by its fields (for a face's answer), each
  field under the key and on the condition its metadata names (the typed views of :mod:`.views`).

Must not: know the JSON shape of a stored record (the store's codec, :mod:`.codec`, is the one
place that does), touch the store, or run anything. The git layer is imported for type checking
only: a runner of a task without a worktree never loads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from .phases import LANDING_TERMINAL
from .plan import Checkout

if TYPE_CHECKING:
    from ..git import Outcome, Worktree

__all__ = [
    "ActorPayload",
    "AutoLand",
    "CheckFailed",
    "Checkout",
    "CleanupReport",
    "Collision",
    "ConflictPair",
    "Conflicted",
    "DiffReport",
    "EventPage",
    "HomeTrip",
    "LandReport",
    "LandRequest",
    "Landed",
    "LandingMark",
    "LandingProgress",
    "LandingRow",
    "MergeReport",
    "Merged",
    "Node",
    "Overlap",
    "PollSnapshot",
    "RayRecord",
    "RemoteCode",
    "Resolving",
    "SentHome",
    "Skipped",
    "TaskExtra",
    "WorkerRow",
    "as_data",
]


def as_data(record: Any) -> Any:
    """A record as JSON-ready data named by its fields (paths become strings, tuples lists),
    for a face that hands a result on as JSON.

    A field may say, in its metadata, the key it is written under (``"key"``) and when it is
    written at all (``"shown"``: a test of the whole record); the typed views
    (:mod:`.views`) use both to keep the answers' long-standing JSON shape. How a type is
    converted is worked out once per type (listing ten thousand tasks converts each view)."""
    kind = type(record)
    if kind in _PLAIN:
        return record
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(record)


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON-ready as they are
_CONVERTERS: dict[type, Callable[[Any], Any]] = {}  # by type, made by _converter on first use


def _converter(kind: type) -> Callable[[Any], Any]:
    """How :func:`as_data` converts a value of type ``kind``."""
    if dataclasses.is_dataclass(kind):
        plan = tuple(
            (f.name, f.metadata.get("key", f.name), f.metadata.get("shown"))
            for f in dataclasses.fields(kind)
        )

        def record_data(record: Any) -> dict[str, Any]:
            data: dict[str, Any] = {}
            for name, key, shown in plan:
                if shown is None or shown(record):
                    value = getattr(record, name)
                    data[key] = value if type(value) in _PLAIN else as_data(value)
            return data

        return record_data
    if issubclass(kind, PurePath):
        return str
    if issubclass(kind, (list, tuple)):
        return lambda items: [item if type(item) in _PLAIN else as_data(item) for item in items]
    if issubclass(kind, Mapping):
        return lambda mapping: {str(key): as_data(value) for key, value in mapping.items()}
    return lambda value: value


# ---- a task's record -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """The Ray worker node a task runs on (``pid``: its actor's process, the worker's own
    record only)."""

    node_id: str | None = None
    address: str | None = None
    hostname: str | None = None
    pid: int | None = None

    @property
    def where(self) -> str:
        """``hostname address``, as far as known."""
        return " ".join(part for part in (self.hostname, self.address) if part)

    def public(self) -> Node:
        """What the server records and shows of the node (no process id)."""
        return Node(node_id=self.node_id, address=self.address, hostname=self.hostname)


@dataclass(frozen=True)
class Merged:
    """How a task's work reached ``target``: a merge (``strategy`` merge, squash or rebase) or a
    landing (``landed``; ``landing`` names it when it was queued, ``via`` the task whose
    resolving merge brought it)."""

    target: str
    commit: str | None
    strategy: str
    message: str = ""
    at: float | None = None
    landed: bool = False
    via: str | None = None
    landing: str | None = None
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RayRecord:
    """A Ray task's actor, and where its events start in the server's copy (a relaunched
    actor's own events start at 0 again)."""

    actor: str
    events_base: int = 0
    relaunches: int = 0


@dataclass(frozen=True)
class TaskExtra:
    """Everything a task row records beside its columns. Every field has a default: a row from
    an older version decodes with what it has."""

    backend: str = "local"  # the kind of backend that supervises the task
    worktree: Worktree | None = None
    outcome: Outcome | None = None  # the branch's files and merge outlook, once it ended
    outcome_error: str | None = None  # committing or fetching the work failed: why
    commit: str | None = None  # the commit the end made of the worktree (None: nothing changed)
    merged: Merged | None = None
    removed_worktree: bool = False
    removed_branch: bool = False
    checkout: Checkout | None = None  # a throwaway checkout of other work it looks at
    node: Node | None = None  # the Ray backend: the worker node it runs on
    ray: RayRecord | None = None
    ray_notes: tuple[str, ...] = ()  # the Ray backend's warnings (an attempt's node died)
    waiting_for: str | None = None  # the Ray backend: what an unplaced actor waits for
    paths: tuple[str, ...] = ()  # declared paths, relative to the repository top
    paths_repo: str | None = None  # the repository they belong to (its common git dir)
    land_target: str | None = None  # a resolving task lands on this branch
    resolves: str | None = None  # the conflicted task this one resolves
    resolves_paths: tuple[str, ...] = ()  # the paths that held conflict markers
    resolved_by: str | None = None  # the task resolving this one's conflicts
    auto_land: AutoLand | None = None  # the task joins its repository's landing queue at its end
    landing: LandingMark | None = None  # where the task went to land (a landing of it, or home)
    home: HomeTrip | None = None  # a reply that took a failed landing home: it lands again
    # Keys a newer version wrote that this one does not know: kept as they were.
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def branch(self) -> str | None:
        return self.worktree.branch if self.worktree is not None else None

    @property
    def live_branch(self) -> bool:
        """A worktree task whose branch was not deleted."""
        return self.worktree is not None and not self.removed_branch


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffReport:
    """A finished task's branch against its base: the stat and the patch, cut at a line
    boundary (``truncated``; ``omitted_paths`` are missing in whole or part: ask for them)."""

    task_id: str
    branch: str
    base_commit: str
    stat: str
    patch: str | None  # None when only the stat was asked for
    truncated: bool
    total_chars: int
    shown_chars: int
    cut_in_path: str | None = None  # the file whose patch was cut part-way
    omitted_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeReport:
    """What merging one task's branch did (``merged`` false: nothing changed, see message)."""

    task_id: str
    merged: bool
    commit: str | None  # the target's new tip after a merge
    strategy: str
    target: str
    conflicts: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class CleanupReport:
    """What cleaning up one task removed, what it kept and why, and what was lost."""

    task_id: str
    branch: str
    worktree: str
    removed_worktree: bool
    deleted_branch: bool
    kept_reason: str | None = None
    lost_commits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Landed:
    task_id: str
    branch: str
    target: str
    commit: str | None
    already: bool  # its work was in the target before this landing


@dataclass(frozen=True)
class Conflicted:
    task_id: str
    paths: tuple[str, ...]
    colliding_tasks: tuple[str, ...]  # landed tasks that changed a conflicting path


@dataclass(frozen=True)
class CheckFailed:
    task_id: str
    exit_code: int | None  # None when it timed out
    timed_out: bool
    seconds: float
    output_tail: str


@dataclass(frozen=True)
class Skipped:
    task_id: str
    reason: str


@dataclass(frozen=True)
class Resolving:
    task_id: str
    follow_up: str | None  # the task started to resolve its conflicts
    error: str | None = None  # why it could not start (no follow_up then)


@dataclass(frozen=True)
class SentHome:
    task_id: str
    reply: str  # the reply task continuing its thread in its worktree
    why: str  # "conflict" or "check"


@dataclass(frozen=True)
class AutoLand:
    """A launch's ``land``: the task's branch joins its repository's queue when it completes."""

    target: str | None = None
    check: str | None = None
    strategy: str = "merge"
    on_failure: str = "report"


LANDING_MARKS = ("queued", "checking", "landed", "sent home", "given up")


@dataclass(frozen=True)
class LandingMark:
    """Where a task went to land: ``state`` is one of :data:`LANDING_MARKS`."""

    state: str
    landing_id: str | None = None
    commit: str | None = None  # landed: the target's commit
    reply: str | None = None  # sent home: the reply task
    reason: str | None = None  # given up: why


@dataclass(frozen=True)
class HomeTrip:
    """A reply that took a failed landing home: when it completes, its branch lands again with
    ``request`` (``attempt`` counts the landings so far; ``root`` is the task first landed)."""

    request: LandRequest
    attempt: int
    root: str


@dataclass(frozen=True)
class LandReport:
    """A landing: each task's fate, the targets' new tips, timings, and one line per task."""

    landed: tuple[Landed, ...]
    conflicted: tuple[Conflicted, ...]
    check_failed: tuple[CheckFailed, ...]
    skipped: tuple[Skipped, ...]
    resolving: tuple[Resolving, ...]
    target: str | None  # the one target branch (None when there were several)
    new_tip: str | None
    tips: Mapping[str, str]  # each target branch's tip after the landing
    checkout: str | None  # what happened to the checkout holding the target
    repository: str
    strategy: str
    check: str | None
    check_seconds: float
    check_prepare_seconds: float
    seconds: float
    lines: tuple[str, ...]  # a summary line first
    sent_home: tuple[SentHome, ...] = ()  # failures replied to on the task's own thread
    check_rounds: int = 0  # checks' times in sequence: the landing's length in checks
    check_runs: int = 0  # check runs started (speculative ones included)
    check_cached: int = 0  # verdicts reused from earlier checks of the same tree
    check_speculative: int = 0  # runs of a rest started before its culprit was known
    git_seconds: float = 0.0  # building the candidates and moving the target (partly while
    # checks ran)


@dataclass(frozen=True)
class LandRequest:
    """What to land, where and how (every face's landing call becomes one)."""

    task_ids: tuple[str, ...] | None = None  # default: every finished, unlanded task of the repo
    cwd: str | None = None  # a directory inside the repository (default: the engine's cwd)
    target: str | None = None  # default: each task's base branch
    strategy: str = "merge"
    check: str | None = None  # shell command run on each candidate
    check_timeout: float = 900.0
    check_parallel: int | None = None  # candidates checked at once (default: the CPUs)
    resolve: bool = False  # start a resolving task per conflict
    on_failure: str = "report"  # or "reply": a failed task's own thread is told, and it retries
    attempts: int = 2  # landings of one task's work (the first and its replies), at most


@dataclass(frozen=True)
class LandingProgress:
    """Where a running landing is: the tasks whose candidates are being checked, how many of
    ``total`` are decided, the tasks landed so far, and the last line of the latest check."""

    checking: tuple[str, ...] = ()
    decided: int = 0
    total: int = 0
    landed: tuple[str, ...] = ()
    last_line: str = ""


@dataclass(frozen=True)
class LandingRow:
    """A landing as stored: queued behind the earlier landings of its repository (keyed by its
    git common dir), run by one server at a time, resumed by another when that one died."""

    id: str
    seq: int
    repository: str
    phase: str  # one of phases.LANDING_PHASES
    request: LandRequest
    created_at: float
    updated_at: float
    started_at: float | None = None
    ended_at: float | None = None
    owner: str | None = None
    cancel_requested: bool = False
    progress: LandingProgress = field(default_factory=LandingProgress)
    report: LandReport | None = None
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in LANDING_TERMINAL


@dataclass(frozen=True)
class EventPage:
    """Whole lines of a task's raw JSONL from byte ``cursor``; a running task's file grows, so
    the next page starts at ``next_cursor`` (``more``: the file already has more)."""

    task_id: str
    cursor: int
    next_cursor: int
    more: bool
    size: int  # bytes of the file when it was read
    lines: tuple[str, ...]


# ---- the conflict outlook --------------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """An active task whose declared paths overlap a new task's (``paths``: the shared ones)."""

    task_id: str
    paths: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class ConflictPair:
    """Two finished, unlanded tasks whose branches conflict in ``paths``."""

    tasks: tuple[str, str]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Collision:
    """Another finished, unlanded task whose branch conflicts with a task's in ``paths``."""

    task_id: str
    branch: str
    paths: tuple[str, ...]


# ---- a Ray task actor's payload and answers --------------------------------------------------


@dataclass(frozen=True)
class RemoteCode:
    """Where a Ray task's code comes from: the git remote (``url``) the server pushed it to, and
    the task's directory in the repository (``subdir``). For a worktree, ``branch_id`` is the
    task whose branch it works on (a reply: the task it continues)."""

    url: str
    subdir: str = ""
    branch_id: str = ""


@dataclass(frozen=True)
class ActorPayload:
    """What a Ray task actor is made with: the task's stored spec (with its launch plan), and
    its code: a ``worktree`` (a branch to work on and push back) or a ``checkout`` (other work to
    look at), else none (the task runs in its ``cwd``, on a filesystem the workers share)."""

    task_id: str
    spec: Mapping[str, Any]
    title: str
    worktree: RemoteCode | None = None
    checkout: RemoteCode | None = None


@dataclass(frozen=True)
class WorkerRow:
    """A Ray worker's node-local record of the task, as its server copies it."""

    phase: str
    codex_pid: int | None
    progress: Mapping[str, Any]
    exit_code: int | None
    exit_signal: int | None
    error: str | None
    result: str | None
    usage: Mapping[str, int]
    commit: str | None  # the commit the runner made of the worktree
    outcome_error: str | None


@dataclass(frozen=True)
class PollSnapshot:
    """One poll of a Ray task actor: its record and the raw events from the asked offset (whole
    lines); once ``done``, whether its branch was pushed and the tail of the runner's stderr."""

    node: Node
    done: bool
    events: bytes
    offset: int  # where the next poll starts
    row: WorkerRow | None
    pushed: str | None = None
    push_error: str | None = None
    stderr: bytes = b""
