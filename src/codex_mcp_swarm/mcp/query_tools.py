"""The tools that look at Codex agent background tasks: codex_status, codex_wait, codex_list.

Owns: these tools' names, parameters and descriptions.
Must not: change a task.

A tool module is a ``register(face)`` function that adds its tools with ``face.mcp.tool(...)``
(or ``face.mcp.add_tool``) and answers through ``face`` (``face.answer``, ``face.error``,
``face.task_answer``, ``face.engine``); it is listed once in ``server.TOOL_MODULES``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from ..engine import TaskError, as_data, listing_view, result_view, status_view
from . import answers, render
from .answers import StatusList, TaskList, WaitAnswer
from .face import READ_TOOL, Face
from .schemas import (
    DEFAULT_WAIT,
    ListLimit,
    OptionalTaskIds,
    StatusFilter,
    TaskIds,
    WaitMode,
    WaitTimeout,
)
from .words import said


def register(face: Face) -> None:
    @face.mcp.tool(
        name="codex_status",
        description=(
            "Live status of Codex agent background tasks: what each is doing now (phase, last "
            "command, latest message, tokens)."
        ),
        annotations=READ_TOOL,
    )
    async def codex_status(task_ids: TaskIds) -> Annotated[CallToolResult, StatusList]:
        try:
            found = await face.engine.status(task_ids)
        except TaskError as exc:
            return face.error(said(exc))
        now = time.time()
        views = [status_view(r, now, found.positions.get(r.id)) for r in found.rows]
        for view in views:
            view["warnings"] = answers.warnings_once(view.get("warnings"))
        views = [answers.strip_empty(v) for v in answers.fit_views(views, face.budget // 2)]
        for view in views:
            if found.waiting.get(view["task_id"], 0) >= 2:
                view["next"] = answers.land_next(found.waiting[view["task_id"]])
        conflicts = found.conflicts
        lines = [render.status_text(v) for v in views] + render.conflict_lines(conflicts)
        data: dict[str, Any] = {"tasks": views}
        if conflicts:
            data["conflicts"] = as_data(conflicts)
        return face.answer("\n\n".join(lines), data)

    @face.mcp.tool(
        name="codex_wait",
        description=(
            "Wait for Codex agent background tasks to finish and get their results. Tasks "
            "still running at timeout are listed, not stopped: call again to keep waiting."
        ),
        annotations=READ_TOOL,
    )
    async def codex_wait(
        ctx: Context,
        task_ids: OptionalTaskIds = None,
        timeout: WaitTimeout = DEFAULT_WAIT,
        mode: WaitMode = "all",
    ) -> Annotated[CallToolResult, WaitAnswer]:
        ids = list(task_ids) if task_ids else await face.engine.unfinished()
        if not ids:
            return face.answer(
                "No unfinished tasks started by this client: nothing to wait for.",
                {"done": True, "tasks": []},
            )
        try:
            rows, done = await face.wait_with_progress(ids, timeout, ctx, mode)
        except TaskError as exc:
            return face.error(said(exc))
        views = answers.fit_views(
            [result_view(r) for r in await face.fresh(rows)], face.budget * 3 // 4
        )
        running = [r.id for r in rows if not r.terminal]
        finished = len(rows) - len(running)
        if not running:
            head = f"All {len(rows)} task(s) finished."
        elif done:
            head = f"{finished} of {len(rows)} task(s) finished; still running: " + ", ".join(
                running
            )
        else:
            head = (
                f"{len(running)} of {len(rows)} task(s) still running after {timeout:g} s: "
                f"{', '.join(running)}. Call codex_wait again to keep waiting."
            )
        conflicts = await face.engine.conflicts(rows)
        parts = [head, *(render.result_text(v) for v in views), *render.conflict_lines(conflicts)]
        waiting = await face.engine.waiting_to_land(rows)
        answer = dict(answers.wait_answer(views, done, running, waiting))
        if conflicts:
            answer["conflicts"] = as_data(conflicts)
        return face.answer("\n\n".join(parts), answer)

    @face.mcp.tool(
        name="codex_list",
        description=("List Codex agent background tasks, newest first, to find task ids again."),
        annotations=READ_TOOL,
    )
    async def codex_list(
        status: StatusFilter = None, limit: ListLimit = 50
    ) -> Annotated[CallToolResult, TaskList]:
        rows = await face.engine.list(phases=status or None, limit=limit)
        total = await face.engine.count(phases=status or None)
        now = time.time()
        lines = [render.list_line(listing_view(r, now)) for r in rows]
        items = [answers.strip_empty(render.list_item(listing_view(r, now))) for r in rows]
        head = f"{total} task(s)" + (f", newest {limit} shown" if total > limit else "")
        return face.answer("\n".join([head + ":", *lines]), {"tasks": items, "total": total})
