"""Merging a branch into a target safely: built in memory, applied only when nothing can be lost.

Owns: in-memory merges (``git merge-tree --write-tree``) and the commits made from them
(``merge``, ``squash``, or a ``rebase`` replayed commit by commit without a checkout); the
checks that make applying one safe (checkout on the target, clean, no operation in progress,
no untracked file in the way); and :func:`merge`, which applies the result under the
repository's merge lock (:mod:`.lock`) or refuses with the exact reason, changing nothing.

Must not: know about tasks or the store, or delete branches and worktrees (:mod:`.cleanup`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .lock import repository_lock
from .refs import branch_name, branch_tip, resolve_commit
from .run import (
    GitError,
    commit_of,
    identity_options,
    is_ancestor,
    operations_in_progress,
    run_git,
    toplevel,
    tree_of,
)
from .worktrees import holders_of

STRATEGIES = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    commit: str | None  # the new tip of target after a merge
    strategy: str
    target: str
    conflicts: list[str]
    message: str


@dataclass(frozen=True)
class MergeTree:
    clean: bool
    tree: str
    conflicts: list[str]


def merge_tree(cwd: Path, ours: str, theirs: str) -> MergeTree:
    """Merge two commits in memory (``git merge-tree --write-tree``): no checkout, no index."""
    result = run_git(
        cwd,
        ["merge-tree", "--write-tree", "--name-only", "-z", "--no-messages", ours, theirs],
        ok=(0, 1),
    )
    parts = result.text().split("\0")
    conflicts: list[str] = []
    for part in parts[1:]:
        if not part:
            break
        if part not in conflicts:
            conflicts.append(part)
    return MergeTree(clean=result.code == 0, tree=parts[0].strip(), conflicts=conflicts)


def dirty_tracked(top: Path) -> list[str]:
    out = run_git(
        top,
        ["status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignore-submodules=none"],
        env={"GIT_OPTIONAL_LOCKS": "0"},
    ).text()
    dirty: list[str] = []
    records = iter(out.split("\0"))
    for record in records:
        if len(record) < 4:
            continue
        dirty.append(record[3:])
        if record[0] in "RC":
            next(records, None)  # the original path of a staged rename or copy
    return dirty


def checkout_blocker(top: Path, target: str) -> str | None:
    """Why the checkout at ``top`` cannot take a merge into ``target`` now, or None."""
    current = run_git(top, ["symbolic-ref", "--quiet", "HEAD"], ok=(0, 1))
    if current.code != 0:
        head = commit_of(top, "HEAD") or "?"
        return (
            f"the checkout at {top} is on a detached HEAD ({head[:12]}), not on '{target}'; "
            f"switch it to '{target}' (`git -C {top} switch {target}`) and merge again"
        )
    checked_out = current.line().removeprefix("refs/heads/")
    if checked_out != target:
        return (
            f"the checkout at {top} has branch '{checked_out}' checked out, not '{target}'; "
            f"switch it to '{target}' (`git -C {top} switch {target}`) and merge again"
        )
    operations = operations_in_progress(top)
    if operations:
        return f"the checkout at {top} has {operations[0][0]} in progress; finish or abort it first"
    dirty = dirty_tracked(top)
    if dirty:
        listed = ", ".join(dirty[:20]) + (f" and {len(dirty) - 20} more" if len(dirty) > 20 else "")
        return (
            f"the checkout at {top} has uncommitted changes to tracked files: {listed}; commit "
            f"or stash them, then merge again"
        )
    return None


def in_the_way(top: Path, old: str, new_tree: str) -> list[str]:
    """Paths the merge would create that already exist untracked (or ignored) on disk."""
    out = run_git(top, ["diff", "--name-status", "-z", "--no-renames", old, new_tree]).text()
    parts = [part for part in out.split("\0") if part]
    added: list[str] = []
    deleted: set[str] = set()
    for status, path in zip(parts[::2], parts[1::2], strict=False):
        if status.startswith("A"):
            added.append(path)
        elif status.startswith("D"):
            deleted.add(path)
    blocked: list[str] = []
    for path in added:
        if os.path.lexists(top / path):
            blocked.append(path)
            continue
        pieces = path.split("/")
        for depth in range(1, len(pieces)):
            parent = "/".join(pieces[:depth])
            full = top / parent
            if parent in deleted:
                continue
            if os.path.islink(full) or (os.path.lexists(full) and not full.is_dir()):
                if parent not in blocked:
                    blocked.append(parent)
                break
    return blocked


def commit_tree(
    cwd: Path,
    tree: str,
    parents: Sequence[str],
    message: str,
    identity: Sequence[str],
    env: dict[str, str] | None = None,
) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    text = message if message.endswith("\n") or not message else message + "\n"
    return run_git(cwd, [*args, "-F", "-"], stdin=text.encode(), config=identity, env=env).line()


def replay(
    top: Path, tip: str, onto: str, identity: Sequence[str]
) -> tuple[str, list[str], str | None]:
    """Rebase ``onto..tip`` onto ``onto`` in memory: (new tip, conflicts, failing commit).

    Each commit C with parent P is cherry-picked by merging C with a scaffold commit that has
    the current result's tree and P as its only parent, so ``merge-tree`` uses P as the merge
    base (the same three-way merge ``git cherry-pick`` does). Like ``git rebase``, merge
    commits and commits whose change is already upstream are dropped, as are commits that
    become empty. Nothing is checked out and no ref moves; only new objects are written.
    """
    listed = run_git(
        top,
        [
            *("rev-list", "--reverse", "--topo-order", "--no-merges", "--right-only"),
            *("--cherry-pick", f"{onto}...{tip}"),
        ],
    ).text()
    current = onto
    for commit in listed.split():
        parent = run_git(top, ["rev-parse", f"{commit}^"]).line()
        current_tree = tree_of(top, current)
        scaffold = commit_tree(top, current_tree, [parent], "codex-swarm rebase scaffold", identity)
        merged = merge_tree(top, scaffold, commit)
        if not merged.clean:
            return current, merged.conflicts, commit
        if merged.tree == current_tree:
            continue
        info = run_git(
            top, ["show", "-s", "--date=raw", "--format=%an%x00%ae%x00%ad%x00%B", commit]
        ).text()
        name, email, date, body = info.split("\0", 3)
        author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        current = commit_tree(top, merged.tree, [current], body, identity, env=author)
    return current, [], None


def summary(cwd: Path, commit: str) -> str:
    return run_git(cwd, ["show", "-s", "--abbrev=12", "--format=%h %s", commit]).line()


@dataclass(frozen=True)
class Candidate:
    """What bringing ``branch`` onto ``onto`` would make, built in memory (no ref moved).

    ``commit`` is the new tip when it applies cleanly; ``already`` when ``onto`` has every change
    of the branch already; otherwise ``conflicts`` and ``reason`` say why it cannot apply.
    """

    onto: str
    commit: str | None
    tree: str | None
    already: bool
    conflicts: list[str]
    reason: str | None


def build_candidate(
    top: Path,
    branch: str,
    tip: str,
    target: str,
    target_tip: str,
    *,
    strategy: str,
    message: str,
    target_tree: str | None = None,
    identity: Sequence[str] | None = None,
) -> Candidate:
    """Merge, squash or replay ``tip`` onto ``target_tip`` in memory (only new objects).

    ``target_tree`` (``target_tip``'s tree) and ``identity`` (:func:`.run.identity_options`)
    spare a git process each when the caller knows them: a chain of merges knows each link's
    tree from the link before, so a ``merge`` or ``squash`` link costs two processes
    (``merge-tree``, ``commit-tree``).
    """

    def stop(why: str, conflicts: Sequence[str] = ()) -> Candidate:
        return Candidate(target_tip, None, None, False, list(conflicts), why)

    def nothing(why: str) -> Candidate:
        return Candidate(target_tip, None, None, True, [], why)

    # Merging an ancestor of the target is clean and gives the target's own tree, so the
    # "already" cases are found from the merge's tree; ancestry is asked only to word them.
    predicted = merge_tree(top, target_tip, tip)
    if not predicted.clean:
        return stop(
            f"'{branch}' conflicts with the current tip of '{target}' in "
            f"{', '.join(predicted.conflicts) or 'some paths'}; nothing was changed. Resolve "
            f"the conflicts on the branch (e.g. merge '{target}' into it in its worktree), then "
            f"merge again",
            predicted.conflicts,
        )
    if predicted.tree == (target_tree or tree_of(top, target_tip)):
        if is_ancestor(top, tip, target_tip):
            return nothing(f"'{target}' already contains every commit of '{branch}'; nothing to do")
        return nothing(
            f"'{target}' already has every change of '{branch}' (merged, squashed or rebased "
            f"earlier); nothing to do"
        )
    who = identity_options(top) if identity is None else identity
    tree: str | None = predicted.tree
    if strategy == "merge":
        new = commit_tree(top, predicted.tree, [target_tip, tip], message, who)
    elif strategy == "squash":
        new = commit_tree(top, predicted.tree, [target_tip], message, who)
    elif is_ancestor(top, target_tip, tip):
        new = tip  # already based on target's tip: a plain fast-forward (the merge's tree is its)
    else:
        new, conflicts, failed = replay(top, tip, target_tip, who)
        if conflicts:
            return stop(
                f"rebasing '{branch}' onto '{target}' conflicts at commit "
                f"{summary(top, failed or tip)!r} in {', '.join(conflicts)}; nothing was "
                f"changed. Use strategy 'merge' or 'squash', or rebase the branch by hand",
                conflicts,
            )
        if new == target_tip:
            return nothing(f"'{target}' already has every change of '{branch}'; nothing to do")
        tree = None  # a replay can end elsewhere than the three-way merge
    return Candidate(target_tip, new, tree or tree_of(top, new), False, [], None)


def fast_forward_checkout(top: Path, target: str, old: str, new: str, action: str) -> str | None:
    """Move the checkout at ``top`` (on ``target``, at ``old``) to ``new``; None when done, else
    why nothing was changed. Call with the repository lock held.

    Every condition under which ``git merge --ff-only`` could stop half-way is checked first
    (on the branch, HEAD at ``old``, no operation in progress, no change to tracked files, no
    untracked file in the way), so git only ever runs a fast-forward it can finish.
    """
    blocker = checkout_blocker(top, target)
    if blocker:
        return blocker
    head = commit_of(top, "HEAD")
    if head != old:
        return (
            f"'{target}' moved to {(head or '?')[:12]} while the merge was being built; nothing "
            f"was changed, try again"
        )
    blocked = in_the_way(top, old, tree_of(top, new))
    if blocked:
        return (
            f"the merge would overwrite untracked or ignored files in {top}: "
            f"{', '.join(blocked)}; move them away, then merge again"
        )
    try:
        run_git(
            top,
            ["merge", "--ff-only", "--no-autostash", "--quiet", new],
            env={"GIT_REFLOG_ACTION": action},
        )
    except GitError as exc:
        return f"fast-forwarding '{target}' in {top} failed, nothing was changed: {exc}"
    return None


def merge(
    repo: Path, branch: str, *, target: str, strategy: str = "merge", message: str
) -> MergeResult:
    """Merge ``branch`` into ``target`` in the checkout at ``repo``, only when that is safe.

    Everything happens under the repository's merge lock (:mod:`.lock`), so merges, cleanups and
    landings into one repository never interleave, from any thread or process. The new
    commit(s) are built in memory first (``merge-tree`` + ``commit-tree``) on the target's tip
    as read under the lock: ``merge`` makes a merge commit (like ``git merge --no-ff``),
    ``squash`` one commit with ``message``, ``rebase`` replays the branch's commits onto the
    target's tip (``message`` unused). Then the checkout is fast-forwarded to the result (see
    :func:`fast_forward_checkout`). Refused, with nothing changed, when the checkout is not on
    ``target``, has changes to tracked files or an operation in progress, when the merge
    conflicts, or when it would overwrite untracked files.
    """
    if strategy not in STRATEGIES:
        raise GitError(f"strategy {strategy!r} is unknown; use one of {', '.join(STRATEGIES)}")
    top = toplevel(repo)
    branch_name(top, branch, "branch")
    branch_name(top, target, "target")
    if strategy != "rebase" and not message.strip():
        raise GitError("a commit message is required for merge and squash")
    with repository_lock(top):
        return _merge_locked(top, branch, target, strategy, message)


def _merge_locked(top: Path, branch: str, target: str, strategy: str, message: str) -> MergeResult:
    branch, tip = branch_tip(top, branch, "branch")
    target, target_tip = branch_tip(top, target, "target")
    if branch == target:
        raise GitError(f"cannot merge branch '{branch}' into itself")

    def refused(why: str, conflicts: Sequence[str] = ()) -> MergeResult:
        return MergeResult(False, None, strategy, target, list(conflicts), why)

    if is_ancestor(top, tip, target_tip):
        return MergeResult(
            True,
            target_tip,
            strategy,
            target,
            [],
            f"'{target}' already contains every commit of '{branch}'; nothing to do",
        )
    blocker = checkout_blocker(top, target)
    if blocker:
        return refused(blocker)
    candidate = build_candidate(
        top, branch, tip, target, target_tip, strategy=strategy, message=message
    )
    if candidate.already:
        return MergeResult(True, target_tip, strategy, target, [], candidate.reason or "")
    if candidate.commit is None:
        return refused(candidate.reason or "the merge cannot be built", candidate.conflicts)
    new = candidate.commit
    why = fast_forward_checkout(top, target, target_tip, new, f"codex-swarm {strategy} {branch}")
    if why:
        blocked = (
            [] if "untracked" not in why else in_the_way(top, target_tip, candidate.tree or new)
        )
        return refused(why, blocked)
    commit = resolve_commit(top, f"refs/heads/{target}", "target")
    note = ""
    if strategy == "rebase" and new != tip:
        if holders_of(top, branch):
            note = f"; '{branch}' still points at its original commits (it is checked out)"
        else:
            try:  # the merge is done either way; moving the task branch is a courtesy
                run_git(
                    top,
                    [
                        *("update-ref", "-m", f"codex-swarm: rebased onto {target}"),
                        *(f"refs/heads/{branch}", new, tip),
                    ],
                )
                note = f"; '{branch}' now points at the rebased commits"
            except GitError:
                note = f"; '{branch}' still points at its original commits (it moved meanwhile)"
    return MergeResult(
        True,
        commit,
        strategy,
        target,
        [],
        f"merged '{branch}' into '{target}' ({strategy}); '{target}' is now at {commit[:12]}{note}",
    )
