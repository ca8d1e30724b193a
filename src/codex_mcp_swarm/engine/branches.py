"""A task's worktree and branch over its life: made at launch, committed at its end, then
diffed, merged and cleaned up on request, and expired when old.

Owns: how a task's record (:class:`~.records.TaskExtra`) keeps its worktree (the git layer's
:class:`~..git.Worktree`) and its outcome (:class:`~..git.Outcome`: files, counts, clean merge
or conflicts), merge and cleanup records (:class:`~.records.Merged`, also written by a landing;
the answers :class:`~.records.MergeReport` and :class:`~.records.CleanupReport`), which finished
tasks are merged (:func:`merged_tasks`), and the expiry rule (old finished tasks' worktree
directories go; branches with unmerged commits stay: they hold the work).

Must not: run git itself (the ``git`` package does) or talk MCP. The runner calls
:func:`finish_worktree` before it records a task's end, so the commit happens even when no
server is alive.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from .. import git
from .errors import Code, TaskError
from .phases import TERMINAL, Phase
from .records import CleanupReport, DiffReport, Merged, MergeReport
from .store import Store, TaskRow

log = logging.getLogger(__name__)


def worktree_of(row: TaskRow) -> git.Worktree | None:
    return row.extra.worktree


def require_worktree(row: TaskRow) -> git.Worktree:
    wt = worktree_of(row)
    if wt is None:
        raise TaskError(
            "task {task_id} has no worktree (it was not started {WORKTREE}), so there is no "
            "branch to diff, merge or clean up",
            code=Code.NO_WORKTREE,
            task_id=row.id,
        )
    return wt


def commit_message(row: TaskRow) -> str:
    title = row.title or "codex task"
    return f"{title[:72]}\n\nWork of codex-swarm task {row.id} ({row.phase})."


def outcome_of(wt: git.Worktree) -> git.Outcome:
    """Files, counts and whether the branch merges cleanly into its base branch's tip now."""
    return git.outcome(wt.repo, wt.branch, wt.base_commit, wt.base_branch)


def finish_worktree(store: Store, row: TaskRow, phase: Phase) -> None:
    """Commit everything the task changed on its branch and record the outcome. Never raises:
    a git failure is recorded next to the task instead (the work is still in the worktree)."""
    wt = worktree_of(row)
    if wt is None:
        return
    row.phase = phase
    try:
        commit = git.commit_all(wt, commit_message(row))
        outcome = outcome_of(wt)
        store.update_extra(
            row.id, lambda e: replace(e, outcome=outcome, commit=commit, outcome_error=None)
        )
    except Exception as exc:
        log.exception("committing the worktree of %s failed", row.id)
        why = f"committing the task's work failed: {exc}. The changes are still in {wt.path}."
        store.update_extra(row.id, lambda e: replace(e, outcome_error=why))


def refresh_outcome(store: Store, row: TaskRow) -> git.Outcome | None:
    """Recompute the outcome against the base branch's current tip (it may have moved); None
    when there is no branch to look at or git cannot say (the recorded outcome stays)."""
    wt = worktree_of(row)
    if wt is None or not row.terminal or row.extra.removed_branch:
        return None
    try:
        outcome = outcome_of(wt)
    except git.GitError:
        return None
    row.extra = store.update_extra(row.id, lambda e: replace(e, outcome=outcome)) or row.extra
    return outcome


def diff(row: TaskRow, *, paths: list[str] | None, stat_only: bool, max_chars: int) -> DiffReport:
    wt = require_worktree(row)
    if not row.terminal:
        raise TaskError(
            "task {task_id} is still {phase}: its changes are committed on {branch} when it "
            "ends. Meanwhile they can be read in {path}.",
            code=Code.NOT_YET,
            task_id=row.id,
            phase=row.phase,
            branch=wt.branch,
            path=str(wt.path),
        )
    out = git.diff(
        wt.repo, wt.base_commit, wt.branch, paths=paths, stat_only=stat_only, max_chars=max_chars
    )
    return DiffReport(
        task_id=row.id,
        branch=wt.branch,
        base_commit=wt.base_commit,
        stat=out.stat,
        patch=out.patch,
        truncated=out.truncated,
        total_chars=out.total_chars,
        shown_chars=out.shown_chars,
        cut_in_path=out.cut_in_path,
        omitted_paths=tuple(out.omitted_paths),
    )


def merge(store: Store, row: TaskRow, *, strategy: str, target: str | None) -> MergeReport:
    wt = require_worktree(row)
    if not row.terminal:
        raise TaskError(
            "task {task_id} is still {phase}; wait for it before merging",
            code=Code.NOT_YET,
            task_id=row.id,
            phase=row.phase,
        )
    if row.extra.removed_branch:
        raise TaskError(
            "task {task_id}'s branch {branch} was already deleted",
            code=Code.GONE,
            task_id=row.id,
            branch=wt.branch,
        )
    into = target or wt.base_branch
    if into is None:
        raise TaskError(
            "task {task_id} started from {base_ref!r}, which is not a branch: name the "
            "branch to merge into with {TARGET}",
            task_id=row.id,
            base_ref=wt.base_ref,
        )
    result = git.merge(
        wt.repo, wt.branch, target=into, strategy=strategy, message=commit_message(row)
    )
    report = MergeReport(
        task_id=row.id,
        merged=result.merged,
        commit=result.commit,
        strategy=result.strategy,
        target=result.target,
        conflicts=tuple(result.conflicts),
        message=result.message,
    )
    if result.merged:
        record = Merged(
            target=result.target,
            commit=result.commit,
            strategy=result.strategy,
            message=result.message,
            at=time.time(),
        )
        store.update_extra(row.id, lambda e: replace(e, merged=record))
    return report


def merged_into(row: TaskRow, wt: git.Worktree) -> str | None:
    """The branch a task's work was merged into, else the branch it started from (if any)."""
    merged = row.extra.merged
    return merged.target if merged is not None else wt.base_branch


def cleanup(store: Store, row: TaskRow, *, force: bool) -> CleanupReport:
    wt = require_worktree(row)
    if not row.terminal:
        raise TaskError(
            "task {task_id} is still {phase}; cancel it or wait for it before cleaning up",
            code=Code.NOT_YET,
            task_id=row.id,
            phase=row.phase,
        )
    path = None if row.extra.removed_worktree else wt.path
    result = git.cleanup(wt.repo, path, wt.branch, into=merged_into(row, wt), force=force)
    removed_worktree = row.extra.removed_worktree or result.removed_worktree
    store.update_extra(
        row.id,
        lambda e: replace(
            e, removed_worktree=removed_worktree, removed_branch=result.deleted_branch
        ),
    )
    return CleanupReport(
        task_id=row.id,
        branch=wt.branch,
        worktree=str(wt.path),
        removed_worktree=result.removed_worktree,
        deleted_branch=result.deleted_branch,
        kept_reason=result.kept_reason,
        lost_commits=tuple(result.lost_commits),
    )


def is_merged(row: TaskRow) -> bool:
    wt = worktree_of(row)
    if wt is None or row.extra.removed_branch:
        return False
    into = merged_into(row, wt)
    if into is None:
        return False
    try:
        return git.is_merged(wt.repo, wt.branch, into)
    except git.GitError:
        return False


def merged_tasks(store: Store) -> list[TaskRow]:
    """Finished worktree tasks whose branch still exists and whose work is merged."""
    rows = [r for r in store.list(phases=TERMINAL) if r.extra.live_branch]
    return [r for r in rows if is_merged(r)]


def expire(store: Store, max_age: float, now: float | None = None) -> list[str]:
    """Remove the worktree directories of tasks that ended more than ``max_age`` seconds ago.

    Their branches stay unless merged (the commits hold the work); stale worktree entries are
    pruned. Returns the ids of the tasks whose worktrees were removed.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    repos: set[Path] = set()
    for row in store.list(phases=TERMINAL):
        wt = worktree_of(row)
        if wt is None or row.extra.removed_worktree or not row.ended_at:
            continue
        if now - row.ended_at < max_age:
            continue
        try:
            cleanup(store, row, force=False)
            removed.append(row.id)
            repos.add(wt.repo)
        except git.GitError as exc:
            log.warning("expiring the worktree of %s: %s", row.id, exc)
    for repo in repos:
        try:
            git.prune(repo)
        except git.GitError as exc:
            log.warning("pruning worktrees of %s: %s", repo, exc)
    return removed


def refresh_outcomes(store: Store, rows: list[TaskRow]) -> list[TaskRow]:
    """Finished worktree tasks' merge outlook against their base branch's tip as it is now."""
    for row in rows:
        if row.terminal and row.extra.worktree is not None:
            refresh_outcome(store, row)
    return rows
