"""What each page of the board shows, as JSON-ready dicts: the swarm, a task, a repository.

Owns: the board's views of the store (one row per task with its phase, elapsed time, last action,
tokens, branch and merge outlook; the summary line; the status and repository filters' choices),
a task's detail (prompt, live state, result, timeline page, side-by-side diff, the other branches
it conflicts with), a repository's branches with what would land cleanly now, and the merge
queue (every queued and running landing with where it is, and the newest ended ones with how
they ended).

Must not: change tasks or branches (the actions live in ``actions``), render HTML, or store what
it computes: outlooks are recomputed for the page and never written back, so reading the board
never wakes the change feed it listens to. Nor read the store or run git itself: what it needs it
awaits from the engine (which does that work off the event loop); the rest is plain functions of
what the engine gave.
"""

from __future__ import annotations

import time
from typing import Any

from .. import git
from ..engine import (
    ACTIVE,
    PHASES,
    TERMINAL,
    Engine,
    LandingRow,
    TaskError,
    TaskRow,
    as_data,
    doing,
    elapsed,
    landing_view,
    result_view,
    status_view,
    usage_view,
    worktree_of,
    worktree_view,
)
from . import diffs, timeline
from .words import said

DIFF_MAX_CHARS = 400_000  # characters of a patch the task page renders; the rest is listed
EVENT_PAGE_BYTES = 512_000  # bytes of events.jsonl read per timeline page
EVENT_PAGE_LINES = 2_000
LANDINGS_SHOWN = 20  # ended landings the board shows (and every queued and running one)
LANDINGS_LOOKED_AT = 500  # newest landings read for the queue
CHECK_TAIL_CHARS = 4_000  # characters of a failed check's output shown


def repo_of(row: TaskRow) -> str:
    """The repository a task belongs to: its worktree's origin, else its working directory."""
    wt = row.extra.worktree
    return str(wt.repo) if wt is not None else row.cwd


def outlook(row: TaskRow) -> dict[str, Any] | None:
    """What the branch would do if landed, as recorded (the repository page recomputes it)."""
    view = worktree_view(row)
    if view is None:
        return None
    ended = view.head_commit is not None  # what the branch holds is known once it ended
    if view.merged is not None:
        state = "merged"
    elif view.removed_branch:
        state = "removed"
    elif view.error:
        state = "error"
    elif view.merges_cleanly is True:
        state = "clean" if view.files_total else "empty"
    elif view.merges_cleanly is False:
        state = "conflicts"
    else:
        state = "pending"
    return {
        "state": state,
        "branch": view.branch,
        "target": view.base_branch,
        "conflicts": list(view.conflicts),
        "files": view.files_total if ended else None,
        "insertions": view.insertions if ended else None,
        "deletions": view.deletions if ended else None,
    }


def task_row(row: TaskRow, now: float, position: int | None) -> dict[str, Any]:
    """One row of the swarm table; ``position``: its place in the queue, when queued."""
    view = status_view(row, now, position if row.phase == "queued" else None)
    turn = (usage_view(row).turn or {}) if row.usage or row.progress else {}
    return {
        "task_id": row.id,
        "status": row.phase,
        "title": row.title,
        "repo": repo_of(row),
        "cwd": row.cwd,
        "created_at": row.created_at,
        "elapsed_s": elapsed(row, now),
        "last_action": doing.doing(view).text(),
        "tool_calls": view.tool_calls,
        "tokens_in": int(turn.get("input_tokens", 0) or 0),
        "tokens_out": int(turn.get("output_tokens", 0) or 0),
        "branch": row.extra.branch,
        "outlook": outlook(row),
        "cancel_requested": bool(row.cancel_requested and not row.terminal),
    }


def swarm(tasks: list[TaskRow], positions: dict[str, int]) -> dict[str, Any]:
    """Every task (``tasks``, newest first) with the summary line's counts and the filters'
    choices; ``positions``: the queued ones' places in the queue."""
    now = time.time()
    rows = [task_row(r, now, positions.get(r.id)) for r in tasks]
    counts: dict[str, int] = {phase: 0 for phase in PHASES}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {
        "now": now,
        "tasks": rows,
        "counts": counts,
        "active": sum(counts.get(p, 0) for p in ACTIVE),
        "tokens_in": sum(r["tokens_in"] for r in rows),
        "tokens_out": sum(r["tokens_out"] for r in rows),
        "repos": sorted({r["repo"] for r in rows}),
        "phases": list(PHASES),
        # The status filter's groups, in the phases' order (the page names no phase set itself).
        "groups": {
            "active": [p for p in PHASES if p in ACTIVE],
            "finished": [p for p in PHASES if p in TERMINAL],
        },
    }


def _outcome(row: LandingRow) -> str:
    """One word for how a landing ended (or where it is)."""
    report = row.report
    if not row.terminal:
        return row.phase
    if row.phase != "completed" or report is None:
        return row.phase
    if report.landed and not (report.conflicted or report.check_failed or report.skipped):
        return "landed"
    parts = []
    if report.landed:
        parts.append("partly landed")
    if report.check_failed:
        parts.append("check failed")
    if report.conflicted:
        parts.append("conflicted")
    if report.sent_home:
        parts.append("sent home")
    if report.skipped and not parts:
        parts.append("skipped")
    return ", ".join(parts) or "nothing to land"


def landing_item(row: LandingRow, position: int | None) -> dict[str, Any]:
    """A landing as the board's queue shows it: where it is (queued with its place, or the
    tasks being checked, those landed so far and the check's last line) or how it ended."""
    item: dict[str, Any] = as_data(landing_view(row, position))
    request = row.request
    item.update(
        tasks=list(request.task_ids) if request.task_ids is not None else None,
        check=request.check,
        target=request.target,
        created_at=row.created_at,
        outcome=_outcome(row),
    )
    report = row.report
    if report is not None:
        item.update(
            summary=report.lines[0] if report.lines else "",
            lines=list(report.lines[1:]),
            landed=[x.task_id for x in report.landed],
            conflicted=[x.task_id for x in report.conflicted],
            check_failed=[
                {
                    "task_id": x.task_id,
                    "exit_code": x.exit_code,
                    "timed_out": x.timed_out,
                    "output_tail": x.output_tail[-CHECK_TAIL_CHARS:],
                }
                for x in report.check_failed
            ],
            sent_home=[
                {"task_id": x.task_id, "reply": x.reply, "why": x.why} for x in report.sent_home
            ],
            new_tip=report.new_tip,
            target=report.target or request.target,
        )
    return item


async def landing_rows(engine: Engine) -> list[LandingRow]:
    """The landings the board looks at (newest first): enough to hold every queued and running
    one of a busy store, and the newest ended ones."""
    return await engine.landings.recent(LANDINGS_LOOKED_AT)


def landings(rows: list[LandingRow]) -> list[dict[str, Any]]:
    """The landing queue from ``rows``: every queued and running landing, and the newest
    ``LANDINGS_SHOWN`` ended ones."""
    ended = {r.id for r in [r for r in rows if r.terminal][:LANDINGS_SHOWN]}
    active = [r for r in rows if not r.terminal]
    out = []
    for row in rows:
        if row.terminal and row.id not in ended:
            continue
        position = None
        if row.phase == "queued":  # as the store counts it: the active ones of its repository
            position = sum(1 for r in active if r.repository == row.repository and r.seq < row.seq)
        out.append(landing_item(row, position))
    return out


def task_detail(row: TaskRow, position: int | None) -> dict[str, Any]:
    now = time.time()
    spec = row.task
    settings = {
        "model": spec.model,
        "sandbox": spec.sandbox,
        "approval_policy": spec.approval_policy,
        "profile": spec.profile,
    }
    return {
        "task": task_row(row, now, position),
        "prompt": spec.prompt,
        "settings": {key: value for key, value in settings.items() if value},
        "live": as_data(status_view(row, now, position)),
        "result": as_data(result_view(row, now)) if row.terminal else None,
        "worktree": as_data(worktree_view(row)),
        "terminal": row.terminal,
        "parent_id": row.parent_id,
    }


async def events_page(engine: Engine, task_id: str, cursor: int) -> dict[str, Any]:
    """Timeline entries from byte ``cursor`` of the task's events.jsonl, and the next cursor."""
    page = await engine.read_events(task_id, max(0, cursor), EVENT_PAGE_LINES, EVENT_PAGE_BYTES)
    return {
        "entries": timeline.entries(list(page.lines)),
        "cursor": page.next_cursor,
        "more": page.more,
    }


async def task_diff(engine: Engine, row: TaskRow) -> dict[str, Any]:
    """The branch against its base, file by file, side by side (only once the task ended)."""
    wt = worktree_of(row)
    if wt is None:
        return {"available": False, "reason": "this task did not run in a worktree of its own"}
    if not row.terminal:
        return {
            "available": False,
            "reason": f"the task is still {row.phase}: its work is committed on {wt.branch} "
            "when it ends, and its diff appears here then",
        }
    if row.extra.removed_branch:
        return {"available": False, "reason": f"branch {wt.branch} was deleted by a cleanup"}
    try:
        out = await engine.diff(row.id, max_chars=DIFF_MAX_CHARS)
    except (TaskError, git.GitError) as exc:
        return {"available": False, "reason": said(exc)}
    return {
        "available": True,
        "branch": wt.branch,
        "base_commit": wt.base_commit,
        "stat": out.stat,
        "files": diffs.side_by_side(out.patch or ""),
        "truncated": out.truncated,
        "omitted_paths": list(out.omitted_paths),
    }


def _live_branch(row: TaskRow) -> git.Worktree | None:
    wt = worktree_of(row)
    if wt is None or not row.terminal or row.extra.removed_branch:
        return None
    if row.extra.merged is not None:
        return None
    return wt


async def conflicts(engine: Engine, row: TaskRow) -> dict[str, Any]:
    """Which other unmerged task branches of the same repository this branch conflicts with
    (the engine's prediction, ``Engine.conflicts_with``: cached and capped)."""
    if _live_branch(row) is None:
        return {"checked": False, "with": []}
    return {"checked": True, "with": as_data(await engine.conflicts_with(row))}


async def repository(engine: Engine, repo: str) -> dict[str, Any] | None:
    """A repository's task branches, each with whether it would land cleanly on its target now
    and which other unmerged task branches it conflicts with (land one, and the other will not).

    ``None`` when no task belongs to ``repo`` (the page only shows repositories the store knows).
    """
    rows = [r for r in await engine.list() if repo_of(r) == repo]
    if not rows:
        return None
    positions = await engine.queue_positions(rows)
    landing = [r for r in rows if (wt := _live_branch(r)) is not None and wt.base_branch]
    outcomes, errors = await engine.outcomes_now(landing)
    found = await engine.conflicts(rows)
    now = time.time()
    out: list[dict[str, Any]] = []
    for row in rows:
        item = task_row(row, now, positions.get(row.id))
        fresh = outcomes.get(row.id)
        if fresh is not None:
            item["now"] = {
                "state": (
                    ("clean" if fresh.files else "empty") if fresh.merges_cleanly else "conflicts"
                ),
                "target": fresh.target,
                "conflicts": fresh.conflicts,
                "files": len(fresh.files),
                "insertions": fresh.insertions,
                "deletions": fresh.deletions,
            }
        elif row.id in errors:
            item["now"] = {"state": "error", "error": errors[row.id]}
        out.append(item)
    pairs: dict[str, list[dict[str, Any]]] = {}
    branch = {r.id: wt.branch for r in rows if (wt := worktree_of(r)) is not None}
    for pair in found:
        first, second = pair.tasks
        pairs.setdefault(first, []).append({"task_id": second, "branch": branch[second]})
        pairs.setdefault(second, []).append({"task_id": first, "branch": branch[first]})
    for item in out:
        item["conflicts_with"] = pairs.get(item["task_id"], [])
    landable = [i["task_id"] for i in out if (i.get("now") or {}).get("state") == "clean"]
    return {"repo": repo, "tasks": out, "landable": landable}
