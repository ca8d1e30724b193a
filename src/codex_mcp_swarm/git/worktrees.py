"""Task worktrees: creating a branch and worktree per task, committing what the agent left.

Owns: the repository a cwd belongs to (:func:`repo_root`); creating branch
``codex-swarm/<task_id>`` and its worktree under a root directory (serialised per repository
by a lock file under that root), optionally carrying the caller's uncommitted changes into it
without touching the caller's checkout, index or stash list; listing a repository's worktrees
and which of them hold a branch; committing everything an agent left in its worktree
(``--no-verify``; an unfinished operation is aborted first); forgetting worktrees whose
directories are gone.

Must not: merge, diff or delete branches (:mod:`.merging`, :mod:`.describe`,
:mod:`.cleanup` do), or know about the task store, processes or MCP.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .lock import flock
from .refs import BRANCH_PREFIX, check_rev_text, check_task_id, resolve_commit, valid_branch
from .run import (
    GitError,
    commit_of,
    common_dir,
    identity_options,
    is_ancestor,
    operations_in_progress,
    run_git,
    same_path,
    tree_of,
)

log = logging.getLogger(__name__)


LOCK_TIMEOUT = 120.0  # seconds to wait for this module's per-repository lock


@dataclass(frozen=True)
class Worktree:
    """A task's worktree: where it is, its branch, and what it started from."""

    path: Path
    branch: str
    repo: Path  # top level of the checkout the task was created from
    base_ref: str  # as given ("HEAD" when omitted)
    base_commit: str  # the commit the task's own work is measured from
    base_branch: str | None  # the branch base_ref resolved from, if any
    carried_commit: str | None  # the commit holding carried uncommitted changes, if any
    subdir: str  # the caller's cwd relative to the repository top level ('' or 'pkg/sub')


def repo_root(cwd: Path) -> Path:
    """The top level of the checkout containing ``cwd`` (a linked worktree's own top level)."""
    cwd = Path(cwd).absolute()
    if not cwd.is_dir():
        raise GitError(f"cwd {cwd} does not exist or is not a directory")
    result = run_git(cwd, ["rev-parse", "--show-toplevel"], ok=(0, 128))
    if result.code != 0 or not result.line():
        if "not a git repository" in result.err:
            raise GitError(
                f"cwd {cwd} is not inside a git repository; run `git init` and commit there, "
                f"or use a cwd inside a repository"
            )
        raise GitError(
            f"cwd {cwd} is not inside a git working tree (a bare repository or a .git "
            f"directory has no checkout to work from){': ' + result.err if result.err else ''}"
        )
    top = Path(result.line())
    if commit_of(top, "HEAD") is None:
        raise GitError(f"the repository at {top} has no commits yet; commit something first")
    return top


def _repo_key(common_dir: Path) -> tuple[str, str]:
    """(readable name, short hash) identifying a repository by its common git dir."""
    if common_dir.name == ".git":
        base = common_dir.parent.name
    else:
        base = common_dir.name.removesuffix(".git")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", base).strip(".") or "repo"
    digest = hashlib.sha256(os.fsencode(str(common_dir))).hexdigest()[:10]
    return name, digest


def mkdir_private(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    if not path.is_dir():
        raise GitError(f"{path} exists but is not a directory; choose another worktree root")


def repo_dir(root_dir: Path, top: Path) -> Path:
    """The directory under ``root_dir`` that holds this repository's task worktrees."""
    name, key = _repo_key(common_dir(Path(top)))
    return Path(os.path.realpath(Path(root_dir).absolute())) / f"{name}-{key}"


@contextlib.contextmanager
def _repo_lock(root_dir: Path, key: str) -> Iterator[None]:
    """Serialize worktree creation per repository across threads and processes."""
    lock_dir = root_dir / ".locks"
    mkdir_private(lock_dir)
    with flock(lock_dir / f"{key}.lock", LOCK_TIMEOUT, "another worktree creation"):
        yield


def _snapshot_uncommitted(top: Path, head: str, task_id: str) -> str | None:
    """A commit (child of ``head``) holding the checkout's tracked and untracked changes.

    Uses a temporary copy of the index, so the caller's index, checkout and stash list are
    never touched; only new objects are written. None when there is nothing to carry.
    """
    index = Path(
        run_git(top, ["rev-parse", "--path-format=absolute", "--git-path", "index"]).line()
    )
    with tempfile.TemporaryDirectory(prefix="codex-swarm-index-") as scratch:
        temp_index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(temp_index)}
        if index.is_file():
            shutil.copyfile(index, temp_index)  # keeps stat data: no rehashing of clean files
        else:
            run_git(top, ["read-tree", head], env=env)
        run_git(top, ["add", "--all"], env=env)
        tree = run_git(top, ["write-tree"], env=env).line()
    if tree == tree_of(top, head):
        return None
    message = f"uncommitted changes carried from {top} into task {task_id}\n"
    return run_git(
        top,
        ["commit-tree", tree, "-p", head, "-F", "-"],
        stdin=message.encode(),
        config=identity_options(top),
    ).line()


def create_worktree(
    cwd: Path,
    root_dir: Path,
    task_id: str,
    *,
    base_ref: str | None = None,
    include_uncommitted: bool = False,
) -> Worktree:
    """Create branch ``codex-swarm/<task_id>`` from ``base_ref`` and a worktree for it.

    The worktree lives at ``root_dir/<repo-name>-<hash>/<task_id>``. With
    ``include_uncommitted`` the caller's uncommitted and untracked (not ignored) changes,
    deletions included, become one commit on the task branch, which is then the task's base.
    """
    cwd = Path(cwd).absolute()
    check_task_id(task_id)
    top = repo_root(cwd)
    subdir = run_git(cwd, ["rev-parse", "--show-prefix"]).line().rstrip("/")
    branch = BRANCH_PREFIX + task_id
    ref = f"refs/heads/{branch}"
    if not valid_branch(top, branch):
        raise GitError(f"task id {task_id!r} cannot name a branch; choose a simpler id")

    base_branch: str | None
    if base_ref is None or base_ref == "HEAD":
        base_commit = resolve_commit(cwd, "HEAD", "HEAD")
        current = run_git(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"], ok=(0, 1))
        base_branch = current.line() if current.code == 0 else None
    else:
        if include_uncommitted:
            raise GitError(
                f"uncommitted changes are carried from the checkout at {top}, so only from its "
                f"HEAD, not from the base ref {base_ref!r}"
            )
        check_rev_text(base_ref, "base ref")
        short = base_ref.removeprefix("refs/heads/")
        branch_commit = commit_of(cwd, f"refs/heads/{short}") if valid_branch(top, short) else None
        if branch_commit is not None:
            base_commit, base_branch = branch_commit, short
        else:
            found = commit_of(cwd, base_ref)
            if found is None:
                raise GitError(f"the base ref '{base_ref}' is not a branch, tag or commit in {top}")
            base_commit, base_branch = found, None

    carried = _snapshot_uncommitted(top, base_commit, task_id) if include_uncommitted else None
    start = carried or base_commit

    name, key = _repo_key(common_dir(top))
    root = Path(root_dir).absolute()
    mkdir_private(root / f"{name}-{key}")
    root = Path(os.path.realpath(root))
    path = root / f"{name}-{key}" / task_id
    with _repo_lock(root, key):
        if commit_of(top, ref) is not None:
            raise GitError(
                f"branch '{branch}' already exists in {top}; use another task id, or remove "
                f"the old task's branch first"
            )
        if os.path.lexists(path):
            raise GitError(f"{path} already exists; use another task id or remove that path")
        run_git(
            top,
            [
                *("update-ref", "-m", f"codex-swarm: task {task_id} from {base_ref or 'HEAD'}"),
                *(ref, start, ""),
            ],
        )
        try:
            run_git(top, ["worktree", "add", "--quiet", "--", str(path), branch])
        except GitError:
            with contextlib.suppress(GitError):
                run_git(top, ["update-ref", "-d", ref, start])
            raise
    if subdir:
        with contextlib.suppress(OSError):
            (path / subdir).mkdir(parents=True, exist_ok=True)
    return Worktree(
        path=path,
        branch=branch,
        repo=top,
        base_ref=base_ref or "HEAD",
        base_commit=start,
        base_branch=base_branch,
        carried_commit=carried,
        subdir=subdir,
    )


@dataclass(frozen=True)
class WorktreeEntry:
    path: Path
    head: str | None
    branch: str | None  # short name; None when detached or bare
    locked: bool
    main: bool


def list_worktrees(cwd: Path) -> list[WorktreeEntry]:
    out = run_git(cwd, ["worktree", "list", "--porcelain", "-z"]).text()
    entries: list[WorktreeEntry] = []
    for index, record in enumerate(block for block in out.split("\0\0") if block.strip("\0")):
        fields: dict[str, str] = {}
        for item in record.strip("\0").split("\0"):
            label, _, value = item.partition(" ")
            fields[label] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        entries.append(
            WorktreeEntry(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                locked="locked" in fields,
                main=index == 0,
            )
        )
    return entries


def holders_of(cwd: Path, branch: str, *, besides: Path | None = None) -> list[Path]:
    """Worktrees that have ``branch`` checked out (other than ``besides``)."""
    return [
        entry.path
        for entry in list_worktrees(cwd)
        if entry.branch == branch and not (besides is not None and same_path(entry.path, besides))
    ]


def _abort_operations(path: Path) -> list[str]:
    notes: list[str] = []
    for what, abort in operations_in_progress(path):
        try:
            run_git(path, list(abort))
            notes.append(f"{what} was left in the worktree and was aborted before committing.")
        except GitError as exc:
            if abort[0] not in ("merge", "cherry-pick", "revert"):
                raise GitError(
                    f"the worktree {path} has {what} that could not be aborted ({exc}); "
                    f"finish it there by hand, then commit again"
                ) from exc
            run_git(path, [abort[0], "--quit"])
            notes.append(
                f"{what} was left in the worktree and could not be aborted; it was dropped and "
                f"the files were committed as they were (they may contain conflict markers)."
            )
        log.warning("%s: %s", path, notes[-1])
    return notes


def _ensure_on_branch(path: Path, branch: str) -> None:
    """Put the worktree's HEAD back on the task branch if the agent moved it away safely."""
    ref = f"refs/heads/{branch}"
    tip = commit_of(path, ref)
    if tip is None:
        raise GitError(f"task branch '{branch}' no longer exists, so {path} cannot be committed")
    current = run_git(path, ["symbolic-ref", "--quiet", "HEAD"], ok=(0, 1))
    if current.code == 0 and current.line() == ref:
        return
    head = commit_of(path, "HEAD")
    where = (
        f"branch '{current.line().removeprefix('refs/heads/')}'"
        if current.code == 0
        else "a detached HEAD"
    )
    if head is None or not (head == tip or is_ancestor(path, tip, head)):
        raise GitError(
            f"the worktree {path} has {where} checked out instead of task branch '{branch}', "
            f"and it does not build on that branch; run `git -C {path} switch {branch}` "
            f"(or merge that work into it) and commit again"
        )
    elsewhere = holders_of(path, branch, besides=path)
    if elsewhere:
        raise GitError(
            f"the worktree {path} has {where} checked out while task branch '{branch}' is "
            f"checked out in {elsewhere[0]}; switch one of them back by hand"
        )
    if head != tip:
        run_git(
            path,
            ["update-ref", "-m", f"codex-swarm: take over commits from {where}", ref, head, tip],
        )
    run_git(path, ["symbolic-ref", "-m", "codex-swarm: back to the task branch", "HEAD", ref])
    log.warning("%s: moved HEAD from %s back to task branch %s", path, where, branch)


def commit_all(wt: Worktree, message: str) -> str | None:
    """Stage everything in the worktree and commit it on the task branch (``--no-verify``).

    Returns the new commit, or None when there was nothing to commit. An operation the agent
    left in progress (merge, rebase, cherry-pick, ...) is aborted first and noted in the commit
    message. If the agent moved HEAD to a detached commit or another branch that builds on the
    task branch, the task branch is fast-forwarded to it and HEAD put back on it.
    """
    if not message.strip():
        raise GitError("a commit message is required")
    path = Path(wt.path)
    if not path.is_dir():
        raise GitError(
            f"the worktree {path} no longer exists; whatever was committed is on '{wt.branch}'"
        )
    top = run_git(path, ["rev-parse", "--show-toplevel"]).line()
    if not same_path(Path(top), path):
        raise GitError(f"{path} is not the top level of a git worktree")
    notes = _abort_operations(path)
    _ensure_on_branch(path, wt.branch)
    run_git(path, ["add", "--all"])
    staged = run_git(path, ["diff", "--cached", "--quiet", "--ignore-submodules=none"], ok=(0, 1))
    if staged.code == 0:
        return None
    text = message.rstrip() + ("\n\n" + "\n".join(notes) if notes else "") + "\n"
    run_git(
        path,
        ["commit", "--no-verify", "--quiet", "-F", "-"],
        stdin=text.encode(),
        config=identity_options(path),
    )
    return resolve_commit(path, "HEAD", "HEAD")


def prune(repo: Path) -> None:
    """Forget worktrees whose directories are gone (``git worktree prune``)."""
    run_git(Path(repo), ["worktree", "prune"])
