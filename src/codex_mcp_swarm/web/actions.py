"""The board's buttons: cancel a task, clean up its worktree and branch, land its branch.

Owns: turning a button into an engine or branch call and its outcome into one readable sentence
(``{"ok": bool, "message": str, ...}``). Whether the request may change anything at all is
decided before (``access``); here only what the engine and git say.

Must not: run git itself or know HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..engine import branches
from ..engine.tasks import Engine, TaskError
from ..git import worktrees as git


def _answer(ok: bool, message: str, **more: Any) -> dict[str, Any]:
    return {"ok": ok, "message": message, **more}


async def cancel(engine: Engine, task_id: str) -> dict[str, Any]:
    """Stop the task and everything it started; answers once its end is recorded."""
    try:
        before = engine.get(task_id)
    except TaskError as exc:
        return _answer(False, str(exc))
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
        row = engine.get(task_id)
        result = await asyncio.to_thread(branches.cleanup, engine.store, row, force=False)
    except (TaskError, git.GitError) as exc:
        return _answer(False, str(exc))
    done = []
    if result.get("removed_worktree"):
        done.append("removed its worktree")
    if result.get("deleted_branch"):
        done.append(f"deleted branch {result.get('branch')}")
    kept = result.get("kept_reason")
    message = f"task {task_id}: " + (" and ".join(done) if done else "nothing to remove")
    if kept:
        message += f"; {kept}"
    return _answer(bool(done) or not kept, message, result=result)


CHECK_TIMEOUT = 900.0  # seconds a land's check command may run


async def _run_check(check: str, cwd: str) -> tuple[bool, str]:
    """Run ``check`` with the shell in ``cwd``; (passed, the end of its output)."""
    proc = await asyncio.create_subprocess_shell(
        check,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), CHECK_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"the check ran longer than {CHECK_TIMEOUT:.0f} s and was stopped"
    text = out.decode("utf-8", "replace")[-2000:]
    return proc.returncode == 0, text


async def land(engine: Engine, task_id: str, *, check: str | None) -> dict[str, Any]:
    """Bring the task's branch into the branch it started from.

    Uses the per-task merge (``engine.branches.merge``): built in memory, the target only
    fast-forwarded, nothing changed on a conflict or a dirty checkout. With ``check``, the
    command runs first in the task's worktree and a failure stops the land.
    """
    try:
        row = engine.get(task_id)
        wt = branches.require_worktree(row)
    except (TaskError, git.GitError) as exc:
        return _answer(False, str(exc))
    if not row.terminal:
        return _answer(False, f"task {task_id} is still {row.phase}; wait for it before landing")
    if check:
        if row.extra.get("removed_worktree"):
            return _answer(False, f"task {task_id}'s worktree was removed, so the check cannot run")
        passed, output = await _run_check(check, str(wt.path))
        if not passed:
            return _answer(False, f"the check failed, so nothing was landed:\n{output}")
    try:
        result = await asyncio.to_thread(
            branches.merge, engine.store, row, strategy="merge", target=None
        )
    except git.GitError as exc:
        return _answer(False, str(exc))
    if result.get("merged"):
        return _answer(
            True,
            f"landed {wt.branch} on {result['target']} ({str(result.get('commit') or '')[:12]})",
            result=result,
        )
    return _answer(
        False, str(result.get("message") or "not landed; nothing changed"), result=result
    )
