"""Running git safely: one subprocess per command, never prompting, never pointed elsewhere.

Owns: the :class:`GitError` every git failure becomes; :func:`run_git` (a clean environment
without the variables that would aim git at another repository or index, ``core.quotePath``
off, no pager or editor, a timeout, brief retries while git's own lock files are busy); and
small read-only questions every other module asks: a revision's commit or tree, ancestry,
the repository's git dir, common dir and top level, operations in progress, and the fallback
commit identity used only when the repository has none.

Must not: decide anything about tasks, branches or merges, or pass caller text unchecked
(callers validate refs with :mod:`.refs` first and put paths after ``--``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FALLBACK_NAME = "codex-swarm"


FALLBACK_EMAIL = "codex-swarm@localhost"


GIT_TIMEOUT = 600.0  # seconds for any single git command


LOCK_RETRIES = 8  # retries of a git command that failed on one of git's own lock files


_GIT_LOCK_ERROR = re.compile(r"\.lock'?: File exists|could not lock config file")


# Variables that would point git at another repository, index or object store than `cwd`'s.
REPO_ENV_VARS = frozenset(
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


@dataclass(frozen=True)
class GitResult:
    code: int
    out: bytes
    err: str

    def text(self) -> str:
        return self.out.decode("utf-8", "surrogateescape")

    def line(self) -> str:
        return self.text().strip()


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in REPO_ENV_VARS}
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


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    ok: Sequence[int] = (0,),
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    config: Sequence[str] = (),
) -> GitResult:
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
            return GitResult(proc.returncode, proc.stdout, err)
        if attempt < LOCK_RETRIES and _GIT_LOCK_ERROR.search(err):
            time.sleep(min(0.05 * 2**attempt, 1.0))
            continue
        detail = err[-1500:] or f"exit code {proc.returncode}"
        raise GitError(f"`git {' '.join(args[:2])}` failed in {cwd}: {detail}")
    raise AssertionError("unreachable")


def commit_of(cwd: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None. ``rev`` must already be validated."""
    result = run_git(
        cwd,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        ok=(0, 1, 128),
    )
    return result.line() if result.code == 0 and result.line() else None


def tree_of(cwd: Path, commit: str) -> str:
    return run_git(cwd, ["rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}"]).line()


def is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    result = run_git(cwd, ["merge-base", "--is-ancestor", ancestor, descendant], ok=(0, 1))
    return result.code == 0


def identity_options(cwd: Path) -> list[str]:
    """``-c`` options giving commits a fallback identity, only where none is configured."""
    options: list[str] = []
    for key, fallback in (("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)):
        result = run_git(cwd, ["config", "--get", key], ok=(0, 1))
        if result.code != 0 or not result.line():
            options += ["-c", f"{key}={fallback}"]
    return options


def git_dir_of(cwd: Path) -> Path:
    return Path(run_git(cwd, ["rev-parse", "--absolute-git-dir"]).line())


def operations_in_progress(cwd: Path) -> list[tuple[str, tuple[str, ...]]]:
    git_dir = git_dir_of(cwd)
    found: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()  # one operation per state directory (`am` and rebase share one)
    for marker, what, abort in _OPERATIONS:
        state = marker.split("/")[0]
        if state not in seen and (git_dir / marker).exists():
            seen.add(state)
            found.append((what, abort))
    return found


def common_dir(top: Path) -> Path:
    out = run_git(top, ["rev-parse", "--path-format=absolute", "--git-common-dir"]).line()
    return Path(os.path.realpath(out))


def same_path(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def toplevel(repo: Path) -> Path:
    repo = Path(repo)
    if not repo.is_dir():
        raise GitError(f"repo {repo} does not exist or is not a directory")
    result = run_git(repo, ["rev-parse", "--show-toplevel"], ok=(0, 128))
    if result.code != 0 or not result.line():
        raise GitError(f"repo {repo} is not a git checkout")
    return Path(result.line())
