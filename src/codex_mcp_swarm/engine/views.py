"""Typed views of a task (and of a landing) for callers: the live status, the result, a line
of a list, a worktree, the usage, a landing.

Owns: which facts of a stored task a caller sees, named once, so the MCP tools, the resources,
the board and the command line all say the same thing in the same words: one family of frozen
dataclasses (:class:`StatusView`, :class:`ResultView`, :class:`ListingView`,
:class:`WorktreeView`, :class:`UsageView`, :class:`LandingView` and the parts they hold), built
by the ``*_view`` functions from a row; their JSON shape (each field's key, and when a field is
written at all), which :func:`.records.as_data` follows; and, for a task asked for an output
schema, its final message parsed as JSON (``result``) or why it did not parse.

Must not: render text for people (that is the caller's face), or read anything but the row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..codex.progress import TaskProgress, usage_delta
from .phases import LANDING_TERMINAL, is_terminal
from .records import LandingMark, LandingRow, Merged, Node
from .store import TaskRow

# ---- how a view's field is written by records.as_data ------------------------------------------


def _set(name: str) -> Callable[[Any], bool]:
    """Shown when the field ``name`` holds something (not None, not False)."""

    def shown(view: Any) -> bool:
        value = getattr(view, name)
        return value is not None and value is not False

    return shown


def _if_set(name: str) -> dict[str, Any]:
    return {"shown": _set(name)}


def _once_ended() -> dict[str, Any]:
    return {"shown": lambda view: is_terminal(view.status)}


def _while_landing() -> dict[str, Any]:
    return {"shown": lambda view: not view.ended}


THREAD_ID = {"key": "threadId"}  # the official Codex tool's spelling, kept in every answer
NEVER = {"shown": lambda view: False}  # known to the engine, not part of the JSON


# ---- the views -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageView:
    """Tokens of a task's own turn (``turn``), and the thread's running total as Codex reports
    it (``thread_total``); both None (an empty object in JSON) before Codex reported any."""

    turn: Mapping[str, int] | None = field(default=None, metadata=_if_set("turn"))
    thread_total: Mapping[str, int] | None = field(default=None, metadata=_if_set("thread_total"))


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeView:
    """The Ray worker node a task runs (ran) on, as far as known."""

    node_id: str | None = field(default=None, metadata=_if_set("node_id"))
    address: str | None = field(default=None, metadata=_if_set("address"))
    hostname: str | None = field(default=None, metadata=_if_set("hostname"))

    @property
    def known(self) -> bool:
        """Whether anything names the node (an empty record says nothing)."""
        return bool(self.hostname or self.address or self.node_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeredView:
    """How often a task was steered, and when last."""

    count: int
    last_at: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolView:
    """A task's latest tool call: its kind, its argument in one line, how it is going."""

    kind: str
    summary: str
    status: str
    exit_code: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Reconnecting:
    """Codex cannot reach its model: why, and how many tries so far."""

    reason: str
    attempt: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LandingMarkView:
    """Where a task went to land: its landing (``id``) and state, and the commit it landed at
    (12 hex digits), the reply that took a failure home, or why it was given up."""

    landing_id: str | None = field(metadata={"key": "id"})
    state: str
    commit: str | None = field(default=None, metadata=_if_set("commit"))
    reply: str | None = field(default=None, metadata=_if_set("reply"))
    reason: str | None = field(default=None, metadata=_if_set("reason"))


@dataclass(frozen=True, kw_only=True, slots=True)
class MergedView:
    """How a task's work was merged (or landed, with ``via`` the task whose merge brought it);
    ``merged`` is always True (a view is made only for merged work)."""

    merged: bool = True
    target: str
    commit: str | None
    strategy: str
    message: str
    conflicts: tuple[str, ...]
    at: float | None
    landed: bool = field(default=False, metadata=_if_set("landed"))
    via: str | None = field(default=None, metadata=_if_set("via"))


@dataclass(frozen=True, kw_only=True, slots=True)
class FileView:
    """One file a task's branch changed (insertions and deletions None for a binary file)."""

    path: str
    insertions: int | None
    deletions: int | None


def _with_outcome() -> dict[str, Any]:
    return {"shown": lambda view: view.head_commit is not None}


@dataclass(frozen=True, kw_only=True, slots=True)
class WorktreeView:
    """Where a worktree task works and, once it ended, what its branch holds (``head_commit``
    and the fields after it are None until then; ``files`` lists at most :data:`MAX_FILES`)."""

    path: str
    branch: str
    base_ref: str
    base_branch: str | None
    base_commit: str
    carried_commit: str | None = field(default=None, metadata=_if_set("carried_commit"))
    head_commit: str | None = field(default=None, metadata=_if_set("head_commit"))
    files: tuple[FileView, ...] = field(default=(), metadata=_with_outcome())
    files_total: int = field(default=0, metadata=_with_outcome())
    insertions: int = field(default=0, metadata=_with_outcome())
    deletions: int = field(default=0, metadata=_with_outcome())
    merges_cleanly: bool | None = field(default=None, metadata=_with_outcome())
    conflicts: tuple[str, ...] = field(default=(), metadata=_with_outcome())
    error: str | None = field(default=None, metadata=_if_set("error"))
    merged: MergedView | None = field(default=None, metadata=_if_set("merged"))
    removed_worktree: bool = field(default=False, metadata=_if_set("removed_worktree"))
    removed_branch: bool = field(default=False, metadata=_if_set("removed_branch"))


@dataclass(frozen=True, kw_only=True, slots=True)
class WorktreeRef:
    """A worktree task's worktree as its status names it: where, and on which branch."""

    path: str
    branch: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusView:
    """What a task is doing now. ``exit_code``, ``exit_signal`` and ``error`` are written once
    it ended; the optional parts only when they hold something."""

    task_id: str
    status: str
    thread_id: str | None = field(metadata=THREAD_ID)
    title: str
    cwd: str
    elapsed_s: float
    tool_calls: int
    last_tool: ToolView | None
    reasoning: str | None
    message: str | None
    todo: str | None
    usage: UsageView
    warnings: tuple[str, ...]
    reconnecting: Reconnecting | None = field(default=None, metadata=_if_set("reconnecting"))
    queue_position: int | None = field(default=None, metadata=_if_set("queue_position"))
    waiting_for: str | None = field(default=None, metadata=_if_set("waiting_for"))
    worktree: WorktreeRef | None = field(default=None, metadata=_if_set("worktree"))
    exit_code: int | None = field(default=None, metadata=_once_ended())
    exit_signal: int | None = field(default=None, metadata=_once_ended())
    error: str | None = field(default=None, metadata=_once_ended())
    cancel_requested: bool = field(default=False, metadata=_if_set("cancel_requested"))
    steered: SteeredView | None = field(default=None, metadata=_if_set("steered"))
    node: NodeView | None = field(default=None, metadata=_if_set("node"))
    landing: LandingMarkView | None = field(default=None, metadata=_if_set("landing"))


def _parsed(view: Any) -> bool:
    return bool(view.structured) and view.result_error is None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResultView:
    """The outcome: like the removed official tool ({threadId, content}) plus status and usage.
    For a task asked for an output schema (``structured``) that completed, ``result`` is its
    final message parsed as JSON, or ``result_error`` says why it did not parse."""

    task_id: str
    status: str
    thread_id: str | None = field(metadata=THREAD_ID)
    content: str
    error: str | None
    exit_code: int | None
    exit_signal: int | None
    elapsed_s: float
    tool_calls: int
    usage: UsageView
    warnings: tuple[str, ...]
    cwd: str
    worktree: WorktreeView | None
    steered: SteeredView | None = field(default=None, metadata=_if_set("steered"))
    landing: LandingMarkView | None = field(default=None, metadata=_if_set("landing"))
    node: NodeView | None = field(default=None, metadata=_if_set("node"))
    structured: bool = field(default=False, metadata=NEVER)
    result: Any = field(default=None, metadata={"shown": _parsed})
    result_error: str | None = field(default=None, metadata=_if_set("result_error"))


@dataclass(frozen=True, kw_only=True, slots=True)
class ListingView:
    """One task in a list: state, timing, thread, usage and branch."""

    task_id: str
    status: str
    title: str
    thread_id: str | None = field(metadata=THREAD_ID)
    cwd: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    elapsed_s: float
    exit_code: int | None
    usage: UsageView
    branch: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LandingView:
    """A landing as any face shows it: its state, where it is in its repository's queue
    (``position``), and while it runs how far it got (written only until it ended)."""

    landing_id: str
    status: str
    repository: str
    position: int | None
    elapsed_s: float
    error: str | None
    checking: tuple[str, ...] = field(default=(), metadata=_while_landing())
    landed: tuple[str, ...] = field(default=(), metadata=_while_landing())
    decided: int = field(default=0, metadata=_while_landing())
    total: int = field(default=0, metadata=_while_landing())
    last_line: str = field(default="", metadata=_while_landing())
    cancel_requested: bool = field(default=False, metadata=_if_set("cancel_requested"))

    @property
    def ended(self) -> bool:
        """The landing ended (its progress is no longer shown: the report has the outcome)."""
        return self.status in LANDING_TERMINAL


# ---- building them from rows -----------------------------------------------------------------


def elapsed(row: TaskRow, now: float | None = None) -> float:
    """Seconds since the task started running (or was created, while queued), to its end."""
    start = row.started_at or row.created_at
    end = row.ended_at or (now if now is not None else time.time())
    return round(max(0.0, end - start), 3)


def usage_view(row: TaskRow) -> UsageView:
    """Tokens of this task's own turn, and the thread's running total as Codex reports it."""
    total = row.usage or row.progress.get("usage") or {}
    if not total:
        return UsageView()
    return UsageView(turn=usage_delta(total, row.usage_baseline), thread_total=dict(total))


def branch_of(row: TaskRow) -> str | None:
    return row.extra.branch


def node_view(node: Node) -> NodeView:
    """The Ray worker node a task runs (ran) on, as far as known."""
    return NodeView(node_id=node.node_id, address=node.address, hostname=node.hostname)


def landing_mark_view(mark: LandingMark) -> LandingMarkView:
    """Where a task went to land: its landing and state (the commit it landed at, the reply
    that took a failure home, or why it was given up)."""
    return LandingMarkView(
        landing_id=mark.landing_id,
        state=mark.state,
        commit=mark.commit[:12] if mark.commit else None,
        reply=mark.reply or None,
        reason=mark.reason or None,
    )


def merged_view(merged: Merged) -> MergedView:
    """How a task's work was merged (or landed)."""
    return MergedView(
        target=merged.target,
        commit=merged.commit,
        strategy=merged.strategy,
        message=merged.message,
        conflicts=tuple(merged.conflicts),
        at=merged.at,
        landed=bool(merged.landed),
        via=merged.via or None,
    )


MAX_FILES = 50  # files listed per task in a view; the diff tool has them all


def worktree_view(row: TaskRow) -> WorktreeView | None:
    """Where a worktree task works and, once it ended, what its branch holds."""
    extra = row.extra
    wt = extra.worktree
    if wt is None:
        return None
    outcome = extra.outcome
    found: dict[str, Any] = {}
    if outcome is not None:
        found = dict(
            head_commit=outcome.head_commit,
            files=tuple(
                FileView(path=f.path, insertions=f.insertions, deletions=f.deletions)
                for f in outcome.files[:MAX_FILES]
            ),
            files_total=len(outcome.files),
            insertions=outcome.insertions,
            deletions=outcome.deletions,
            merges_cleanly=outcome.merges_cleanly,
            conflicts=tuple(outcome.conflicts),
        )
    return WorktreeView(
        path=str(wt.path),
        branch=wt.branch,
        base_ref=wt.base_ref,
        base_branch=wt.base_branch,
        base_commit=wt.base_commit,
        carried_commit=wt.carried_commit or None,
        error=extra.outcome_error or None,
        merged=merged_view(extra.merged) if extra.merged is not None else None,
        removed_worktree=bool(extra.removed_worktree),
        removed_branch=bool(extra.removed_branch),
        **found,
    )


def status_view(
    row: TaskRow, now: float | None = None, queue_position: int | None = None
) -> StatusView:
    """What the task is doing now (``queue_position`` for a queued task, from the store)."""
    progress = TaskProgress.from_dict(row.progress) if row.progress else TaskProgress()
    last = progress.last_tool
    wt = row.extra.worktree
    ended = row.terminal
    return StatusView(
        task_id=row.id,
        status=row.phase,
        thread_id=row.thread_id,
        title=row.title,
        cwd=row.cwd,
        elapsed_s=elapsed(row, now),
        tool_calls=progress.tool_calls,
        last_tool=(
            ToolView(
                kind=last.kind, summary=last.summary, status=last.status, exit_code=last.exit_code
            )
            if last
            else None
        ),
        reasoning=progress.reasoning,
        message=progress.message,
        todo=progress.todo,
        usage=usage_view(row),
        warnings=tuple(progress.warnings),
        # Codex cannot reach its model: why, and how many tries so far.
        reconnecting=(
            Reconnecting(reason=progress.reconnecting, attempt=progress.reconnect_attempts)
            if progress.reconnecting is not None and not ended
            else None
        ),
        queue_position=queue_position,
        # The Ray backend: the task's actor is not placed yet, and what it waits for.
        waiting_for=(
            row.extra.waiting_for if row.phase == "starting" and row.extra.waiting_for else None
        ),
        worktree=WorktreeRef(path=str(wt.path), branch=wt.branch) if wt is not None else None,
        exit_code=row.exit_code if ended else None,
        exit_signal=row.exit_signal if ended else None,
        error=row.error if ended else None,
        cancel_requested=bool(row.cancel_requested and not ended),
        steered=steered_view(row) if row.steer_count else None,
        # The Ray backend: the worker node it runs on.
        node=node_view(row.extra.node) if row.extra.node is not None else None,
        landing=landing_mark_view(row.extra.landing) if row.extra.landing is not None else None,
    )


def steered_view(row: TaskRow) -> SteeredView:
    """How often the task was steered, and when last."""
    return SteeredView(count=row.steer_count, last_at=row.steered_at)


def result_view(row: TaskRow, now: float | None = None) -> ResultView:
    """The outcome: like the removed official tool ({threadId, content}) plus status and usage."""
    progress = TaskProgress.from_dict(row.progress) if row.progress else TaskProgress()
    content = row.result if row.terminal else None
    structured = row.phase == "completed" and row.task.output_schema is not None
    parsed = structured_result(content or "") if structured else {}
    return ResultView(
        task_id=row.id,
        status=row.phase,
        thread_id=row.thread_id,
        content=content if content is not None else "",
        error=row.error,
        exit_code=row.exit_code,
        exit_signal=row.exit_signal,
        elapsed_s=elapsed(row, now),
        tool_calls=progress.tool_calls,
        usage=usage_view(row),
        warnings=tuple(progress.warnings),
        cwd=row.cwd,
        worktree=worktree_view(row),
        steered=steered_view(row) if row.steer_count else None,
        # The Ray backend: the worker node it ran on.
        node=node_view(row.extra.node) if row.extra.node is not None else None,
        landing=landing_mark_view(row.extra.landing) if row.extra.landing is not None else None,
        structured=structured,
        result=parsed.get("result"),
        result_error=parsed.get("result_error"),
    )


def structured_result(message: str) -> dict[str, Any]:
    """A final message asked for with an output schema: ``{"result": <parsed JSON>}``, or
    ``{"result_error": why}`` when it is not JSON (Codex's model is asked to follow the schema;
    Codex does not check that it did)."""
    try:
        return {"result": json.loads(message)}
    except ValueError as exc:
        return {"result_error": f"the final message is not JSON ({exc}); content has it as text"}


def listing_view(row: TaskRow, now: float | None = None) -> ListingView:
    """One task in a list: state, timing, thread and usage."""
    return ListingView(
        task_id=row.id,
        status=row.phase,
        title=row.title,
        thread_id=row.thread_id,
        cwd=row.cwd,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        elapsed_s=elapsed(row, now),
        exit_code=row.exit_code,
        usage=usage_view(row),
        branch=branch_of(row),
    )


def landing_view(row: LandingRow, position: int | None = None) -> LandingView:
    """A landing as any face shows it: its state, where it is, and (ended) its report."""
    progress = row.progress
    return LandingView(
        landing_id=row.id,
        status=row.phase,
        repository=row.repository,
        position=position,
        elapsed_s=round(
            max(0.0, (row.ended_at or time.time()) - (row.started_at or row.created_at)), 3
        ),
        error=row.error,
        checking=tuple(progress.checking),
        landed=tuple(progress.landed),
        decided=progress.decided,
        total=progress.total,
        last_line=progress.last_line,
        cancel_requested=bool(row.cancel_requested and not row.terminal),
    )
