"""Stubs for the engine's unit tests: a store in a temp dir with tasks made by hand, and the
records a worktree task keeps, with no Codex, no git and no subprocess."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from codex_mcp_swarm.engine.plan import LaunchPlan
from codex_mcp_swarm.engine.records import TaskExtra
from codex_mcp_swarm.engine.store import Store, TaskRow
from codex_mcp_swarm.git import FileChange, Outcome, Worktree

THREAD = "0199a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b"


def add_task(
    store: Store,
    task_id: str,
    *,
    prompt: str = "Fix the flaky test\nin tests/",
    cwd: str = "/work",
    task: dict[str, Any] | None = None,
    extra: TaskExtra | None = None,
    priority: int = 0,
    thread_id: str | None = None,
    usage_baseline: dict[str, int] | None = None,
) -> TaskRow:
    """A queued task as the engine records one (its title the prompt's first line)."""
    plan = LaunchPlan(argv=("codex", "exec", "--json", "-"), cwd=cwd, prompt=prompt)
    store.create(
        task_id,
        spec={"task": {"prompt": prompt, "cwd": cwd, **(task or {})}, "launch": plan.to_dict()},
        cwd=cwd,
        title=prompt.splitlines()[0],
        owner="unit",
        priority=priority,
        thread_id=thread_id,
        usage_baseline=usage_baseline,
        extra=extra,
    )
    return row_of(store, task_id)


def row_of(store: Store, task_id: str) -> TaskRow:
    row = store.get(task_id)
    assert row is not None, task_id
    return row


def worktree(repo: Path, task_id: str, *, base_branch: str | None = "main") -> Worktree:
    return Worktree(
        path=repo.parent / "worktrees" / task_id,
        branch=f"codex-swarm/{task_id}",
        repo=repo,
        base_ref=base_branch or "a1" * 20,
        base_commit="b0" * 20,
        base_branch=base_branch,
        carried_commit=None,
        subdir="",
    )


def outcome(wt: Worktree, head: str, *files: str, conflicts: tuple[str, ...] = ()) -> Outcome:
    return Outcome(
        branch=wt.branch,
        base_commit=wt.base_commit,
        head_commit=head,
        committed=bool(files),
        files=[FileChange(path=f, insertions=3, deletions=1) for f in files],
        insertions=3 * len(files),
        deletions=len(files),
        target=wt.base_branch,
        target_commit="c0" * 20,
        merges_cleanly=not conflicts,
        conflicts=list(conflicts),
    )


def worktree_task(
    store: Store,
    task_id: str,
    repo: Path,
    *,
    phase: str | None = "completed",
    head: str | None = None,
    files: tuple[str, ...] = ("src/a.py",),
    **extra: Any,
) -> TaskRow:
    """A worktree task of ``repo``; ended in ``phase`` with an outcome whose branch head is
    ``head`` (None: still running, or no outcome)."""
    wt = worktree(repo, task_id)
    add_task(store, task_id, cwd=str(wt.path), extra=TaskExtra(worktree=wt))
    if phase is not None:
        store.finish(task_id, phase=phase, exit_code=0 if phase == "completed" else 1)
    if head is not None:
        made = outcome(wt, head, *files)
        store.update_extra(task_id, lambda e: replace(e, outcome=made, **extra))
    elif extra:
        store.update_extra(task_id, lambda e: replace(e, **extra))
    return row_of(store, task_id)
