"""Validating caller text before it names a ref: branches, revisions, task ids.

Owns: the task branch prefix (``codex-swarm/``), the rules a revision, branch name or task id
must pass (no leading ``-``, no NUL or newline, ``git check-ref-format``), and resolving a
validated name to its commit, each refusal a :class:`~.run.GitError` that says what to change.

Must not: create, move or delete refs, or touch any checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

from .run import GitError, commit_of, run_git

BRANCH_PREFIX = "codex-swarm/"


_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_rev_text(rev: str, what: str) -> None:
    if not rev or not rev.strip() or rev.startswith("-") or any(c in rev for c in "\0\n\r"):
        raise GitError(
            f"{what} {rev!r} is not a valid git revision: it must be a branch, tag or commit "
            f"name, and must not be empty or start with '-'"
        )


def branch_name(cwd: Path, name: str, what: str) -> str:
    """``name`` (optionally ``refs/heads/``-prefixed) as a short branch name, if well formed."""
    check_rev_text(name, what)
    short = name.removeprefix("refs/heads/")
    if not valid_branch(cwd, short):
        raise GitError(f"{what} {name!r} is not a valid branch name")
    return short


def valid_branch(cwd: Path, short: str) -> bool:
    if not short or short.startswith("-"):
        return False
    result = run_git(cwd, ["check-ref-format", f"refs/heads/{short}"], ok=(0, 1, 128))
    return result.code == 0


def branch_tip(cwd: Path, name: str, what: str) -> tuple[str, str]:
    """(short name, commit) of an existing local branch."""
    short = branch_name(cwd, name, what)
    commit = commit_of(cwd, f"refs/heads/{short}")
    if commit is None:
        raise GitError(f"{what} '{short}' is not a branch in {cwd}")
    return short, commit


def local_branches(cwd: Path) -> dict[str, str]:
    """Every local branch's short name and commit, in one git process (a branch that points
    at anything else than a commit is left out)."""
    out = run_git(
        cwd, ["for-each-ref", "--format=%(objecttype) %(objectname) %(refname)", "refs/heads/"]
    ).text()
    found: dict[str, str] = {}
    for line in out.splitlines():
        kind, _, rest = line.partition(" ")
        commit, _, ref = rest.partition(" ")
        if kind == "commit" and ref.startswith("refs/heads/"):
            found[ref.removeprefix("refs/heads/")] = commit
    return found


def resolve_commit(cwd: Path, rev: str, what: str) -> str:
    check_rev_text(rev, what)
    commit = commit_of(cwd, rev)
    if commit is None:
        raise GitError(f"{what} '{rev}' is not a commit in {cwd}")
    return commit


def check_task_id(task_id: str) -> None:
    if not _TASK_ID.fullmatch(task_id) or ".." in task_id or task_id.endswith((".", ".lock")):
        raise GitError(
            f"task id {task_id!r} cannot name a branch: use letters, digits, '.', '_' and '-' "
            f"only, starting with a letter or digit (at most 100 characters)"
        )
