"""Whether a branch's work is merged, and removing worktrees and branches without losing work.

Owns: the merged test (reachable, or a merge that would change nothing, or ``git cherry``
finding every patch upstream: squash, rebase and cherry-pick count), the list of commits that
are not merged, and :func:`cleanup`, which removes a worktree only when everything in it is
committed and deletes a branch only when it is merged (or when forced, listing what was lost).

Must not: merge or move any branch but the one it deletes, or know about tasks or the store.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from .lock import repository_lock
from .merging import merge_tree
from .refs import branch_name, branch_tip
from .run import (
    GitError,
    commit_of,
    is_ancestor,
    operations_in_progress,
    run_git,
    same_path,
    tree_of,
)
from .worktrees import holders_of, list_worktrees


@dataclass(frozen=True)
class Cleanup:
    removed_worktree: bool
    deleted_branch: bool
    kept_reason: str | None
    lost_commits: list[str]


def _cherry(cwd: Path, upstream: str, head: str) -> list[tuple[str, str]]:
    """(sign, 'sha subject') for each non-merge commit of head not in upstream; sign '-' when
    an equivalent change (same patch id) is already upstream."""
    out = run_git(cwd, ["cherry", "-v", "--abbrev=12", upstream, head]).text()
    rows: list[tuple[str, str]] = []
    for line in out.splitlines():
        sign, _, rest = line.partition(" ")
        if sign in "+-" and rest:
            rows.append((sign, rest))
    return rows


def merged_into(cwd: Path, tip: str, into_tip: str) -> bool:
    if tip == into_tip or is_ancestor(cwd, tip, into_tip):
        return True
    with contextlib.suppress(GitError):
        predicted = merge_tree(cwd, into_tip, tip)
        if predicted.clean and predicted.tree == tree_of(cwd, into_tip):
            return True  # merging would change nothing: squash-merged, rebased or cherry-picked
    rows = _cherry(cwd, into_tip, tip)
    return bool(rows) and all(sign == "-" for sign, _ in rows)


def unmerged(cwd: Path, tip: str, into_tip: str) -> list[str]:
    if merged_into(cwd, tip, into_tip):
        return []
    lines = [rest for sign, rest in _cherry(cwd, into_tip, tip) if sign == "+"]
    if not lines:
        out = run_git(cwd, ["log", "--abbrev=12", "--format=%h %s", f"{into_tip}..{tip}"]).text()
        lines = out.splitlines()
    return lines


def is_merged(repo: Path, branch: str, into: str) -> bool:
    """Whether all of ``branch``'s work is in ``into``.

    True when the branch tip is reachable from ``into`` (merged or fast-forwarded); or when
    merging the branch into ``into`` would not change ``into``'s tree (squash-merged, rebased
    or cherry-picked, even as one combined commit); or when ``git cherry`` finds an equivalent
    patch in ``into`` for every commit of the branch. Later conflicting edits on ``into`` make
    a squash-merged branch count as unmerged: the safe side.
    """
    repo = Path(repo)
    _, tip = branch_tip(repo, branch, "branch")
    _, into_tip = branch_tip(repo, into, "into")
    return merged_into(repo, tip, into_tip)


def unmerged_commits(repo: Path, branch: str, into: str) -> list[str]:
    """One line ('<sha> <subject>') per commit of ``branch`` whose work is not in ``into``."""
    repo = Path(repo)
    _, tip = branch_tip(repo, branch, "branch")
    _, into_tip = branch_tip(repo, into, "into")
    return unmerged(repo, tip, into_tip)


def _unreachable(cwd: Path, tip: str, *, besides: str | None = None) -> list[str]:
    """Commits of ``tip`` reachable from no branch (other than ``besides``), tag or remote."""
    exclude = [f"--exclude={besides}"] if besides else []
    out = run_git(
        cwd,
        [
            *("log", "--abbrev=12", "--format=%h %s", tip, "--not"),
            *(*exclude, "--branches", "--tags", "--remotes"),
        ],
    ).text()
    return out.splitlines()


def _remove_worktree(
    top: Path, path: Path, branch: str, force: bool
) -> tuple[bool, str | None, list[str]]:
    """(removed, why kept, what was lost) for the worktree at ``path``."""
    entry = next((e for e in list_worktrees(top) if same_path(e.path, path)), None)
    if entry is None:
        if os.path.lexists(path):
            return False, f"{path} is not a worktree of {top}, so it was left alone", []
        return False, None, []
    if entry.main:
        return False, f"{path} is the repository's main checkout; it is never removed", []
    if entry.locked:
        return False, f"worktree {path} is locked (`git worktree lock`), so it was kept", []
    if not path.exists():
        run_git(top, ["worktree", "prune"])
        return True, None, []
    lost: list[str] = []
    try:
        problems = [what for what, _ in operations_in_progress(path)]
        changed = [
            record[3:]
            for record in run_git(
                path,
                ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"],
                env={"GIT_OPTIONAL_LOCKS": "0"},
            )
            .text()
            .split("\0")
            if len(record) > 3
        ]
        if changed:
            shown = ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
            problems.append(f"uncommitted changes ({shown})")
        if entry.branch is None and entry.head:
            stray = _unreachable(top, entry.head)
            if stray:
                problems.append(f"commits on a detached HEAD that no branch has ({stray[0]}...)")
                lost += stray
    except GitError as exc:
        problems = [f"a state that could not be read ({exc})"]
    if problems and not force:
        return (
            False,
            f"worktree {path} was kept because it has {'; '.join(problems)}; commit them "
            f"(commit_all) or pass force=True to discard them",
            [],
        )
    if problems:
        lost += [f"(discarded from the worktree) {problem}" for problem in problems]
    try:
        run_git(top, ["worktree", "remove", "--force", "--", str(entry.path)])
    except GitError as exc:
        return False, f"worktree {path} could not be removed: {exc}", []
    return True, None, lost


def _drop_branch_config(cwd: Path, short: str) -> None:
    result = run_git(cwd, ["config", "--name-only", "--get-regexp", r"^branch\."], ok=(0, 1))
    if any(name.startswith(f"branch.{short}.") for name in result.text().splitlines()):
        with contextlib.suppress(GitError):
            run_git(cwd, ["config", "--remove-section", f"branch.{short}"])


def cleanup(
    repo: Path, wt_path: Path | None, branch: str, *, into: str | None, force: bool = False
) -> Cleanup:
    """Remove the task's worktree and delete its branch, never losing unmerged work.

    Runs under the repository's merge lock, so it never interleaves with a merge or landing.
    The worktree is removed when everything in it is committed (or with ``force``). The branch
    is deleted only when it is merged into ``into`` (see :func:`is_merged`) or with ``force``,
    in which case ``lost_commits`` lists what is lost; otherwise it is kept and
    ``kept_reason`` says why.
    """
    top = Path(repo)
    short = branch_name(top, branch, "branch")
    with repository_lock(top):
        return _cleanup_locked(top, wt_path, short, into=into, force=force)


def _cleanup_locked(
    top: Path, wt_path: Path | None, short: str, *, into: str | None, force: bool
) -> Cleanup:
    into_tip = branch_tip(top, into, "into")[1] if into is not None else None
    reasons: list[str] = []
    lost: list[str] = []
    removed = False
    if wt_path is not None:
        removed, why, discarded = _remove_worktree(top, Path(wt_path), short, force)
        if why:
            reasons.append(why)
        lost += discarded

    deleted = False
    ref = f"refs/heads/{short}"
    tip = commit_of(top, ref)
    if tip is not None:
        merged = into_tip is not None and merged_into(top, tip, into_tip)
        holders = holders_of(top, short)
        if not merged and not force:
            if into is None:
                reasons.append(
                    f"branch '{short}' was kept: no target branch was given to check that its "
                    f"work is merged; pass into=<branch>, or force=True to delete it anyway"
                )
            else:
                missing = unmerged(top, tip, into_tip or tip)
                reasons.append(
                    f"branch '{short}' was kept: {len(missing)} commit(s) are not merged into "
                    f"'{into}' ({'; '.join(missing[:5])}); merge it, or pass force=True to "
                    f"delete it anyway"
                )
        elif holders:
            reasons.append(f"branch '{short}' was kept: it is checked out in {holders[0]}")
        else:
            if not merged:
                lost += (
                    unmerged(top, tip, into_tip)
                    if into_tip is not None
                    else _unreachable(top, tip, besides=short)
                )
            run_git(top, ["update-ref", "-m", "codex-swarm: cleanup", "-d", ref, tip])
            _drop_branch_config(top, short)
            deleted = True
    return Cleanup(
        removed_worktree=removed,
        deleted_branch=deleted,
        kept_reason="; ".join(reasons) or None,
        lost_commits=lost,
    )
