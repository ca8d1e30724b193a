"""Plain-dict views of a task for callers: the live status and the result.

Owns: which facts of a stored task a caller sees, named once, so the MCP tools, the resources and
the command line all say the same thing in the same words.

Must not: render text for people (that is the caller's face), or read anything but the row.
"""

from __future__ import annotations

import time
from typing import Any

from ..codex.progress import TaskProgress, usage_delta
from .store import TaskRow


def elapsed(row: TaskRow, now: float | None = None) -> float:
    """Seconds since the task started running (or was created, while queued), to its end."""
    start = row.started_at or row.created_at
    end = row.ended_at or (now if now is not None else time.time())
    return round(max(0.0, end - start), 3)


def usage_view(row: TaskRow) -> dict[str, Any]:
    """Tokens of this task's own turn, and the thread's running total as Codex reports it."""
    total = row.usage or row.progress.get("usage") or {}
    if not total:
        return {}
    return {"turn": usage_delta(total, row.usage_baseline), "thread_total": dict(total)}


def branch_of(row: TaskRow) -> str | None:
    worktree = row.extra.get("worktree")
    return worktree.get("branch") if isinstance(worktree, dict) else None


MAX_FILES = 50  # files listed per task in a view; the diff tool has them all


def worktree_view(row: TaskRow) -> dict[str, Any] | None:
    """Where a worktree task works and, once it ended, what its branch holds."""
    wt = row.extra.get("worktree")
    if not isinstance(wt, dict):
        return None
    view: dict[str, Any] = {
        "path": wt.get("path"),
        "branch": wt.get("branch"),
        "base_ref": wt.get("base_ref"),
        "base_branch": wt.get("base_branch"),
        "base_commit": wt.get("base_commit"),
    }
    if wt.get("carried_commit"):
        view["carried_commit"] = wt["carried_commit"]
    outcome = row.extra.get("outcome")
    if isinstance(outcome, dict) and "head_commit" in outcome:
        files = outcome.get("files") or []
        view.update(
            head_commit=outcome.get("head_commit"),
            files=files[:MAX_FILES],
            files_total=len(files),
            insertions=outcome.get("insertions"),
            deletions=outcome.get("deletions"),
            merges_cleanly=outcome.get("merges_cleanly"),
            conflicts=outcome.get("conflicts") or [],
        )
    if row.extra.get("outcome_error"):
        view["error"] = row.extra["outcome_error"]
    if row.extra.get("merged"):
        view["merged"] = row.extra["merged"]
    if row.extra.get("removed_worktree"):
        view["removed_worktree"] = True
    if row.extra.get("removed_branch"):
        view["removed_branch"] = True
    return view


def status_view(
    row: TaskRow, now: float | None = None, queue_position: int | None = None
) -> dict[str, Any]:
    """What the task is doing now (``queue_position`` for a queued task, from the store)."""
    progress = TaskProgress.from_dict(row.progress) if row.progress else TaskProgress()
    last = progress.last_tool
    view: dict[str, Any] = {
        "task_id": row.id,
        "status": row.phase,
        "threadId": row.thread_id,
        "title": row.title,
        "cwd": row.cwd,
        "elapsed_s": elapsed(row, now),
        "tool_calls": progress.tool_calls,
        "last_tool": (
            {
                "kind": last.kind,
                "summary": last.summary,
                "status": last.status,
                "exit_code": last.exit_code,
            }
            if last
            else None
        ),
        "reasoning": progress.reasoning,
        "message": progress.message,
        "todo": progress.todo,
        "usage": usage_view(row),
        "warnings": progress.warnings,
    }
    if progress.reconnecting is not None and not row.terminal:
        # Codex cannot reach its model: why, and how many tries so far.
        view["reconnecting"] = {
            "reason": progress.reconnecting,
            "attempt": progress.reconnect_attempts,
        }
    if queue_position is not None:
        view["queue_position"] = queue_position
    if row.phase == "starting" and row.extra.get("waiting_for"):
        # The Ray backend: the task's actor is not placed yet, and what it waits for.
        view["waiting_for"] = row.extra["waiting_for"]
    worktree = worktree_view(row)
    if worktree is not None:
        view["worktree"] = {"path": worktree["path"], "branch": worktree["branch"]}
    if row.terminal:
        view.update(exit_code=row.exit_code, exit_signal=row.exit_signal, error=row.error)
    if row.cancel_requested and not row.terminal:
        view["cancel_requested"] = True
    if row.steer_count:
        view["steered"] = steered_view(row)
    if row.extra.get("node"):  # the Ray backend: the worker node it runs on
        view["node"] = row.extra["node"]
    return view


def steered_view(row: TaskRow) -> dict[str, Any]:
    """How often codex_steer redirected the task, and when last."""
    return {"count": row.steer_count, "last_at": row.steered_at}


def result_view(row: TaskRow, now: float | None = None) -> dict[str, Any]:
    """The outcome: like the removed official tool ({threadId, content}) plus status and usage."""
    progress = TaskProgress.from_dict(row.progress) if row.progress else TaskProgress()
    content = row.result if row.terminal else None
    view: dict[str, Any] = {
        "task_id": row.id,
        "status": row.phase,
        "threadId": row.thread_id,
        "content": content if content is not None else "",
        "error": row.error,
        "exit_code": row.exit_code,
        "exit_signal": row.exit_signal,
        "elapsed_s": elapsed(row, now),
        "tool_calls": progress.tool_calls,
        "usage": usage_view(row),
        "warnings": progress.warnings,
        "cwd": row.cwd,
        "worktree": worktree_view(row),
        **({"steered": steered_view(row)} if row.steer_count else {}),
    }
    if row.extra.get("node"):  # the Ray backend: the worker node it ran on
        view["node"] = row.extra["node"]
    return view


def listing_view(row: TaskRow, now: float | None = None) -> dict[str, Any]:
    """One task in a list: state, timing, thread and usage."""
    return {
        "task_id": row.id,
        "status": row.phase,
        "title": row.title,
        "threadId": row.thread_id,
        "cwd": row.cwd,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "elapsed_s": elapsed(row, now),
        "exit_code": row.exit_code,
        "usage": usage_view(row),
        "branch": branch_of(row),
    }
