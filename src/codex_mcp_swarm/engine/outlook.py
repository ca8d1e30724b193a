"""Seeing conflicts before they happen: overlapping declared paths, and branches that conflict.

Owns: the ``paths`` a task declares it will touch (its record's ``paths``, repository-relative,
with the repository they belong to in ``paths_repo``), which running tasks a new task's paths
overlap (a file and a directory holding it overlap), and the pairwise conflict outlook of the
finished, unlanded worktree tasks of one repository (``git merge-tree`` of each pair of branch
heads, remembered per pair of heads so a repeated question costs nothing; at most
:data:`MAX_TASKS` tasks per repository), which the MCP tools and the board both ask; and how
many finished worktree tasks with changes wait to land in a task's repository
(:func:`waiting_to_land`, from the store alone).

Must not: refuse anything (an overlap is a warning), run git itself beyond the ``git`` package's
functions, or talk MCP.
"""

from __future__ import annotations

import functools
import os
import posixpath
from dataclasses import replace
from pathlib import Path

from .. import git
from ..git.merging import merge_tree
from ..git.run import common_dir
from . import branches
from .phases import ACTIVE
from .records import Collision, ConflictPair, Overlap
from .store import Store, TaskRow

MAX_TASKS = 24  # tasks considered for the pairwise outlook (at most 276 pairs)


def _normalise(path: str, subdir: str) -> str | None:
    if not path or "\0" in path:
        return None
    joined = posixpath.normpath(posixpath.join(subdir, path.strip()))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return "" if joined == "." else joined


def declare_paths(cwd: str, paths: list[str]) -> tuple[str, list[str]]:
    """(repository key, paths relative to its top) for paths given relative to ``cwd``."""
    where = Path(cwd)
    try:
        top = git.repo_root(where)
        key = str(common_dir(top))
        subdir = os.path.relpath(os.path.realpath(where), os.path.realpath(top))
        subdir = "" if subdir == "." else subdir.replace(os.sep, "/")
    except git.GitError:
        key, subdir = os.path.realpath(where), ""
    clean = [p for p in (_normalise(p, subdir) for p in paths) if p is not None]
    return key, sorted(set(clean))


def _overlap(a: str, b: str) -> bool:
    return a == b or not a or not b or a.startswith(b + "/") or b.startswith(a + "/")


def overlapping(store: Store, key: str, paths: list[str], besides: str) -> list[Overlap]:
    """Active tasks of the same repository whose declared paths overlap ``paths``."""
    found: list[Overlap] = []
    for row in store.list(phases=ACTIVE):
        if row.id == besides or row.extra.paths_repo != key:
            continue
        theirs = row.extra.paths
        shared = sorted({p for p in paths for q in theirs if _overlap(p, q)})
        if shared:
            found.append(Overlap(task_id=row.id, paths=tuple(shared), title=row.title))
    return found


def record_paths(store: Store, row: TaskRow, paths: list[str]) -> list[Overlap]:
    """Store the task's declared paths; return the active tasks they overlap."""
    key, clean = declare_paths(row.cwd, paths)
    wt = branches.worktree_of(row)
    if wt is not None:  # a worktree task's cwd is in its worktree: key on the real repository
        key, clean = declare_paths(str(Path(wt.repo) / wt.subdir), paths)
    store.update_extra(row.id, lambda e: replace(e, paths=tuple(clean), paths_repo=key))
    return overlapping(store, key, clean, row.id)


@functools.lru_cache(maxsize=4096)
def _pair(repo: str, head_a: str, head_b: str) -> tuple[str, ...]:
    """Conflicting paths between two commits (empty when they merge cleanly)."""
    merged = merge_tree(Path(repo), head_a, head_b)
    return () if merged.clean else tuple(merged.conflicts) or ("(unknown)",)


def _head(row: TaskRow) -> str | None:
    outcome = row.extra.outcome
    return outcome.head_commit if outcome is not None else None


def _unlanded(rows: list[TaskRow]) -> dict[str, list[tuple[TaskRow, git.Worktree, str]]]:
    """The finished, unlanded worktree tasks among ``rows`` (in their order, at most
    :data:`MAX_TASKS` per repository), by repository, each with its worktree and branch head."""
    groups: dict[str, list[tuple[TaskRow, git.Worktree, str]]] = {}
    for row in rows:
        wt = branches.worktree_of(row)
        head = _head(row)
        if (
            wt is None
            or head is None
            or not row.terminal
            or row.extra.removed_branch
            or row.extra.merged is not None
        ):
            continue
        members = groups.setdefault(str(wt.repo), [])
        if len(members) < MAX_TASKS:
            members.append((row, wt, head))
    return groups


def _conflicting_paths(repo: str, head_a: str, head_b: str) -> list[str]:
    """The paths two branch heads conflict in (empty: they merge cleanly, or git failed)."""
    if head_a == head_b:
        return []
    try:
        return list(_pair(repo, *sorted((head_a, head_b))))
    except git.GitError:
        return []


def conflicts_between(rows: list[TaskRow]) -> list[ConflictPair]:
    """Pairs of the given finished, unlanded worktree tasks whose branches conflict."""
    pairs: list[ConflictPair] = []
    for repo, members in _unlanded(rows).items():
        for i, (a, _wt_a, head_a) in enumerate(members):
            for b, _wt_b, head_b in members[i + 1 :]:
                paths = _conflicting_paths(repo, head_a, head_b)
                if paths:
                    pairs.append(ConflictPair(tasks=(a.id, b.id), paths=tuple(paths)))
    return pairs


def conflicts_with(row: TaskRow, others: list[TaskRow]) -> list[Collision]:
    """The finished, unlanded worktree tasks among ``others`` whose branches conflict with
    ``row``'s (itself one), and where."""
    mine = _unlanded([row])
    if not mine:
        return []
    repo, [(_, _, head)] = next(iter(mine.items()))
    found: list[Collision] = []
    theirs = _unlanded([o for o in others if o.id != row.id]).get(repo, [])
    for other, wt, other_head in theirs:
        paths = _conflicting_paths(repo, head, other_head)
        if paths:
            found.append(Collision(task_id=other.id, branch=wt.branch, paths=tuple(paths)))
    return found


WAITING_SCAN = 500  # newest completed tasks looked at when counting the ones waiting to land


def _waits(row: TaskRow) -> git.Worktree | None:
    """The worktree of a completed task whose branch holds changes not landed yet."""
    extra = row.extra
    wt = extra.worktree
    if (
        wt is None
        or row.phase != "completed"
        or extra.removed_branch
        or extra.merged is not None
        or extra.outcome is None
        or not extra.outcome.files
    ):
        return None
    return wt


def waiting_to_land(store: Store, rows: list[TaskRow]) -> dict[str, int]:
    """For each of ``rows`` that waits to land (completed, in a worktree, with changes, not
    merged): how many tasks wait to land in its repository, itself included. Reads the store
    only when one of ``rows`` waits."""
    mine = {row.id: str(wt.repo) for row in rows if (wt := _waits(row)) is not None}
    if not mine:
        return {}
    counts: dict[str, int] = {}
    for row in store.list(phases=("completed",), limit=WAITING_SCAN):
        wt = _waits(row)
        if wt is not None:
            counts[str(wt.repo)] = counts.get(str(wt.repo), 0) + 1
    return {task_id: max(1, counts.get(repo, 0)) for task_id, repo in mine.items()}
