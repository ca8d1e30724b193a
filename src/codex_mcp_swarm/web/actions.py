"""The board's buttons: cancel a task, clean up its worktree and branch, land its branch (now,
or through the merge queue).

Owns: turning a button into an engine call (``Engine.cancel``, ``Engine.cleanup``,
``Engine.land``, ``engine.landings.submit``) and its outcome into one readable sentence
(``{"ok": bool, "message": str, ...}``). Whether the request may change anything at all is
decided before (``access``); here only what the engine and git say.

Must not: run git itself or know HTTP.
"""

from __future__ import annotations

from typing import Any

from .. import git
from ..engine import Engine, LandRequest, TaskError, as_data, require_worktree
from .words import said


def _answer(ok: bool, message: str, **more: Any) -> dict[str, Any]:
    return {"ok": ok, "message": message, **more}


async def cancel(engine: Engine, task_id: str) -> dict[str, Any]:
    """Stop the task and everything it started; answers once its end is recorded."""
    try:
        before = await engine.get(task_id)
    except TaskError as exc:
        return _answer(False, said(exc))
    if before.terminal:
        return _answer(False, f"task {task_id} had already ended ({before.phase}); nothing changed")
    after = await engine.cancel(task_id)
    if after.phase == "cancelled":
        return _answer(
            True, f"task {task_id} cancelled; its processes are stopped", phase="cancelled"
        )
    if after.terminal:
        return _answer(
            True,
            f"task {task_id} ended ({after.phase}) before the cancel reached it",
            phase=after.phase,
        )
    return _answer(
        False,
        f"task {task_id} is still {after.phase}: its runner did not record an end in time; "
        "run `codex-mcp-swarm doctor` to check its processes",
        phase=after.phase,
    )


async def cleanup(engine: Engine, task_id: str) -> dict[str, Any]:
    """Remove the task's worktree and, when its work is merged, its branch (never unmerged work)."""
    try:
        result = await engine.cleanup(task_id, force=False)
    except (TaskError, git.GitError) as exc:
        return _answer(False, said(exc))
    done = []
    if result.removed_worktree:
        done.append("removed its worktree")
    if result.deleted_branch:
        done.append(f"deleted branch {result.branch}")
    kept = result.kept_reason
    message = f"task {task_id}: " + (" and ".join(done) if done else "nothing to remove")
    if kept:
        message += f"; {kept}"
    return _answer(bool(done) or not kept, message, result=as_data(result))


async def land(engine: Engine, task_id: str, *, check: str | None) -> dict[str, Any]:
    """Land the task's branch on its target through the merge queue (``engine.landing``): under
    the repository's landing lock, with ``check`` (when given) run on the merged candidate in a
    scratch worktree first; the target moves only if the merge is clean and the check passes,
    and a refusal leaves everything as it was."""
    try:
        row = await engine.get(task_id)
        wt = require_worktree(row)
    except (TaskError, git.GitError) as exc:
        return _answer(False, said(exc))
    request = LandRequest(task_ids=(task_id,), cwd=str(wt.repo), check=check)
    try:
        out = await engine.land(request)
    except (TaskError, git.GitError) as exc:
        return _answer(False, said(exc))
    lines = out.lines
    detail = "\n".join(lines[1:]) or (lines[0] if lines else "nothing happened")
    if out.landed:
        return _answer(True, detail, result=as_data(out))
    if out.check_failed:
        tail = out.check_failed[0].output_tail.strip()
        detail = (
            "the check failed, so nothing was landed: " + detail + (f"\n{tail}" if tail else "")
        )
    return _answer(False, detail, result=as_data(out))


async def queue(engine: Engine, task_id: str, *, check: str | None) -> dict[str, Any]:
    """Add the task's branch to its repository's merge queue (``engine.landings``): answers at
    once with the landing id; the queue runs it (with ``check`` on the merged candidate) after
    the landings queued before it, and the board's queue shows it move."""
    try:
        row = await engine.get(task_id)
        wt = require_worktree(row)
        request = LandRequest(task_ids=(task_id,), cwd=str(wt.repo), check=check)
        landing = await engine.landings.submit(request)
    except (TaskError, git.GitError) as exc:
        return _answer(False, said(exc))
    position = await engine.landings.position(landing)
    where = f", {position} ahead of it" if position else ""
    return _answer(
        True,
        f"landing {landing.id} queued for task {task_id}{where}; the merge queue below shows it",
        landing_id=landing.id,
    )
