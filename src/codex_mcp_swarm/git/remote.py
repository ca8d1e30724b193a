"""Moving a task's code through a git remote, for tasks that run on another host (Ray workers).

Owns the git commands of that round trip, on both sides:

* server: resolve the remote (a name of the user's repository, or a URL), push a task's base
  commit to a private ref ``refs/codex-swarm/base/<task_id>``, and later fetch the task's branch
  ``codex-swarm/<task_id>`` back into the user's repository and delete the private ref;
* worker: keep one bare cache repository per remote under a node-local directory, fetch a
  task's base into it, add the task's worktree on branch ``codex-swarm/<task_id>``, push that
  branch when the task has ended, and remove the worktree again.

Must not: know about tasks, the store, Ray or MCP. Plain functions over paths, URLs and task
ids; every failure is a :class:`~.run.GitError` whose message says what to do. Safety as
in :mod:`.worktrees`: task ids are checked before they name a ref or a path, remotes and refs
follow ``--end-of-options``, and git never prompts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .refs import BRANCH_PREFIX
from .run import GitError

BASE_PREFIX = "refs/codex-swarm/base/"
GIT_TIMEOUT = 600.0
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


def branch_ref(task_id: str) -> str:
    _check_id(task_id)
    return f"refs/heads/{BRANCH_PREFIX}{task_id}"


def resolve_remote(repo: Path, remote: str | None) -> str:
    """The URL of ``remote`` (a remote's name in ``repo``; default ``origin``) or ``remote``
    itself when it already is a URL or a path."""
    name = remote or "origin"
    if name.startswith("-"):
        raise GitError(f"the git remote {name!r} may not start with '-'")
    if _REMOTE_NAME.match(name) and "/" not in name and ":" not in name:
        url = _run(repo, ["remote", "get-url", "--end-of-options", name], ok=(0, 2, 128))
        if not url:
            raise GitError(
                f"the repository {repo} has no git remote named {name!r}: the Ray backend moves "
                "code through a remote both the server and the workers reach. Add one (git "
                "remote add) or start the server with --git-remote URL."
            )
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


def fetch_branch(repo: Path, url: str, task_id: str) -> str:
    """Fetch the task's pushed branch into ``repo`` (same name) and drop the private base ref on
    the remote. Returns the branch's commit."""
    ref = branch_ref(task_id)
    _run(repo, ["fetch", "--quiet", "--no-tags", "--end-of-options", url, f"+{ref}:{ref}"])
    with contextlib.suppress(GitError):  # a leftover private ref is harmless
        _run(
            repo,
            ["push", "--quiet", "--no-verify", "--end-of-options", url, f":{base_ref(task_id)}"],
        )
    return _run(repo, ["rev-parse", "--verify", "--end-of-options", ref + "^{commit}"])


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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def cache_repo(cache_root: Path, url: str) -> Path:
    """The node's bare cache repository for ``url`` (made on first use)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    repo = cache_root / f"{key}.git"
    with _locked(cache_root / f"{key}.lock"):
        if not (repo / "HEAD").exists():
            _run(cache_root, ["init", "--quiet", "--bare", "--", str(repo)])
    return repo


def checkout_task(
    cache_root: Path, url: str, task_id: str, worktree_root: Path
) -> tuple[Path, str]:
    """Fetch the task's base from ``url`` into the node's cache and add the task's worktree on
    branch ``codex-swarm/<task_id>``. Returns (worktree path, base commit)."""
    repo = cache_repo(cache_root, url)
    private = base_ref(task_id)
    branch = branch_ref(task_id)
    path = worktree_root / task_id
    worktree_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = repo.name.removesuffix(".git")
    with _locked(cache_root / f"{key}.lock"):
        _run(
            repo,
            ["fetch", "--quiet", "--no-tags", "--end-of-options", url, f"+{private}:{private}"],
        )
        commit = _run(repo, ["rev-parse", "--verify", "--end-of-options", private + "^{commit}"])
        _run(repo, ["update-ref", branch, commit])
        if path.exists():
            raise GitError(f"{path} already exists on this worker; remove it and retry")
        _run(repo, ["worktree", "add", "--quiet", "--", str(path), BRANCH_PREFIX + task_id])
    return path, commit


def push_task_branch(cache_root: Path, url: str, task_id: str) -> str:
    """Push the task's branch from the node's cache to ``url``; returns its commit."""
    repo = cache_repo(cache_root, url)
    ref = branch_ref(task_id)
    _run(repo, ["push", "--quiet", "--no-verify", "--end-of-options", url, f"+{ref}:{ref}"])
    return _run(repo, ["rev-parse", "--verify", "--end-of-options", ref + "^{commit}"])


def remove_task(cache_root: Path, url: str, task_id: str, worktree_root: Path) -> None:
    """Remove the task's worktree, branch and private ref from the node's cache."""
    repo = cache_repo(cache_root, url)
    key = repo.name.removesuffix(".git")
    with _locked(cache_root / f"{key}.lock"):
        with contextlib.suppress(GitError):
            _run(repo, ["worktree", "remove", "--force", "--", str(worktree_root / task_id)])
        for ref in (branch_ref(task_id), base_ref(task_id)):
            with contextlib.suppress(GitError):
                _run(repo, ["update-ref", "-d", ref])
        with contextlib.suppress(GitError):
            _run(repo, ["worktree", "prune"])
