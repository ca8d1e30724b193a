"""Failures go home: a landing's failed task is told on its own thread, and lands again.

Owns: :func:`send_home` (the target's new tip merged into the failed task's branch in its
worktree, conflict markers committed for a conflict, and a reply on the task's own Codex
thread naming what failed: the conflicting paths and the tasks that landed them, or the check
command, its exit code and the tail of its output); :func:`feed` (tasks that join their
repository's landing queue by themselves: a task launched with ``land`` once it completes,
and such a reply once it completes, each in one store transaction that records where it went,
so exactly one server does it; tasks ending close together join one landing); and
:func:`mark` (where a task went to land, written on it and on the task its reply carries).

Must not: decide what lands (:mod:`.landing` does), run git itself, or speak a face's words.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import git
from ..git.landing import merge_into_worktree, undo_merge_into
from ..git.run import common_dir
from .errors import TaskError
from .records import HomeTrip, LandingMark, LandRequest, TaskExtra
from .store import TaskRow

if TYPE_CHECKING:
    from .tasks import Engine

__all__ = ["SETTLE", "can_go_home", "feed", "mark", "send_home"]

log = logging.getLogger(__name__)

SETTLE = 2.0  # seconds without another ended task of the repository before they join a landing
MOST_WAIT = 10.0  # ...but none waits longer than this to join
TAIL = 1500  # characters of a check's output a reply quotes


def mark(engine: Engine, row: TaskRow, landing: LandingMark) -> None:
    """Record where ``row`` went to land, and on the task its reply carries home too."""
    engine.store.update_extra(row.id, lambda e: replace(e, landing=landing))
    home = row.extra.home
    if home is not None and home.root != row.id:
        engine.store.update_extra(home.root, lambda e: replace(e, landing=landing))


def can_go_home(engine: Engine, row: TaskRow) -> str | None:
    """Why ``row``'s thread cannot be continued with a reply, or None when it can."""
    if engine.settings.ephemeral:
        return "the server runs Codex with ephemeral sessions, so its thread was not kept"
    if not row.thread_id:
        return "it has no Codex thread to continue"
    if row.extra.worktree is None or row.extra.removed_worktree:
        return "its worktree is gone"
    if not engine.worktrees_here:
        return "its worktree is checked out on a worker, not on this machine"
    return None


def _check_prompt(
    branch: str, target: str, check: str, exit_code: int | None, tail: str, attempt: int, most: int
) -> str:
    how = "timed out" if exit_code is None else f"exited with code {exit_code}"
    quoted = tail[-TAIL:].rstrip()
    return (
        f"Your work (branch {branch}) did not land on {target}: the check `{check}` {how} on it "
        f"merged with {target}. {target}'s new tip is now merged into your branch here.\n"
        f"The end of the check's output:\n\n{quoted}\n\n"
        f"Fix the cause here so that `{check}` passes, keeping what your task meant to do. When "
        f"you finish, your branch is landed again (landing {attempt + 1} of {most})."
    )


def _conflict_prompt(
    branch: str, target: str, paths: list[str], landed_by: list[TaskRow], attempt: int, most: int
) -> str:
    who = "; ".join(f"task {o.id}: {o.title}" for o in landed_by) or "other work"
    return (
        f"Your work (branch {branch}) conflicts with {target}, which now has {who}. {target} is "
        f"merged into your branch here, and these files hold git conflict markers (<<<<<<<, "
        f"=======, >>>>>>>): {', '.join(paths)}.\n"
        f"Edit them so that both intentions are kept, what {target} has and what your task "
        f"meant to do, and remove every marker. When you finish, your branch is landed again "
        f"(landing {attempt + 1} of {most})."
    )


def send_home(
    engine: Engine,
    row: TaskRow,
    wt: git.Worktree,
    target: str,
    request: LandRequest,
    *,
    conflicts: list[str] | None = None,
    landed_by: list[TaskRow] | None = None,
    check: tuple[int | None, str] | None = None,
) -> str:
    """Reply on ``row``'s thread in its worktree about its failed landing (``conflicts`` with
    the tasks that landed them, or ``check``: exit code and output) after merging ``target``
    into its branch; the reply lands again when it completes. Returns the reply's task id;
    raises TaskError or GitError when it cannot be sent."""
    why = can_go_home(engine, row)
    if why is not None:
        raise TaskError("{why}", why=why)
    assert row.thread_id is not None
    home = row.extra.home
    attempt = home.attempt if home is not None else 1
    root = home.root if home is not None else row.id
    message = (
        f"Merge {target} into {wt.branch}\n\n"
        f"Made by codex-swarm: the landing of task {row.id} failed, and its agent is told."
    )
    before = wt.path
    merged, paths = merge_into_worktree(before, wt.branch, target, message)
    if conflicts is not None:
        prompt = _conflict_prompt(
            wt.branch, target, paths or conflicts, landed_by or [], attempt, request.attempts
        )
    else:
        exit_code, output = check or (None, "")
        prompt = _check_prompt(
            wt.branch, target, request.check or "", exit_code, output, attempt, request.attempts
        )
        if paths:
            prompt += f"\nMerging {target} left conflict markers in: {', '.join(paths)}."
    try:
        reply = engine.reply_sync(row.thread_id, prompt)
    except TaskError:
        undo_merge_into(before, merged)  # the branch as it was, for whatever comes instead
        raise
    trip = HomeTrip(request=replace(request, task_ids=None), attempt=attempt + 1, root=root)
    engine.store.update_extra(
        reply.id,
        lambda e: replace(
            e, home=trip, land_target=target, resolves=root, resolves_paths=tuple(paths)
        ),
    )
    engine.store.update_extra(row.id, lambda e: replace(e, resolved_by=reply.id))
    if root != row.id:
        engine.store.update_extra(root, lambda e: replace(e, resolved_by=reply.id))
    return reply.id


def _repository(row: TaskRow) -> str | None:
    wt = row.extra.worktree
    if wt is None:
        return None
    try:
        return str(common_dir(git.repo_root(Path(wt.repo))))
    except git.GitError:
        return None


def _queued(landing_id: str, extra: TaskExtra) -> TaskExtra:
    return replace(extra, landing=LandingMark(state="queued", landing_id=landing_id))


def _queued_in(extra: TaskExtra, landing_id: str) -> TaskExtra:
    return _queued(landing_id, extra)


def feed(engine: Engine, new_id: Callable[[], str], now: float | None = None) -> list[str]:
    """Let ended tasks that land by themselves join their repository's queue; returns the
    landings joined or made. ``new_id`` names a landing made here."""
    now = time.time() if now is None else now
    joined: list[str] = []
    waiting: dict[tuple[str, LandRequest], list[TaskRow]] = {}
    for row in engine.store.awaiting_landing():
        extra = row.extra
        if extra.landing is not None:
            continue
        if extra.home is not None:
            if row.phase != "completed":
                reason = f"the reply that was to fix it ended {row.phase}"
                mark(engine, row, LandingMark(state="given up", reason=reason))
                continue
            request = replace(extra.home.request, task_ids=None)
        elif extra.auto_land is not None:
            if row.phase != "completed":  # a failed or cancelled task does not land
                reason = f"the task {row.phase}, so its branch was not landed"
                mark(engine, row, LandingMark(state="given up", reason=reason))
                continue
            auto = extra.auto_land
            wt = extra.worktree
            request = LandRequest(
                cwd=str(wt.repo) if wt is not None else None,
                target=auto.target,
                strategy=auto.strategy,
                check=auto.check,
                on_failure=auto.on_failure,
            )
        else:
            continue
        repository = _repository(row)
        if repository is None:
            reason = "its worktree's repository is gone"
            mark(engine, row, LandingMark(state="given up", reason=reason))
            continue
        waiting.setdefault((repository, request), []).append(row)
    for (repository, request), rows in waiting.items():
        ends = [r.ended_at or now for r in rows]
        homes = any(r.extra.home is not None for r in rows)
        if not homes and now - max(ends) < SETTLE and now - min(ends) < MOST_WAIT:
            continue  # more may end in a moment: they land together

        done = engine.store.join_landing(
            [r.id for r in rows], repository, request, new_id(), _queued_in
        )
        if done is None:
            continue
        landing_id, ids = done
        joined.append(landing_id)
        for row in rows:
            home = row.extra.home
            if row.id in ids and home is not None and home.root != row.id:
                engine.store.update_extra(home.root, functools.partial(_queued, landing_id))
    return joined
