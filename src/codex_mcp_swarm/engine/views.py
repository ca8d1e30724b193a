"""Plain-dict views of a task for callers: the live status and the result.

Owns: which facts of a stored task a caller sees, named once, so the MCP tools, the resources and
the command line all say the same thing in the same words; and, for a task asked for an output
schema, its final message parsed as JSON (``result``) or why it did not parse.

Must not: render text for people (that is the caller's face), or read anything but the row.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..codex.progress import TaskProgress, usage_delta
from .records import LandingMark, LandingRow, Merged, Node
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
    return row.extra.branch


def node_view(node: Node) -> dict[str, Any]:
    """The Ray worker node a task runs (ran) on, as far as known."""
    known = {"node_id": node.node_id, "address": node.address, "hostname": node.hostname}
    return {k: v for k, v in known.items() if v is not None}


def landing_mark_view(mark: LandingMark) -> dict[str, Any]:
    """Where a task went to land: its landing and state (the commit it landed at, the reply
    that took a failure home, or why it was given up)."""
    view: dict[str, Any] = {"id": mark.landing_id, "state": mark.state}
    if mark.commit:
        view["commit"] = mark.commit[:12]
    if mark.reply:
        view["reply"] = mark.reply
    if mark.reason:
        view["reason"] = mark.reason
    return view


def merged_view(merged: Merged) -> dict[str, Any]:
    """How a task's work was merged (or landed)."""
    view: dict[str, Any] = {
        "merged": True,
        "target": merged.target,
        "commit": merged.commit,
        "strategy": merged.strategy,
        "message": merged.message,
        "conflicts": list(merged.conflicts),
        "at": merged.at,
    }
    if merged.landed:
        view["landed"] = True
    if merged.via:
        view["via"] = merged.via
    return view


MAX_FILES = 50  # files listed per task in a view; the diff tool has them all


def worktree_view(row: TaskRow) -> dict[str, Any] | None:
    """Where a worktree task works and, once it ended, what its branch holds."""
    extra = row.extra
    wt = extra.worktree
    if wt is None:
        return None
    view: dict[str, Any] = {
        "path": str(wt.path),
        "branch": wt.branch,
        "base_ref": wt.base_ref,
        "base_branch": wt.base_branch,
        "base_commit": wt.base_commit,
    }
    if wt.carried_commit:
        view["carried_commit"] = wt.carried_commit
    outcome = extra.outcome
    if outcome is not None:
        view.update(
            head_commit=outcome.head_commit,
            files=[
                {"path": f.path, "insertions": f.insertions, "deletions": f.deletions}
                for f in outcome.files[:MAX_FILES]
            ],
            files_total=len(outcome.files),
            insertions=outcome.insertions,
            deletions=outcome.deletions,
            merges_cleanly=outcome.merges_cleanly,
            conflicts=list(outcome.conflicts),
        )
    if extra.outcome_error:
        view["error"] = extra.outcome_error
    if extra.merged is not None:
        view["merged"] = merged_view(extra.merged)
    if extra.removed_worktree:
        view["removed_worktree"] = True
    if extra.removed_branch:
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
    if row.phase == "starting" and row.extra.waiting_for:
        # The Ray backend: the task's actor is not placed yet, and what it waits for.
        view["waiting_for"] = row.extra.waiting_for
    worktree = worktree_view(row)
    if worktree is not None:
        view["worktree"] = {"path": worktree["path"], "branch": worktree["branch"]}
    if row.terminal:
        view.update(exit_code=row.exit_code, exit_signal=row.exit_signal, error=row.error)
    if row.cancel_requested and not row.terminal:
        view["cancel_requested"] = True
    if row.steer_count:
        view["steered"] = steered_view(row)
    if row.extra.node is not None:  # the Ray backend: the worker node it runs on
        view["node"] = node_view(row.extra.node)
    if row.extra.landing is not None:
        view["landing"] = landing_mark_view(row.extra.landing)
    return view


def steered_view(row: TaskRow) -> dict[str, Any]:
    """How often the task was steered, and when last."""
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
    if row.extra.landing is not None:  # where it went to land
        view["landing"] = landing_mark_view(row.extra.landing)
    if row.extra.node is not None:  # the Ray backend: the worker node it ran on
        view["node"] = node_view(row.extra.node)
    if row.phase == "completed" and row.task.output_schema is not None:
        view.update(structured_result(content or ""))
    return view


def structured_result(message: str) -> dict[str, Any]:
    """A final message asked for with an output schema: ``{"result": <parsed JSON>}``, or
    ``{"result_error": why}`` when it is not JSON (Codex's model is asked to follow the schema;
    Codex does not check that it did)."""
    try:
        return {"result": json.loads(message)}
    except ValueError as exc:
        return {"result_error": f"the final message is not JSON ({exc}); content has it as text"}


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


def landing_view(row: LandingRow, position: int | None = None) -> dict[str, Any]:
    """A landing as any face shows it: its state, where it is, and (ended) its report."""
    view: dict[str, Any] = {
        "landing_id": row.id,
        "status": row.phase,
        "repository": row.repository,
        "position": position,
        "elapsed_s": round(
            max(0.0, (row.ended_at or time.time()) - (row.started_at or row.created_at)), 3
        ),
        "error": row.error,
    }
    if not row.terminal:
        progress = row.progress
        view.update(
            checking=list(progress.checking),
            landed=list(progress.landed),
            decided=progress.decided,
            total=progress.total,
            last_line=progress.last_line,
        )
    if row.cancel_requested and not row.terminal:
        view["cancel_requested"] = True
    return view
