"""Moving a task's code through a git remote, for tasks that run on another host (Ray workers).

Owns the git commands of that round trip, on both sides:

* server: resolve the remote (a name of the user's repository, or a URL), push a task's base
  commit to a private ref ``refs/codex-swarm/base/<task_id>``, and later fetch the task's branch
  ``codex-swarm/<task_id>`` back into the user's repository and delete the private ref;
* worker: keep one bare cache repository per remote under a node-local directory, fetch a
  task's base into it, add the task's worktree on branch ``codex-swarm/<task_id>``, push that
  branch when the task has ended, and remove the worktree again.

A task that continues another's worktree (a reply) works on that task's branch: ``branch_id``
names the task whose branch (``codex-swarm/<branch_id>``) and worktree directory it uses, and
its private ref (named by its own id) holds the branch's tip as the server had it. Its branch
comes back only as a fast-forward, so work added to the branch meanwhile is never overwritten.

A task that only looks at another's work (a review, a read-only fork) gets a detached checkout
of its private ref: no branch, nothing pushed back. A running task's work so far (for a fork or
a review of it) travels the other way: the worker writes it as a commit and pushes it to a
private ref ``refs/codex-swarm/snap/<key>``, which the server fetches and deletes.

Must not: know about tasks, the store, Ray or MCP. Plain functions over paths, URLs and task
ids; every failure is a :class:`~.run.GitError` whose message says what to do. Safety as
in :mod:`.worktrees`: task ids are checked before they name a ref or a path, remotes and refs
follow ``--end-of-options``, and git never prompts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
from pathlib import Path

from .lock import flock
from .refs import BRANCH_PREFIX
from .run import GitError

BASE_PREFIX = "refs/codex-swarm/base/"
SNAPSHOT_PREFIX = "refs/codex-swarm/snap/"
GIT_TIMEOUT = 600.0
CACHE_LOCK_TIMEOUT = 300.0  # seconds to wait while another task creates a node's cache repository
_TASK_ID = re.compile(r"^[a-z0-9]{6,32}$")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _check_id(task_id: str) -> None:
    if not _TASK_ID.match(task_id):
        raise GitError(f"invalid task id {task_id!r}")


def _run(cwd: Path, args: list[str], *, ok: tuple[int, ...] = (0,)) -> str:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "LC_ALL": "C",
    }
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        env.pop(name, None)
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]} could not run in {cwd}: {exc}") from exc
    if done.returncode not in ok:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise GitError(f"git {args[0]} failed in {cwd}: {' '.join(detail) or done.returncode}")
    return done.stdout.strip()


def base_ref(task_id: str) -> str:
    _check_id(task_id)
    return BASE_PREFIX + task_id


def snapshot_ref(key: str) -> str:
    _check_id(key)
    return SNAPSHOT_PREFIX + key


def branch_ref(task_id: str) -> str:
    _check_id(task_id)
    return f"refs/heads/{BRANCH_PREFIX}{task_id}"


class NoRemote(GitError):
    """The repository has no git remote of that name (the caller says what to do instead)."""

    def __init__(self, repo: Path, name: str) -> None:
        super().__init__(repo, name)  # its arguments, so that it pickles as it is
        self.repo, self.name = repo, name

    def __str__(self) -> str:
        return f"the repository {self.repo} has no git remote named {self.name!r} (git remote add)"


def resolve_remote(repo: Path, remote: str | None) -> str:
    """The URL of ``remote`` (a remote's name in ``repo``; default ``origin``) or ``remote``
    itself when it already is a URL or a path."""
    name = remote or "origin"
    if name.startswith("-"):
        raise GitError(f"the git remote {name!r} may not start with '-'")
    if _REMOTE_NAME.match(name) and "/" not in name and ":" not in name:
        url = _run(repo, ["remote", "get-url", "--end-of-options", name], ok=(0, 2, 128))
        if not url:
            raise NoRemote(repo, name)
        return url
    return name


def push_base(repo: Path, url: str, commit: str, task_id: str) -> None:
    """Push ``commit`` (the task's base, or its carried snapshot) to the task's private ref."""
    _run(
        repo,
        [
            "push",
            "--quiet",
            "--no-verify",
            "--end-of-options",
            url,
            f"+{commit}:{base_ref(task_id)}",
        ],
    )


def branch_commit(repo: Path, branch_id: str) -> str:
    """The commit branch ``codex-swarm/<branch_id>`` of ``repo`` points at."""
    ref = branch_ref(branch_id)
    out = _run(
        repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}"], ok=(0, 1)
    )
    if not out:
        raise GitError(f"the repository {repo} has no branch {BRANCH_PREFIX}{branch_id}")
    return out


def fetch_branch(repo: Path, url: str, task_id: str, branch_id: str | None = None) -> str:
    """Fetch the task's pushed branch into ``repo`` (same name) and drop the private base ref on
    the remote. Returns the branch's commit. A task that continued another's branch
    (``branch_id``) updates it only by a fast-forward."""
    ref = branch_ref(branch_id or task_id)
    force = "" if branch_id not in (None, task_id) else "+"
    _run(repo, ["fetch", "--quiet", "--no-tags", "--end-of-options", url, f"{force}{ref}:{ref}"])
    with contextlib.suppress(GitError):  # a leftover private ref is harmless
        _run(
            repo,
            ["push", "--quiet", "--no-verify", "--end-of-options", url, f":{base_ref(task_id)}"],
        )
    return _run(repo, ["rev-parse", "--verify", "--end-of-options", ref + "^{commit}"])


def fetch_snapshot(repo: Path, url: str, key: str) -> str:
    """Fetch the commit a worker pushed to ``refs/codex-swarm/snap/<key>`` into ``repo`` and
    delete that ref on both sides; returns the commit (the caller points a branch at it, or
    pushes it on, at once: until then only its objects are here)."""
    ref = snapshot_ref(key)
    _run(repo, ["fetch", "--quiet", "--no-tags", "--end-of-options", url, f"+{ref}:{ref}"])
    try:
        return _run(repo, ["rev-parse", "--verify", "--end-of-options", ref + "^{commit}"])
    finally:
        with contextlib.suppress(GitError):
            _run(repo, ["update-ref", "-d", ref])
        with contextlib.suppress(GitError):
            _run(repo, ["push", "--quiet", "--no-verify", "--end-of-options", url, f":{ref}"])


def remove_local_worktree(repo: Path, path: Path) -> None:
    """Remove a freshly made worktree checkout (its branch stays): the work happens elsewhere."""
    _run(repo, ["worktree", "remove", "--force", "--", str(path)])


def drop_base(repo: Path, url: str, task_id: str) -> None:
    """Delete the task's private base ref on the remote (a task that never ran)."""
    with contextlib.suppress(GitError):
        _run(
            repo,
            ["push", "--quiet", "--no-verify", "--end-of-options", url, f":{base_ref(task_id)}"],
        )


# ---- the worker's side --------------------------------------------------------------------------


def cache_repo(cache_root: Path, url: str) -> Path:
    """The node's bare cache repository for ``url`` (made on first use)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    repo = cache_root / f"{key}.git"
    with flock(cache_root / f"{key}.lock", CACHE_LOCK_TIMEOUT, "another task making this cache"):
        if not (repo / "HEAD").exists():
            _run(cache_root, ["init", "--quiet", "--bare", "--", str(repo)])
    return repo


def checkout_task(
    cache_root: Path,
    url: str,
    task_id: str,
    worktree_root: Path,
    branch_id: str | None = None,
    *,
    detached: bool = False,
) -> tuple[Path, str]:
    """Fetch the task's base from ``url`` into the node's cache and add the task's worktree on
    branch ``codex-swarm/<branch_id>`` (default: the task's own) in ``worktree_root/<branch_id>``.
    Returns (worktree path, base commit). ``detached``: a checkout of the base alone, on no
    branch (a task that only looks at the work).

    A checkout of that branch left on this node by an earlier task (its removal failed) is
    replaced when it holds nothing the new base lacks; otherwise this refuses."""
    branch_id = branch_id or task_id
    repo = cache_repo(cache_root, url)
    private = base_ref(task_id)
    branch = branch_ref(branch_id)
    path = worktree_root / branch_id
    worktree_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = repo.name.removesuffix(".git")
    with flock(cache_root / f"{key}.lock", CACHE_LOCK_TIMEOUT, "another task making this cache"):
        _run(
            repo,
            ["fetch", "--quiet", "--no-tags", "--end-of-options", url, f"+{private}:{private}"],
        )
        commit = _run(repo, ["rev-parse", "--verify", "--end-of-options", private + "^{commit}"])
        if path.exists():
            _drop_leftover(repo, path, commit)
        if detached:
            _run(repo, ["worktree", "add", "--quiet", "--detach", "--", str(path), commit])
        else:
            _run(repo, ["update-ref", branch, commit])
            _run(repo, ["worktree", "add", "--quiet", "--", str(path), BRANCH_PREFIX + branch_id])
    return path, commit


def _drop_leftover(repo: Path, path: Path, commit: str) -> None:
    """Remove an earlier task's checkout at ``path`` if all it holds is in ``commit``."""
    refuse = GitError(
        f"{path} already exists on this worker and holds work that is not on the task's "
        "branch; move it away (or remove it) and retry"
    )
    try:
        top = _run(path, ["rev-parse", "--show-toplevel"])
        head = _run(path, ["rev-parse", "--verify", "HEAD^{commit}"])
        dirty = _run(path, ["status", "--porcelain", "--untracked-files=all"])
    except GitError:
        raise refuse from None
    if Path(top).resolve() != path.resolve() or dirty or not _is_ancestor(repo, head, commit):
        raise refuse
    _run(repo, ["worktree", "remove", "--force", "--", str(path)])


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    try:
        _run(repo, ["merge-base", "--is-ancestor", "--end-of-options", older, newer])
    except GitError:
        return False
    return True


def push_task_branch(cache_root: Path, url: str, branch_id: str) -> str:
    """Push branch ``codex-swarm/<branch_id>`` (the task's own, or the one it continued) from
    the node's cache to ``url``; returns its commit."""
    repo = cache_repo(cache_root, url)
    ref = branch_ref(branch_id)
    _run(repo, ["push", "--quiet", "--no-verify", "--end-of-options", url, f"+{ref}:{ref}"])
    return _run(repo, ["rev-parse", "--verify", "--end-of-options", ref + "^{commit}"])


def push_snapshot(worktree: Path, url: str, commit: str, key: str) -> None:
    """Push ``commit`` (a running task's work so far, written in ``worktree``'s repository) to
    the private ref ``refs/codex-swarm/snap/<key>`` for the server to fetch."""
    ref = snapshot_ref(key)
    _run(worktree, ["push", "--quiet", "--no-verify", "--end-of-options", url, f"+{commit}:{ref}"])


def remove_task(
    cache_root: Path, url: str, task_id: str, worktree_root: Path, branch_id: str | None = None
) -> None:
    """Remove the task's worktree, branch (``branch_id``'s, default its own) and private ref
    from the node's cache."""
    branch_id = branch_id or task_id
    repo = cache_repo(cache_root, url)
    key = repo.name.removesuffix(".git")
    with flock(cache_root / f"{key}.lock", CACHE_LOCK_TIMEOUT, "another task making this cache"):
        with contextlib.suppress(GitError):
            _run(repo, ["worktree", "remove", "--force", "--", str(worktree_root / branch_id)])
        for ref in (branch_ref(branch_id), base_ref(task_id)):
            with contextlib.suppress(GitError):
                _run(repo, ["update-ref", "-d", ref])
        with contextlib.suppress(GitError):
            _run(repo, ["worktree", "prune"])
