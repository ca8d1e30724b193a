"""MCP Tasks: long tool calls answered with a task handle the client polls.

Owns both wire forms of Tasks for the tools whose plain call blocks (``codex``, ``codex_reply``):

* 2026-07-28, the ``io.modelcontextprotocol/tasks`` extension (SEP-2663), built on the SDK's
  Extension API: when a request's capabilities declare the extension, ``tools/call`` answers
  ``{"resultType": "task", ...}`` at once, and ``tasks/get`` / ``tasks/cancel`` /
  ``tasks/update`` serve the rest. A tool error is a *completed* task whose result has
  ``isError`` (as the extension requires); ``failed`` is kept for protocol errors.
* 2025-11-25, the experimental core form: ``params.task`` on ``tools/call`` gives
  ``{"task": {...}}``; ``tasks/get``, ``tasks/result`` (blocks), ``tasks/list`` and
  ``tasks/cancel``; ``capabilities.tasks`` and ``execution.taskSupport: "optional"``. The SDK
  validates legacy ``tools/call`` results against ``CallToolResult``, so this form is applied by
  a server middleware on the wire dict, after that check.

A protocol task is a swarm task: the task id is the swarm task id, the state is the store's,
so a task survives a server restart and any task id (from ``codex_async`` too) can be polled.

Must not: know how tasks run. It launches through the same tool functions (a context variable
tells them to return as soon as the task is recorded) and reads results through the same
rendering, so a task's result is exactly what the blocking call would have returned.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolRequestParams, CallToolResult, RequestParams
from mcp_types import INVALID_PARAMS
from pydantic import Field

from ..engine import Engine, TaskError, TaskRow, status_view
from . import render
from .words import said

EXTENSION = "io.modelcontextprotocol/tasks"
MODERN = "2026-07-28"
TASK_TOOLS = frozenset({"codex", "codex_reply"})
POLL_MS = 1000
MISSING_CAPABILITY = -32021
RELATED_TASK = "io.modelcontextprotocol/related-task"
LIST_PAGE = 50


@dataclass
class TaskLaunch:
    """Set while a tool call should become a task: the tool records what it launched here."""

    row: TaskRow | None = None


#: Read by the blocking tools: when set, launch and return at once instead of waiting.
LAUNCH_AS_TASK: contextvars.ContextVar[TaskLaunch | None] = contextvars.ContextVar(
    "launch_as_task", default=None
)

ResultOf = Callable[[TaskRow], Awaitable[CallToolResult]]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities else None
    return bool(extensions) and EXTENSION in (extensions or {})


def _require_declared(ctx: ServerRequestContext[Any, Any]) -> None:
    if ctx.protocol_version == MODERN and not _declared(ctx):
        raise MCPError(
            code=MISSING_CAPABILITY,
            message="Missing required client capability",
            data={"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
        )


class TaskIdParams(RequestParams):
    taskId: str


class UpdateParams(RequestParams):
    taskId: str
    inputResponses: dict[str, Any] = Field(default_factory=dict)


class ListParams(RequestParams):
    cursor: str | None = None


class SwarmTasks(Extension):
    """The Tasks extension over the engine. ``bind`` it to the tools' result renderer."""

    identifier = EXTENSION

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._result_of: ResultOf | None = None

    def bind(self, result_of: ResultOf) -> None:
        self._result_of = result_of

    # ---- the task shapes ---------------------------------------------------------------------

    def _task(self, row: TaskRow, *, modern: bool) -> dict[str, Any]:
        message = render.progress_line([status_view(row)])
        if row.terminal:
            message = f"{row.phase}" + (f": {row.error}" if row.error else "")
        task: dict[str, Any] = {
            "taskId": row.id,
            "status": self._status(row, modern=modern),
            "statusMessage": message[:500],
            "createdAt": _iso(row.created_at),
            "lastUpdatedAt": _iso(row.updated_at),
        }
        if modern:
            task.update(ttlMs=None, pollIntervalMs=POLL_MS)
        else:
            task.update(ttl=None, pollInterval=POLL_MS)
        return task

    @staticmethod
    def _status(row: TaskRow, *, modern: bool) -> str:
        if not row.terminal:
            return "working"
        if row.phase == "cancelled":
            return "cancelled"
        if row.phase == "completed" or modern:
            return "completed"  # 2026: a tool error is a completed task with isError
        return "failed"

    async def _detailed(self, row: TaskRow) -> dict[str, Any]:
        task = self._task(row, modern=True)
        if row.terminal and row.phase != "cancelled":
            assert self._result_of is not None
            result = await self._result_of(row)
            task["result"] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return task

    async def _row(self, task_id: str) -> TaskRow:
        try:
            return await self.engine.get(task_id)
        except TaskError as exc:
            raise MCPError(code=INVALID_PARAMS, message=f"Task not found: {said(exc)}") from None

    # ---- methods -----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> Sequence[MethodBinding]:
        legacy = frozenset({"2025-11-25"})
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
            MethodBinding("tasks/update", UpdateParams, self._update),
            MethodBinding("tasks/result", TaskIdParams, self._result, protocol_versions=legacy),
            MethodBinding("tasks/list", ListParams, self._list, protocol_versions=legacy),
        )

    async def _get(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> HandlerResult:
        _require_declared(ctx)
        row = await self._row(params.taskId)
        if ctx.protocol_version == MODERN:
            return {"resultType": "complete", **await self._detailed(row)}
        return self._task(row, modern=False)

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> HandlerResult:
        _require_declared(ctx)
        await self._row(params.taskId)
        row = await self.engine.request_cancel(params.taskId)  # acknowledged now, stops soon
        if ctx.protocol_version == MODERN:
            return {"resultType": "complete"}
        return self._task(row, modern=False)

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateParams
    ) -> HandlerResult:
        _require_declared(ctx)
        await self._row(params.taskId)
        # Codex runs unattended: a swarm task never asks for input, so there is nothing to
        # update. Responses to requests never issued are ignored, as the extension says.
        return {"resultType": "complete"}

    async def _result(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> HandlerResult:
        row = await self._row(params.taskId)
        rows, _done = await self.engine.wait([row.id], None)
        assert self._result_of is not None
        result = (await self._result_of(rows[0])).model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        result.setdefault("_meta", {})[RELATED_TASK] = {"taskId": row.id}
        return result

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListParams) -> HandlerResult:
        try:
            start = int(params.cursor or 0)
        except ValueError:
            raise MCPError(code=INVALID_PARAMS, message="Invalid cursor") from None
        rows = (await self.engine.list(limit=start + LIST_PAGE + 1))[start:]
        page = [self._task(r, modern=False) for r in rows[:LIST_PAGE]]
        out: dict[str, Any] = {"tasks": page}
        if len(rows) > LIST_PAGE:
            out["nextCursor"] = str(start + LIST_PAGE)
        return out

    # ---- tools/call, 2026-07-28 ----------------------------------------------------------------

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        if (
            params.name not in TASK_TOOLS
            or ctx.protocol_version != MODERN
            or not _declared(ctx)
            or (params.arguments or {}).get("async") is True
        ):
            return await call_next(ctx)
        row, result = await run_as_task(call_next, ctx)
        if row is None:
            return result  # refused before a task existed: the plain isError result
        return {"resultType": "task", **self._task(row, modern=True)}

    # ---- tools/call and friends, 2025-11-25 ----------------------------------------------------

    async def legacy_middleware(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """The 2025-11-25 wire form, applied to the wire dicts after the SDK's checks."""
        if ctx.protocol_version == MODERN:
            return await call_next(ctx)
        params = ctx.params or {}
        if ctx.method == "tools/call" and params.get("task") is not None:
            if params.get("name") not in TASK_TOOLS:
                raise MCPError(
                    code=INVALID_PARAMS,
                    message=f"tool {params.get('name')!r} does not run as a task",
                )
            row, result = await run_as_task(call_next, ctx)
            if row is None:
                return result
            return {"task": self._task(row, modern=False)}
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict):
            capabilities = result.setdefault("capabilities", {})
            capabilities["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        elif ctx.method == "tools/list" and isinstance(result, dict):
            for tool in result.get("tools") or []:
                if tool.get("name") in TASK_TOOLS:
                    tool["execution"] = {"taskSupport": "optional"}
        return result


async def run_as_task(
    call_next: CallNext, ctx: ServerRequestContext[Any, Any]
) -> tuple[TaskRow | None, HandlerResult]:
    """Run the tool with LAUNCH_AS_TASK set; return the launched row (None if refused)."""
    launch = TaskLaunch()
    token = LAUNCH_AS_TASK.set(launch)
    try:
        result = await call_next(ctx)
    finally:
        LAUNCH_AS_TASK.reset(token)
    return launch.row, result
