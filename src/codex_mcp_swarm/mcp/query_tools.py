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

from ..engine import (
    LandingRow,
    LandingView,
    TaskError,
    as_data,
    is_landing_id,
    landing_view,
    listing_view,
    result_view,
    status_view,
)
from . import answers, render
from .answers import LandingAnswer, StatusList, TaskList, WaitAnswer
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
        landing_ids = [i for i in task_ids if is_landing_id(i)]
        task_ids = [i for i in task_ids if not is_landing_id(i)]
        try:
            found = await face.engine.status(task_ids)
            landings = await landing_views(face, await face.engine.landings.get_many(landing_ids))
        except TaskError as exc:
            return face.error(said(exc))
        now = time.time()
        views = [status_view(r, now, found.positions.get(r.id)) for r in found.rows]
        fitted = answers.fit_statuses(views, face.budget // 2)
        conflicts = found.conflicts
        lines = [render.status_text(f.view) for f in fitted] + render.conflict_lines(conflicts)
        lines += [render.landing_text(view) for view, _ in landings]
        tasks = [answers.status_answer(f, found.waiting.get(f.view.task_id, 0)) for f in fitted]
        data: dict[str, Any] = {"tasks": tasks}
        if landings:
            data["landings"] = [answer for _, answer in landings]
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
        landing_ids = [i for i in ids if is_landing_id(i)]
        ids = [i for i in ids if not is_landing_id(i)]
        if landing_ids:
            started = time.monotonic()
            try:
                # Unknown ids are refused now, before any wait.
                landing_rows = await face.engine.landings.get_many(landing_ids)
                if ids:
                    rows, done = await face.wait_with_progress(ids, timeout, ctx, mode)
                else:
                    rows, done = [], True
                if done:
                    left = max(0.0, timeout - (time.monotonic() - started))
                    landing_rows = await face.engine.landings.wait(landing_ids, left)
                    done = all(r.terminal for r in landing_rows)
                else:  # the tasks' wait took the time: the landings as they are now
                    landing_rows = await face.engine.landings.get_many(landing_ids)
                landings = await landing_views(face, landing_rows)
            except TaskError as exc:
                return face.error(said(exc))
            parts = [render.landing_text(view) for view, _ in landings]
            answer_data: dict[str, Any] = {
                "done": done,
                "tasks": [],
                "landings": [answer for _, answer in landings],
            }
            if rows:
                fitted = answers.fit_views(
                    [result_view(r) for r in await face.fresh(rows)], face.budget // 2
                )
                answer_data["tasks"] = list(answers.wait_answer(fitted, done, [])["tasks"])
                parts = [render.result_text(f.view) for f in fitted] + parts
            running = [r.id for r in landing_rows if not r.terminal]
            if running:
                answer_data["still_running"] = running
                parts.insert(0, f"Still landing after {timeout:g} s: call codex_wait again.")
            return face.answer("\n\n".join(parts), answer_data)
        if not ids:
            return face.answer(
                "No unfinished tasks started by this client: nothing to wait for.",
                {"done": True, "tasks": []},
            )
        try:
            rows, done = await face.wait_with_progress(ids, timeout, ctx, mode)
        except TaskError as exc:
            return face.error(said(exc))
        fitted = answers.fit_views(
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
        parts = [
            head,
            *(render.result_text(f.view) for f in fitted),
            *render.conflict_lines(conflicts),
        ]
        waiting = await face.engine.waiting_to_land(rows)
        answer = dict(answers.wait_answer(fitted, done, running, waiting))
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
        found = await face.engine.newest(
            phases=status or None, limit=limit, landings=0 if status else LANDINGS_LISTED
        )
        now = time.time()
        listed = [listing_view(r, now) for r in found.rows]
        lines = [render.list_line(view) for view in listed]
        items = [render.list_item(view) for view in listed]
        total = found.total
        head = f"{total} task(s)" + (f", newest {limit} shown" if total > limit else "")
        data: dict[str, Any] = {"tasks": items, "total": total}
        if found.landings:
            landings = landing_answers(found.landings)
            data["landings"] = [answer for _, answer in landings]
            lines += [render.landing_text(view) for view, _ in landings]
        return face.answer("\n".join([head + ":", *lines]), data)


LANDINGS_LISTED = 5  # the newest landings codex_list shows beside the tasks


async def landing_views(
    face: Face, rows: list[LandingRow]
) -> list[tuple[LandingView, LandingAnswer]]:
    """Each landing's view (with its place in its repository's queue) and its answer."""
    positions = await face.engine.landings.positions(rows)
    return landing_answers(list(zip(rows, positions, strict=True)))


def landing_answers(
    found: list[tuple[LandingRow, int | None]],
) -> list[tuple[LandingView, LandingAnswer]]:
    """Each landing's view (at its place in its repository's queue) and its answer."""
    views = [(landing_view(row, position), row.report) for row, position in found]
    return [(view, answers.landing_answer(view, report)) for view, report in views]
