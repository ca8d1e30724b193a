"""Task worktrees: one git worktree and branch per task, and bringing the work back safely.

Owns everything this project does with git:

* creating a branch ``codex-swarm/<task_id>`` and a worktree for it under a root directory,
  optionally carrying the caller's uncommitted changes into it without touching the caller's
  checkout, index or stash list;
* committing whatever an agent left in its worktree;
* describing a task's work (files, counts, diff) and predicting whether it merges cleanly;
* merging it into a target branch (merge, squash or rebase) only when that is safe, and refusing
  with the exact reason otherwise, leaving everything as it was;
* removing worktrees and branches without ever losing unmerged work unless told to.

Must not: know about the task store, processes, or MCP. These are plain functions over paths
and refs; every failure is a :class:`GitError` whose message says what to do next.

Safety rules kept throughout: caller text never reaches git where it could be read as an
option (refs are validated and follow ``--end-of-options``, paths follow ``--``); user hooks run
as usual except for the commits this module makes itself (``--no-verify``, or plumbing that runs
no hooks); git never prompts (``GIT_TERMINAL_PROMPT=0``); and a fallback identity is used only
when the repository has none configured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BRANCH_PREFIX = "codex-swarm/"
FALLBACK_NAME = "codex-swarm"
FALLBACK_EMAIL = "codex-swarm@localhost"
STRATEGIES = ("merge", "squash", "rebase")
GIT_TIMEOUT = 600.0  # seconds for any single git command
LOCK_TIMEOUT = 120.0  # seconds to wait for this module's per-repository lock
LOCK_RETRIES = 8  # retries of a git command that failed on one of git's own lock files

_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_GIT_LOCK_ERROR = re.compile(r"\.lock'?: File exists|could not lock config file")
# Variables that would point git at another repository, index or object store than `cwd`'s.
_REPO_ENV_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_SHALLOW_FILE",
        "GIT_GRAFT_FILE",
    }
)
# Per-worktree markers of an operation in progress, and how to abort each.
_OPERATIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("rebase-apply/applying", "an unfinished `git am`", ("am", "--abort")),
    ("rebase-merge", "an unfinished rebase", ("rebase", "--abort")),
    ("rebase-apply", "an unfinished rebase", ("rebase", "--abort")),
    ("MERGE_HEAD", "an unfinished merge", ("merge", "--abort")),
    ("CHERRY_PICK_HEAD", "an unfinished cherry-pick", ("cherry-pick", "--abort")),
    ("REVERT_HEAD", "an unfinished revert", ("revert", "--abort")),
    ("BISECT_LOG", "an unfinished bisect", ("bisect", "reset")),
)


class GitError(Exception):
    """A git operation failed or was refused; the message is a sentence a model can act on."""


# --------------------------------------------------------------------------------------------
# Results


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _jsonable(self)
        return result


@dataclass
class Worktree(_ToDict):
    """A task's worktree: where it is, its branch, and what it started from."""

    path: Path
    branch: str
    repo: Path  # top level of the checkout the task was created from
    base_ref: str  # as given ("HEAD" when omitted)
    base_commit: str  # the commit the task's own work is measured from
    base_branch: str | None  # the branch base_ref resolved from, if any
    carried_commit: str | None  # the commit holding carried uncommitted changes, if any
    subdir: str  # the caller's cwd relative to the repository top level ('' or 'pkg/sub')


@dataclass
class FileChange(_ToDict):
    path: str
    insertions: int | None  # None for binary files
    deletions: int | None


@dataclass
class Outcome(_ToDict):
    branch: str
    base_commit: str
    head_commit: str
    committed: bool  # the branch has commits beyond base_commit
    files: list[FileChange]
    insertions: int
    deletions: int
    target: str | None
    target_commit: str | None
    merges_cleanly: bool | None  # None when there is no target
    conflicts: list[str] = field(default_factory=list)


@dataclass
class MergeResult(_ToDict):
    merged: bool
    commit: str | None  # the new tip of target after a merge
    strategy: str
    target: str
    conflicts: list[str]
    message: str


@dataclass
class Cleanup(_ToDict):
    removed_worktree: bool
    deleted_branch: bool
    kept_reason: str | None
    lost_commits: list[str]


# --------------------------------------------------------------------------------------------
# Running git


@dataclass(frozen=True)
class _Result:
    code: int
    out: bytes
    err: str

    def text(self) -> str:
        return self.out.decode("utf-8", "surrogateescape")

    def line(self) -> str:
        return self.text().strip()


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _REPO_ENV_VARS}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C",
        GIT_EDITOR=":",
        GIT_SEQUENCE_EDITOR=":",
        GIT_PAGER="cat",
        GIT_MERGE_AUTOEDIT="no",
    )
    if extra:
        env.update(extra)
    return env


def _git(
    cwd: Path,
    args: Sequence[str],
    *,
    ok: Sequence[int] = (0,),
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    config: Sequence[str] = (),
) -> _Result:
    """Run ``git args`` in ``cwd``; retry briefly when git's own lock files are busy."""
    if not cwd.is_dir():
        raise GitError(f"{cwd} does not exist or is not a directory")
    argv = ["git", "-c", "core.quotePath=false", *config, *args]
    for attempt in range(LOCK_RETRIES + 1):
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=_environment(env),
                input=stdin,
                stdin=subprocess.DEVNULL if stdin is None else None,
                capture_output=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitError(
                "git is not installed or not on PATH; install git 2.38 or later"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise GitError(
                f"`git {args[0]}` did not finish within {GIT_TIMEOUT:.0f} s in {cwd}"
            ) from exc
        err = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode in ok:
            return _Result(proc.returncode, proc.stdout, err)
        if attempt < LOCK_RETRIES and _GIT_LOCK_ERROR.search(err):
            time.sleep(min(0.05 * 2**attempt, 1.0))
            continue
        detail = err[-1500:] or f"exit code {proc.returncode}"
        raise GitError(f"`git {' '.join(args[:2])}` failed in {cwd}: {detail}")
    raise AssertionError("unreachable")


def _rev(cwd: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None. ``rev`` must already be validated."""
    result = _git(
        cwd,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        ok=(0, 1, 128),
    )
    return result.line() if result.code == 0 and result.line() else None


def _tree(cwd: Path, commit: str) -> str:
    return _git(cwd, ["rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}"]).line()


def _is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    result = _git(cwd, ["merge-base", "--is-ancestor", ancestor, descendant], ok=(0, 1))
    return result.code == 0


def _identity(cwd: Path) -> list[str]:
    """``-c`` options giving commits a fallback identity, only where none is configured."""
    options: list[str] = []
    for key, fallback in (("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)):
        result = _git(cwd, ["config", "--get", key], ok=(0, 1))
        if result.code != 0 or not result.line():
            options += ["-c", f"{key}={fallback}"]
    return options


def _git_dir(cwd: Path) -> Path:
    return Path(_git(cwd, ["rev-parse", "--absolute-git-dir"]).line())


def _operations_in_progress(cwd: Path) -> list[tuple[str, tuple[str, ...]]]:
    git_dir = _git_dir(cwd)
    found: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()  # one operation per state directory (`am` and rebase share one)
    for marker, what, abort in _OPERATIONS:
        state = marker.split("/")[0]
        if state not in seen and (git_dir / marker).exists():
            seen.add(state)
            found.append((what, abort))
    return found


# --------------------------------------------------------------------------------------------
# Validating caller text


def _check_rev_text(rev: str, what: str) -> None:
    if not rev or not rev.strip() or rev.startswith("-") or any(c in rev for c in "\0\n\r"):
        raise GitError(
            f"{what} {rev!r} is not a valid git revision: it must be a branch, tag or commit "
            f"name, and must not be empty or start with '-'"
        )


def _branch_name(cwd: Path, name: str, what: str) -> str:
    """``name`` (optionally ``refs/heads/``-prefixed) as a short branch name, if well formed."""
    _check_rev_text(name, what)
    short = name.removeprefix("refs/heads/")
    if not _valid_branch(cwd, short):
        raise GitError(f"{what} {name!r} is not a valid branch name")
    return short


def _valid_branch(cwd: Path, short: str) -> bool:
    if not short or short.startswith("-"):
        return False
    result = _git(cwd, ["check-ref-format", f"refs/heads/{short}"], ok=(0, 1, 128))
    return result.code == 0


def _branch_tip(cwd: Path, name: str, what: str) -> tuple[str, str]:
    """(short name, commit) of an existing local branch."""
    short = _branch_name(cwd, name, what)
    commit = _rev(cwd, f"refs/heads/{short}")
    if commit is None:
        raise GitError(f"{what} '{short}' is not a branch in {cwd}")
    return short, commit


def _commit(cwd: Path, rev: str, what: str) -> str:
    _check_rev_text(rev, what)
    commit = _rev(cwd, rev)
    if commit is None:
        raise GitError(f"{what} '{rev}' is not a commit in {cwd}")
    return commit


def _check_task_id(task_id: str) -> None:
    if not _TASK_ID.fullmatch(task_id) or ".." in task_id or task_id.endswith((".", ".lock")):
        raise GitError(
            f"task id {task_id!r} cannot name a branch: use letters, digits, '.', '_' and '-' "
            f"only, starting with a letter or digit (at most 100 characters)"
        )


# --------------------------------------------------------------------------------------------
# Repositories and worktrees


def repo_root(cwd: Path) -> Path:
    """The top level of the checkout containing ``cwd`` (a linked worktree's own top level)."""
    cwd = Path(cwd).absolute()
    if not cwd.is_dir():
        raise GitError(f"cwd {cwd} does not exist or is not a directory")
    result = _git(cwd, ["rev-parse", "--show-toplevel"], ok=(0, 128))
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
    if _rev(top, "HEAD") is None:
        raise GitError(f"the repository at {top} has no commits yet; commit something first")
    return top


def _common_dir(top: Path) -> Path:
    out = _git(top, ["rev-parse", "--path-format=absolute", "--git-common-dir"]).line()
    return Path(os.path.realpath(out))


def _repo_key(common_dir: Path) -> tuple[str, str]:
    """(readable name, short hash) identifying a repository by its common git dir."""
    if common_dir.name == ".git":
        base = common_dir.parent.name
    else:
        base = common_dir.name.removesuffix(".git")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", base).strip(".") or "repo"
    digest = hashlib.sha256(os.fsencode(str(common_dir))).hexdigest()[:10]
    return name, digest


def _mkdir_private(path: Path) -> None:
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


@contextlib.contextmanager
def _repo_lock(root_dir: Path, key: str) -> Iterator[None]:
    """Serialize worktree creation per repository across threads and processes."""
    lock_dir = root_dir / ".locks"
    _mkdir_private(lock_dir)
    fd = os.open(lock_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitError(
                        f"another worktree of this repository has been in creation for over "
                        f"{LOCK_TIMEOUT:.0f} s (lock {lock_dir / key}.lock); try again later"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _snapshot_uncommitted(top: Path, head: str, task_id: str) -> str | None:
    """A commit (child of ``head``) holding the checkout's tracked and untracked changes.

    Uses a temporary copy of the index, so the caller's index, checkout and stash list are
    never touched; only new objects are written. None when there is nothing to carry.
    """
    index = Path(_git(top, ["rev-parse", "--path-format=absolute", "--git-path", "index"]).line())
    with tempfile.TemporaryDirectory(prefix="codex-swarm-index-") as scratch:
        temp_index = Path(scratch) / "index"
        env = {"GIT_INDEX_FILE": str(temp_index)}
        if index.is_file():
            shutil.copyfile(index, temp_index)  # keeps stat data: no rehashing of clean files
        else:
            _git(top, ["read-tree", head], env=env)
        _git(top, ["add", "--all"], env=env)
        tree = _git(top, ["write-tree"], env=env).line()
    if tree == _tree(top, head):
        return None
    message = f"uncommitted changes carried from {top} into task {task_id}\n"
    return _git(
        top,
        ["commit-tree", tree, "-p", head, "-F", "-"],
        stdin=message.encode(),
        config=_identity(top),
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
    _check_task_id(task_id)
    top = repo_root(cwd)
    subdir = _git(cwd, ["rev-parse", "--show-prefix"]).line().rstrip("/")
    branch = BRANCH_PREFIX + task_id
    ref = f"refs/heads/{branch}"
    if not _valid_branch(top, branch):
        raise GitError(f"task id {task_id!r} cannot name a branch; choose a simpler id")

    base_branch: str | None
    if base_ref is None or base_ref == "HEAD":
        base_commit = _commit(cwd, "HEAD", "HEAD")
        current = _git(cwd, ["symbolic-ref", "--quiet", "--short", "HEAD"], ok=(0, 1))
        base_branch = current.line() if current.code == 0 else None
    else:
        if include_uncommitted:
            raise GitError(
                f"include_uncommitted carries the changes of the checkout at {top}, so it only "
                f"works from its HEAD; omit base_ref (got {base_ref!r}) or drop "
                f"include_uncommitted"
            )
        _check_rev_text(base_ref, "base_ref")
        short = base_ref.removeprefix("refs/heads/")
        branch_commit = _rev(cwd, f"refs/heads/{short}") if _valid_branch(top, short) else None
        if branch_commit is not None:
            base_commit, base_branch = branch_commit, short
        else:
            found = _rev(cwd, base_ref)
            if found is None:
                raise GitError(f"base_ref '{base_ref}' is not a branch, tag or commit in {top}")
            base_commit, base_branch = found, None

    carried = _snapshot_uncommitted(top, base_commit, task_id) if include_uncommitted else None
    start = carried or base_commit

    name, key = _repo_key(_common_dir(top))
    root = Path(root_dir).absolute()
    _mkdir_private(root / f"{name}-{key}")
    root = Path(os.path.realpath(root))
    path = root / f"{name}-{key}" / task_id
    with _repo_lock(root, key):
        if _rev(top, ref) is not None:
            raise GitError(
                f"branch '{branch}' already exists in {top}; use another task id, or remove "
                f"the old task's branch first"
            )
        if os.path.lexists(path):
            raise GitError(f"{path} already exists; use another task id or remove that path")
        _git(
            top,
            [
                *("update-ref", "-m", f"codex-swarm: task {task_id} from {base_ref or 'HEAD'}"),
                *(ref, start, ""),
            ],
        )
        try:
            _git(top, ["worktree", "add", "--quiet", "--", str(path), branch])
        except GitError:
            with contextlib.suppress(GitError):
                _git(top, ["update-ref", "-d", ref, start])
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
class _WorktreeEntry:
    path: Path
    head: str | None
    branch: str | None  # short name; None when detached or bare
    locked: bool
    main: bool


def _worktrees(cwd: Path) -> list[_WorktreeEntry]:
    out = _git(cwd, ["worktree", "list", "--porcelain", "-z"]).text()
    entries: list[_WorktreeEntry] = []
    for index, record in enumerate(block for block in out.split("\0\0") if block.strip("\0")):
        fields: dict[str, str] = {}
        for item in record.strip("\0").split("\0"):
            label, _, value = item.partition(" ")
            fields[label] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        entries.append(
            _WorktreeEntry(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                locked="locked" in fields,
                main=index == 0,
            )
        )
    return entries


def _same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _holders(cwd: Path, branch: str, *, besides: Path | None = None) -> list[Path]:
    """Worktrees that have ``branch`` checked out (other than ``besides``)."""
    return [
        entry.path
        for entry in _worktrees(cwd)
        if entry.branch == branch and not (besides is not None and _same_path(entry.path, besides))
    ]


# --------------------------------------------------------------------------------------------
# Committing an agent's work


def _abort_operations(path: Path) -> list[str]:
    notes: list[str] = []
    for what, abort in _operations_in_progress(path):
        try:
            _git(path, list(abort))
            notes.append(f"{what} was left in the worktree and was aborted before committing.")
        except GitError as exc:
            if abort[0] not in ("merge", "cherry-pick", "revert"):
                raise GitError(
                    f"the worktree {path} has {what} that could not be aborted ({exc}); "
                    f"finish it there by hand, then commit again"
                ) from exc
            _git(path, [abort[0], "--quit"])
            notes.append(
                f"{what} was left in the worktree and could not be aborted; it was dropped and "
                f"the files were committed as they were (they may contain conflict markers)."
            )
        log.warning("%s: %s", path, notes[-1])
    return notes


def _ensure_on_branch(path: Path, branch: str) -> None:
    """Put the worktree's HEAD back on the task branch if the agent moved it away safely."""
    ref = f"refs/heads/{branch}"
    tip = _rev(path, ref)
    if tip is None:
        raise GitError(f"task branch '{branch}' no longer exists, so {path} cannot be committed")
    current = _git(path, ["symbolic-ref", "--quiet", "HEAD"], ok=(0, 1))
    if current.code == 0 and current.line() == ref:
        return
    head = _rev(path, "HEAD")
    where = (
        f"branch '{current.line().removeprefix('refs/heads/')}'"
        if current.code == 0
        else "a detached HEAD"
    )
    if head is None or not (head == tip or _is_ancestor(path, tip, head)):
        raise GitError(
            f"the worktree {path} has {where} checked out instead of task branch '{branch}', "
            f"and it does not build on that branch; run `git -C {path} switch {branch}` "
            f"(or merge that work into it) and commit again"
        )
    elsewhere = _holders(path, branch, besides=path)
    if elsewhere:
        raise GitError(
            f"the worktree {path} has {where} checked out while task branch '{branch}' is "
            f"checked out in {elsewhere[0]}; switch one of them back by hand"
        )
    if head != tip:
        _git(
            path,
            ["update-ref", "-m", f"codex-swarm: take over commits from {where}", ref, head, tip],
        )
    _git(path, ["symbolic-ref", "-m", "codex-swarm: back to the task branch", "HEAD", ref])
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
    top = _git(path, ["rev-parse", "--show-toplevel"]).line()
    if not _same_path(Path(top), path):
        raise GitError(f"{path} is not the top level of a git worktree")
    notes = _abort_operations(path)
    _ensure_on_branch(path, wt.branch)
    _git(path, ["add", "--all"])
    staged = _git(path, ["diff", "--cached", "--quiet", "--ignore-submodules=none"], ok=(0, 1))
    if staged.code == 0:
        return None
    text = message.rstrip() + ("\n\n" + "\n".join(notes) if notes else "") + "\n"
    _git(
        path,
        ["commit", "--no-verify", "--quiet", "-F", "-"],
        stdin=text.encode(),
        config=_identity(path),
    )
    return _commit(path, "HEAD", "HEAD")


# --------------------------------------------------------------------------------------------
# Describing work


@dataclass(frozen=True)
class _MergeTree:
    clean: bool
    tree: str
    conflicts: list[str]


def _merge_tree(cwd: Path, ours: str, theirs: str) -> _MergeTree:
    """Merge two commits in memory (``git merge-tree --write-tree``): no checkout, no index."""
    result = _git(
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
    return _MergeTree(clean=result.code == 0, tree=parts[0].strip(), conflicts=conflicts)


def _numstat(cwd: Path, base: str, head: str) -> list[FileChange]:
    out = _git(
        cwd,
        ["diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", base, head],
    ).text()
    files: list[FileChange] = []
    for record in out.split("\0"):
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        files.append(
            FileChange(
                path=path,
                insertions=None if added == "-" else int(added),
                deletions=None if deleted == "-" else int(deleted),
            )
        )
    return files


def outcome(repo: Path, branch: str, base_commit: str, target: str | None) -> Outcome:
    """What the task branch changed since ``base_commit``, and whether it merges into ``target``.

    The prediction uses the target's current tip and touches no checkout or index.
    """
    repo = Path(repo)
    short, head = _branch_tip(repo, branch, "branch")
    base = _commit(repo, base_commit, "base_commit")
    files = _numstat(repo, base, head)
    target_commit: str | None = None
    merges_cleanly: bool | None = None
    conflicts: list[str] = []
    target_name: str | None = None
    if target is not None:
        target_name, target_commit = _branch_tip(repo, target, "target")
        predicted = _merge_tree(repo, target_commit, head)
        merges_cleanly, conflicts = predicted.clean, predicted.conflicts
    return Outcome(
        branch=short,
        base_commit=base,
        head_commit=head,
        committed=head != base,
        files=files,
        insertions=sum(f.insertions or 0 for f in files),
        deletions=sum(f.deletions or 0 for f in files),
        target=target_name,
        target_commit=target_commit,
        merges_cleanly=merges_cleanly,
        conflicts=conflicts,
    )


def _pathspecs(paths: Sequence[str]) -> list[str]:
    specs: list[str] = []
    for path in paths:
        if not path or "\0" in path:
            raise GitError(f"path {path!r} is not a usable path")
        clean = path.removeprefix("./").rstrip("/") or "."
        # Literal (no globs, no magic in the caller's text), relative to the repository top.
        specs.append(f":(top,literal){clean}" if clean != "." else ":(top)")
    return specs


def diff(
    repo: Path,
    base_commit: str,
    head: str,
    *,
    paths: list[str] | None = None,
    stat_only: bool = False,
    max_chars: int = 20000,
) -> dict[str, Any]:
    """``git diff --stat`` and the patch between two commits, the patch cut at ``max_chars``.

    Keys: stat, patch (None when ``stat_only``), truncated, total_chars, shown_chars, and where
    the cut fell: ``cut_in_path`` (the file whose patch was cut part-way, or None) and
    ``omitted_paths`` (every file whose patch is missing in whole or in part; pass some of them
    as ``paths`` to see them).
    """
    repo = Path(repo)
    base = _commit(repo, base_commit, "base_commit")
    tip = _commit(repo, head, "head")
    spec = ["--", *_pathspecs(paths)] if paths else []
    common = ["--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", base, tip, *spec]
    stat = _git(repo, ["diff", "--stat=200", *common]).out.decode("utf-8", "replace")
    patch = _git(repo, ["diff", "--patch", *common]).out.decode("utf-8", "replace")
    total = len(patch)
    result: dict[str, Any] = {
        "stat": stat,
        "patch": None,
        "truncated": False,
        "total_chars": total,
        "shown_chars": 0,
        "cut_in_path": None,
        "omitted_paths": [],
    }
    if stat_only:
        return result
    shown = patch
    if total > max(max_chars, 0):
        cut = patch.rfind("\n", 0, max(max_chars, 0))
        shown = patch[: cut + 1] if cut >= 0 else ""
    result.update(patch=shown, shown_chars=len(shown))
    if len(shown) < total:
        names = [
            name
            for name in _git(repo, ["diff", "--name-only", "-z", *common]).text().split("\0")
            if name
        ]
        headers = shown.startswith("diff --git ") + shown.count("\ndiff --git ")
        at_boundary = patch[len(shown) :].startswith("diff --git ")
        complete = headers if at_boundary else max(headers - 1, 0)
        result.update(
            truncated=True,
            cut_in_path=None if at_boundary or headers == 0 else names[headers - 1],
            omitted_paths=names[complete:],
        )
    return result


# --------------------------------------------------------------------------------------------
# Merging


def _toplevel(repo: Path) -> Path:
    repo = Path(repo)
    if not repo.is_dir():
        raise GitError(f"repo {repo} does not exist or is not a directory")
    result = _git(repo, ["rev-parse", "--show-toplevel"], ok=(0, 128))
    if result.code != 0 or not result.line():
        raise GitError(f"repo {repo} is not a git checkout")
    return Path(result.line())


def _dirty_tracked(top: Path) -> list[str]:
    out = _git(
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


def _checkout_blocker(top: Path, target: str) -> str | None:
    """Why the checkout at ``top`` cannot take a merge into ``target`` now, or None."""
    current = _git(top, ["symbolic-ref", "--quiet", "HEAD"], ok=(0, 1))
    if current.code != 0:
        head = _rev(top, "HEAD") or "?"
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
    operations = _operations_in_progress(top)
    if operations:
        return f"the checkout at {top} has {operations[0][0]} in progress; finish or abort it first"
    dirty = _dirty_tracked(top)
    if dirty:
        listed = ", ".join(dirty[:20]) + (f" and {len(dirty) - 20} more" if len(dirty) > 20 else "")
        return (
            f"the checkout at {top} has uncommitted changes to tracked files: {listed}; commit "
            f"or stash them, then merge again"
        )
    return None


def _in_the_way(top: Path, old: str, new_tree: str) -> list[str]:
    """Paths the merge would create that already exist untracked (or ignored) on disk."""
    out = _git(top, ["diff", "--name-status", "-z", "--no-renames", old, new_tree]).text()
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


def _commit_tree(
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
    return _git(cwd, [*args, "-F", "-"], stdin=text.encode(), config=identity, env=env).line()


def _replay(
    top: Path, tip: str, onto: str, identity: Sequence[str]
) -> tuple[str, list[str], str | None]:
    """Rebase ``onto..tip`` onto ``onto`` in memory: (new tip, conflicts, failing commit).

    Each commit C with parent P is cherry-picked by merging C with a scaffold commit that has
    the current result's tree and P as its only parent, so ``merge-tree`` uses P as the merge
    base (the same three-way merge ``git cherry-pick`` does). Like ``git rebase``, merge
    commits and commits whose change is already upstream are dropped, as are commits that
    become empty. Nothing is checked out and no ref moves; only new objects are written.
    """
    listed = _git(
        top,
        [
            *("rev-list", "--reverse", "--topo-order", "--no-merges", "--right-only"),
            *("--cherry-pick", f"{onto}...{tip}"),
        ],
    ).text()
    current = onto
    for commit in listed.split():
        parent = _git(top, ["rev-parse", f"{commit}^"]).line()
        current_tree = _tree(top, current)
        scaffold = _commit_tree(
            top, current_tree, [parent], "codex-swarm rebase scaffold", identity
        )
        merged = _merge_tree(top, scaffold, commit)
        if not merged.clean:
            return current, merged.conflicts, commit
        if merged.tree == current_tree:
            continue
        info = _git(
            top, ["show", "-s", "--date=raw", "--format=%an%x00%ae%x00%ad%x00%B", commit]
        ).text()
        name, email, date, body = info.split("\0", 3)
        author = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        current = _commit_tree(top, merged.tree, [current], body, identity, env=author)
    return current, [], None


def _summary(cwd: Path, commit: str) -> str:
    return _git(cwd, ["show", "-s", "--abbrev=12", "--format=%h %s", commit]).line()


def merge(
    repo: Path, branch: str, *, target: str, strategy: str = "merge", message: str
) -> MergeResult:
    """Merge ``branch`` into ``target`` in the checkout at ``repo``, only when that is safe.

    The new commit(s) are built in memory first (``merge-tree`` + ``commit-tree``): ``merge``
    makes a merge commit (like ``git merge --no-ff``), ``squash`` one commit with ``message``,
    ``rebase`` replays the branch's commits onto the target's tip (``message`` unused). Then
    the checkout is fast-forwarded to the result with ``git merge --ff-only``. Refused, with
    nothing changed, when the checkout is not on ``target``, has changes to tracked files or an
    operation in progress, when the merge conflicts, or when it would overwrite untracked files.
    """
    if strategy not in STRATEGIES:
        raise GitError(f"strategy {strategy!r} is unknown; use one of {', '.join(STRATEGIES)}")
    top = _toplevel(repo)
    branch, tip = _branch_tip(top, branch, "branch")
    target, target_tip = _branch_tip(top, target, "target")
    if branch == target:
        raise GitError(f"cannot merge branch '{branch}' into itself")
    if strategy != "rebase" and not message.strip():
        raise GitError("a commit message is required for merge and squash")

    def refused(why: str, conflicts: Sequence[str] = ()) -> MergeResult:
        return MergeResult(False, None, strategy, target, list(conflicts), why)

    def nothing(why: str) -> MergeResult:
        return MergeResult(True, target_tip, strategy, target, [], why)

    if _is_ancestor(top, tip, target_tip):
        return nothing(f"'{target}' already contains every commit of '{branch}'; nothing to do")
    blocker = _checkout_blocker(top, target)
    if blocker:
        return refused(blocker)
    predicted = _merge_tree(top, target_tip, tip)
    if not predicted.clean:
        return refused(
            f"'{branch}' conflicts with the current tip of '{target}' in "
            f"{', '.join(predicted.conflicts) or 'some paths'}; nothing was changed. Resolve "
            f"the conflicts on the branch (e.g. merge '{target}' into it in its worktree), then "
            f"merge again",
            predicted.conflicts,
        )
    if predicted.tree == _tree(top, target_tip):
        return nothing(
            f"'{target}' already has every change of '{branch}' (merged, squashed or rebased "
            f"earlier); nothing to do"
        )
    blocked = _in_the_way(top, target_tip, predicted.tree)
    if blocked:
        return refused(
            f"the merge would overwrite untracked or ignored files in {top}: "
            f"{', '.join(blocked)}; move them away, then merge again",
            blocked,
        )

    identity = _identity(top)
    if strategy == "merge":
        new = _commit_tree(top, predicted.tree, [target_tip, tip], message, identity)
    elif strategy == "squash":
        new = _commit_tree(top, predicted.tree, [target_tip], message, identity)
    elif _is_ancestor(top, target_tip, tip):
        new = tip  # already based on target's tip: a plain fast-forward
    else:
        new, conflicts, failed = _replay(top, tip, target_tip, identity)
        if conflicts:
            return refused(
                f"rebasing '{branch}' onto '{target}' conflicts at commit "
                f"{_summary(top, failed or tip)!r} in {', '.join(conflicts)}; nothing was "
                f"changed. Use strategy 'merge' or 'squash', or rebase the branch by hand",
                conflicts,
            )
        if new == target_tip:
            return nothing(f"'{target}' already has every change of '{branch}'; nothing to do")

    try:
        _git(
            top,
            ["merge", "--ff-only", "--no-autostash", "--quiet", new],
            env={"GIT_REFLOG_ACTION": f"codex-swarm {strategy} {branch}"},
        )
    except GitError as exc:
        return refused(f"fast-forwarding '{target}' in {top} failed, nothing was changed: {exc}")
    commit = _commit(top, f"refs/heads/{target}", "target")
    note = ""
    if strategy == "rebase" and new != tip:
        if _holders(top, branch):
            note = f"; '{branch}' still points at its original commits (it is checked out)"
        else:
            try:  # the merge is done either way; moving the task branch is a courtesy
                _git(
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


# --------------------------------------------------------------------------------------------
# Merged or not, and cleaning up


def _cherry(cwd: Path, upstream: str, head: str) -> list[tuple[str, str]]:
    """(sign, 'sha subject') for each non-merge commit of head not in upstream; sign '-' when
    an equivalent change (same patch id) is already upstream."""
    out = _git(cwd, ["cherry", "-v", "--abbrev=12", upstream, head]).text()
    rows: list[tuple[str, str]] = []
    for line in out.splitlines():
        sign, _, rest = line.partition(" ")
        if sign in "+-" and rest:
            rows.append((sign, rest))
    return rows


def _merged(cwd: Path, tip: str, into_tip: str) -> bool:
    if tip == into_tip or _is_ancestor(cwd, tip, into_tip):
        return True
    with contextlib.suppress(GitError):
        predicted = _merge_tree(cwd, into_tip, tip)
        if predicted.clean and predicted.tree == _tree(cwd, into_tip):
            return True  # merging would change nothing: squash-merged, rebased or cherry-picked
    rows = _cherry(cwd, into_tip, tip)
    return bool(rows) and all(sign == "-" for sign, _ in rows)


def _unmerged(cwd: Path, tip: str, into_tip: str) -> list[str]:
    if _merged(cwd, tip, into_tip):
        return []
    lines = [rest for sign, rest in _cherry(cwd, into_tip, tip) if sign == "+"]
    if not lines:
        out = _git(cwd, ["log", "--abbrev=12", "--format=%h %s", f"{into_tip}..{tip}"]).text()
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
    _, tip = _branch_tip(repo, branch, "branch")
    _, into_tip = _branch_tip(repo, into, "into")
    return _merged(repo, tip, into_tip)


def unmerged_commits(repo: Path, branch: str, into: str) -> list[str]:
    """One line ('<sha> <subject>') per commit of ``branch`` whose work is not in ``into``."""
    repo = Path(repo)
    _, tip = _branch_tip(repo, branch, "branch")
    _, into_tip = _branch_tip(repo, into, "into")
    return _unmerged(repo, tip, into_tip)


def _unreachable(cwd: Path, tip: str, *, besides: str | None = None) -> list[str]:
    """Commits of ``tip`` reachable from no branch (other than ``besides``), tag or remote."""
    exclude = [f"--exclude={besides}"] if besides else []
    out = _git(
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
    entry = next((e for e in _worktrees(top) if _same_path(e.path, path)), None)
    if entry is None:
        if os.path.lexists(path):
            return False, f"{path} is not a worktree of {top}, so it was left alone", []
        return False, None, []
    if entry.main:
        return False, f"{path} is the repository's main checkout; it is never removed", []
    if entry.locked:
        return False, f"worktree {path} is locked (`git worktree lock`), so it was kept", []
    if not path.exists():
        _git(top, ["worktree", "prune"])
        return True, None, []
    lost: list[str] = []
    try:
        problems = [what for what, _ in _operations_in_progress(path)]
        changed = [
            record[3:]
            for record in _git(
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
        _git(top, ["worktree", "remove", "--force", "--", str(entry.path)])
    except GitError as exc:
        return False, f"worktree {path} could not be removed: {exc}", []
    return True, None, lost


def _drop_branch_config(cwd: Path, short: str) -> None:
    result = _git(cwd, ["config", "--name-only", "--get-regexp", r"^branch\."], ok=(0, 1))
    if any(name.startswith(f"branch.{short}.") for name in result.text().splitlines()):
        with contextlib.suppress(GitError):
            _git(cwd, ["config", "--remove-section", f"branch.{short}"])


def cleanup(
    repo: Path, wt_path: Path | None, branch: str, *, into: str | None, force: bool = False
) -> Cleanup:
    """Remove the task's worktree and delete its branch, never losing unmerged work.

    The worktree is removed when everything in it is committed (or with ``force``). The branch
    is deleted only when it is merged into ``into`` (see :func:`is_merged`) or with ``force``,
    in which case ``lost_commits`` lists what is lost; otherwise it is kept and
    ``kept_reason`` says why.
    """
    top = Path(repo)
    short = _branch_name(top, branch, "branch")
    into_tip = _branch_tip(top, into, "into")[1] if into is not None else None
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
    tip = _rev(top, ref)
    if tip is not None:
        merged = into_tip is not None and _merged(top, tip, into_tip)
        holders = _holders(top, short)
        if not merged and not force:
            if into is None:
                reasons.append(
                    f"branch '{short}' was kept: no target branch was given to check that its "
                    f"work is merged; pass into=<branch>, or force=True to delete it anyway"
                )
            else:
                missing = _unmerged(top, tip, into_tip or tip)
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
                    _unmerged(top, tip, into_tip)
                    if into_tip is not None
                    else _unreachable(top, tip, besides=short)
                )
            _git(top, ["update-ref", "-m", "codex-swarm: cleanup", "-d", ref, tip])
            _drop_branch_config(top, short)
            deleted = True
    return Cleanup(
        removed_worktree=removed,
        deleted_branch=deleted,
        kept_reason="; ".join(reasons) or None,
        lost_commits=lost,
    )


def prune(repo: Path) -> None:
    """Forget worktrees whose directories are gone (``git worktree prune``)."""
    _git(Path(repo), ["worktree", "prune"])
