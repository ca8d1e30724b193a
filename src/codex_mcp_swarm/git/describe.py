"""Describing a task's work: which files changed and how much, and the diff itself.

Owns: :class:`Outcome` (files with insertions and deletions, committed or not, and whether the
branch merges cleanly into a target's current tip, predicted in memory) and :func:`diff` (a
:class:`Diff`: the stat and the patch between two commits, cut at a line boundary with a note
of what was left out). Read-only: no ref moves and no checkout or index is touched.

Must not: merge, move refs, or decide what a task's target is (the engine does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .merging import merge_tree
from .refs import branch_tip, resolve_commit
from .run import GitError, run_git


@dataclass(frozen=True)
class FileChange:
    path: str
    insertions: int | None  # None for binary files
    deletions: int | None


@dataclass(frozen=True)
class Outcome:
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


@dataclass(frozen=True)
class Diff:
    """The stat and the patch between two commits, the patch cut at a line boundary."""

    stat: str
    patch: str | None  # None when only the stat was asked for
    truncated: bool
    total_chars: int
    shown_chars: int
    cut_in_path: str | None = None  # the file whose patch was cut part-way
    # Every file whose patch is missing in whole or in part (pass some as paths to see them).
    omitted_paths: list[str] = field(default_factory=list)


def _numstat(cwd: Path, base: str, head: str) -> list[FileChange]:
    out = run_git(
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
    short, head = branch_tip(repo, branch, "branch")
    base = resolve_commit(repo, base_commit, "base commit")
    files = _numstat(repo, base, head)
    target_commit: str | None = None
    merges_cleanly: bool | None = None
    conflicts: list[str] = []
    target_name: str | None = None
    if target is not None:
        target_name, target_commit = branch_tip(repo, target, "target")
        predicted = merge_tree(repo, target_commit, head)
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
) -> Diff:
    """``git diff --stat`` and the patch between two commits, the patch cut at ``max_chars``
    (no patch with ``stat_only``), and where the cut fell (see :class:`Diff`)."""
    repo = Path(repo)
    base = resolve_commit(repo, base_commit, "base commit")
    tip = resolve_commit(repo, head, "head commit")
    spec = ["--", *_pathspecs(paths)] if paths else []
    common = ["--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", base, tip, *spec]
    stat = run_git(repo, ["diff", "--stat=200", *common]).out.decode("utf-8", "replace")
    patch = run_git(repo, ["diff", "--patch", *common]).out.decode("utf-8", "replace")
    total = len(patch)
    if stat_only:
        return Diff(stat=stat, patch=None, truncated=False, total_chars=total, shown_chars=0)
    shown = patch
    if total > max(max_chars, 0):
        cut = patch.rfind("\n", 0, max(max_chars, 0))
        shown = patch[: cut + 1] if cut >= 0 else ""
    result = Diff(
        stat=stat, patch=shown, truncated=False, total_chars=total, shown_chars=len(shown)
    )
    if len(shown) < total:
        names = [
            name
            for name in run_git(repo, ["diff", "--name-only", "-z", *common]).text().split("\0")
            if name
        ]
        headers = shown.startswith("diff --git ") + shown.count("\ndiff --git ")
        at_boundary = patch[len(shown) :].startswith("diff --git ")
        complete = headers if at_boundary else max(headers - 1, 0)
        result = replace(
            result,
            truncated=True,
            cut_in_path=None if at_boundary or headers == 0 else names[headers - 1],
            omitted_paths=names[complete:],
        )
    return result
