"""A task's worktree and branch over its life: made at launch, committed at its end, then
diffed, merged and cleaned up on request, and expired when old.

Owns: how a task row records its worktree (``extra["worktree"]``, the git layer's
:class:`~..git.Worktree` as a dict) and its outcome (``extra["outcome"]``: files, counts,
clean merge or conflicts), merge and cleanup records (``extra["merged"]``, also written by a
landing), which finished tasks are merged (:func:`merged_tasks`), and the expiry rule (old
finished tasks' worktree directories go; branches with unmerged commits stay: they hold the work).

Must not: run git itself (the ``git`` package does) or talk MCP. The runner calls
:func:`finish_worktree` before it records a task's end, so the commit happens even when no
server is alive.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .. import git
from .phases import TERMINAL, Phase
from .store import Store, TaskRow

log = logging.getLogger(__name__)


def worktree_of(row: TaskRow) -> git.Worktree | None:
    data = row.extra.get("worktree")
    if not isinstance(data, dict):
        return None
    fields = dict(data)
    for key in ("path", "repo"):
        fields[key] = Path(fields[key])
    return git.Worktree(**fields)


def require_worktree(row: TaskRow) -> git.Worktree:
    wt = worktree_of(row)
    if wt is None:
        raise git.GitError(
            f"task {row.id} has no worktree (it was not started with worktree: true), so there "
            "is no branch to diff, merge or clean up"
        )
    return wt


def commit_message(row: TaskRow) -> str:
    title = row.title or "codex task"
    return f"{title[:72]}\n\nWork of codex-swarm task {row.id} ({row.phase})."


def outcome_of(wt: git.Worktree) -> dict[str, Any]:
    """Files, counts and whether the branch merges cleanly into its base branch's tip now."""
    return git.outcome(wt.repo, wt.branch, wt.base_commit, wt.base_branch).to_dict()


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
        store.set_extra(row.id, outcome=outcome, commit=commit, outcome_error=None)
    except Exception as exc:
        log.exception("committing the worktree of %s failed", row.id)
        store.set_extra(
            row.id,
            outcome_error=f"committing the task's work failed: {exc}. The changes are still in "
            f"{wt.path}.",
        )


def refresh_outcome(store: Store, row: TaskRow) -> dict[str, Any] | None:
    """Recompute the outcome against the base branch's current tip (it may have moved)."""
    wt = worktree_of(row)
    if wt is None or not row.terminal or row.extra.get("removed_branch"):
        return None
    try:
        outcome = outcome_of(wt)
    except git.GitError as exc:
        return {"error": str(exc)}
    store.set_extra(row.id, outcome=outcome)
    row.extra["outcome"] = outcome
    return outcome


def diff(
    row: TaskRow, *, paths: list[str] | None, stat_only: bool, max_chars: int
) -> dict[str, Any]:
    wt = require_worktree(row)
    if not row.terminal:
        raise git.GitError(
            f"task {row.id} is still {row.phase}: its changes are committed on {wt.branch} when "
            f"it ends. Meanwhile they can be read in {wt.path}."
        )
    out = git.diff(
        wt.repo, wt.base_commit, wt.branch, paths=paths, stat_only=stat_only, max_chars=max_chars
    )
    out.update(branch=wt.branch, base_commit=wt.base_commit)
    return out


def merge(store: Store, row: TaskRow, *, strategy: str, target: str | None) -> dict[str, Any]:
    wt = require_worktree(row)
    if not row.terminal:
        raise git.GitError(f"task {row.id} is still {row.phase}; wait for it before merging")
    if row.extra.get("removed_branch"):
        raise git.GitError(f"task {row.id}'s branch {wt.branch} was already deleted")
    into = target or wt.base_branch
    if into is None:
        raise git.GitError(
            f"task {row.id} started from {wt.base_ref!r}, which is not a branch: name the "
            "branch to merge into with target"
        )
    result = git.merge(
        wt.repo, wt.branch, target=into, strategy=strategy, message=commit_message(row)
    )
    data = result.to_dict()
    if result.merged:
        store.set_extra(row.id, merged={**data, "at": time.time()})
    return data


def cleanup(store: Store, row: TaskRow, *, force: bool) -> dict[str, Any]:
    wt = require_worktree(row)
    if not row.terminal:
        raise git.GitError(
            f"task {row.id} is still {row.phase}; cancel it or wait for it before cleaning up"
        )
    path = None if row.extra.get("removed_worktree") else wt.path
    merged = row.extra.get("merged") or {}
    into = merged.get("target") or wt.base_branch
    result = git.cleanup(wt.repo, path, wt.branch, into=into, force=force).to_dict()
    store.set_extra(
        row.id,
        removed_worktree=bool(row.extra.get("removed_worktree") or result["removed_worktree"]),
        removed_branch=bool(result["deleted_branch"]),
    )
    result.update(task_id=row.id, branch=wt.branch, worktree=str(wt.path))
    return result


def is_merged(row: TaskRow) -> bool:
    wt = worktree_of(row)
    if wt is None or row.extra.get("removed_branch"):
        return False
    into = (row.extra.get("merged") or {}).get("target") or wt.base_branch
    if into is None:
        return False
    try:
        return git.is_merged(wt.repo, wt.branch, into)
    except git.GitError:
        return False


def merged_tasks(store: Store) -> list[TaskRow]:
    """Finished worktree tasks whose branch still exists and whose work is merged."""
    rows = [
        r
        for r in store.list(phases=TERMINAL)
        if "worktree" in r.extra and not r.extra.get("removed_branch")
    ]
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
        if wt is None or row.extra.get("removed_worktree") or not row.ended_at:
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
        if row.terminal and "worktree" in row.extra:
            refresh_outcome(store, row)
    return rows
