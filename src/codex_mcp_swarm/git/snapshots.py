"""A task's work so far as one commit, for starting another branch from it (a fork).

Owns: finding the commit that holds a task's work: its branch tip once it has ended, or, while
it still runs, a snapshot of its worktree (HEAD plus every tracked and untracked change) made
without touching that worktree's files, index, branch or stash.

Must not: create branches or worktrees (``worktrees`` does), or know about tasks' records.
"""

from __future__ import annotations

from pathlib import Path

from .refs import resolve_commit as _commit
from .run import GitError
from .worktrees import _snapshot_uncommitted


def work_so_far(repo: Path, branch: str, worktree: Path | None, *, live: bool, label: str) -> str:
    """The full id of the commit holding the work on ``branch``.

    ``live``: the task may still be writing in ``worktree``, so what is there now (committed or
    not) is taken as a new commit object whose parent is the worktree's HEAD; only objects are
    written. Otherwise the branch tip (a finished task's work is committed there).
    """
    if live and worktree is not None and worktree.is_dir():
        head = _commit(worktree, "HEAD", f"HEAD of {worktree}")
        return _snapshot_uncommitted(worktree, head, label) or head
    try:
        return _commit(repo, f"refs/heads/{branch}", f"branch '{branch}'")
    except GitError:
        raise GitError(
            f"branch '{branch}' no longer exists in {repo} (it was cleaned up), so there is no "
            "work to start from"
        ) from None
