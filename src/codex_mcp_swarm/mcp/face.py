"""What every tool module of the MCP face shares: the engine, the SDK server, and answers.

Owns: :class:`Face` (the engine, settings and ``MCPServer`` a tool module registers on, the
answer helpers, the launch of a task from tool arguments, waiting with progress), the tool
annotations, and the hyphenated-parameter adapter.

Must not: hold task logic (the engine decides; this translates arguments and renders results),
or decide what blocks: every engine call is awaited, and the engine runs its own blocking work
off the event loop.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic.fields import FieldInfo

from ..codex.command import TaskSpec
from ..engine import (
    FAILED,
    AutoLand,
    Engine,
    Limits,
    Overlap,
    TaskError,
    TaskRow,
    as_data,
    result_view,
    status_view,
    worktree_request,
)
from ..settings import Settings
from . import answers, render
from .tasks import LAUNCH_AS_TASK
from .words import said

PROGRESS_EVERY = 10.0  # seconds between progress notifications when nothing changed
TASK_TOOL = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)
READ_TOOL = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def alias_kwargs(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let tools have hyphenated parameters (``approval-policy``): the SDK calls the function
    with the alias as keyword, so map aliases back to the Python names."""
    names: dict[str, str] = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        if typing.get_origin(hint) is Annotated:
            for meta in typing.get_args(hint)[1:]:
                if isinstance(meta, FieldInfo) and meta.alias:
                    names[meta.alias] = name
    assert inspect.iscoroutinefunction(fn)

    @functools.wraps(fn)
    async def wrapper(**kwargs: Any) -> Any:
        return await fn(**{names.get(k, k): v for k, v in kwargs.items()})

    return wrapper


def spec_from_args(args: dict[str, Any]) -> TaskSpec:
    return TaskSpec(
        prompt=args["prompt"],
        cwd=args.get("cwd") or "",
        model=args.get("model"),
        sandbox=args.get("sandbox"),
        approval_policy=args.get("approval_policy"),
        profile=args.get("profile"),
        config=args.get("config") or {},
        base_instructions=args.get("base_instructions"),
        developer_instructions=args.get("developer_instructions"),
        compact_prompt=args.get("compact_prompt"),
        output_schema=args.get("output_schema"),
    )


class ProgressReporter:
    """Sends one progress notification per change of the summary line, and a heartbeat at
    least every PROGRESS_EVERY seconds (clients reset their idle timers on progress)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.count = 0
        self.line = ""
        self.at = 0.0

    @classmethod
    def of(cls, ctx: Context | None) -> ProgressReporter | None:
        """A reporter for the request of ``ctx``; None when its client asked for no progress
        (it sent no progress token)."""
        meta = (ctx.request_context.meta or {}) if ctx is not None else {}
        if ctx is None or not meta.get("progress_token"):
            return None
        return cls(ctx)

    async def tick(self, rows: list[TaskRow]) -> None:
        """Tasks being waited for: one line of where they are (``render.progress_line``)."""
        await self.say(render.progress_line([status_view(r) for r in rows]))

    async def say(self, line: str) -> None:
        """``line`` as the next notification, unless it is the last one again (and the last
        went out less than PROGRESS_EVERY seconds ago)."""
        now = time.monotonic()
        if self.count and line == self.line and now - self.at < PROGRESS_EVERY:
            return
        self.count += 1
        self.line, self.at = line, now
        await self.ctx.report_progress(float(self.count), None, line)


class Face:
    """The MCP face's shared parts, handed to each tool module's ``register(face)``."""

    def __init__(self, mcp: MCPServer, engine: Engine, settings: Settings) -> None:
        self.mcp = mcp
        self.engine = engine
        self.settings = settings
        self.budget = settings.max_output_chars

    # ---- answers -----------------------------------------------------------------------------

    @staticmethod
    def error(message: str) -> CallToolResult:
        return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)

    def answer(self, text: str, data: dict[str, Any], *, is_error: bool = False) -> CallToolResult:
        more = "codex_status, codex_list or the codex-swarm:///tasks resources give the rest"
        return CallToolResult(
            content=[TextContent(type="text", text=answers.cap_text(text, self.budget, more))],
            structured_content=data,
            is_error=is_error,
        )

    async def fresh(self, rows: list[TaskRow]) -> list[TaskRow]:
        """Worktree tasks' merge outlook against their base branch's tip as it is now."""
        return await self.engine.refresh_outcomes(rows)

    async def task_answer(self, row: TaskRow) -> CallToolResult:
        await self.fresh([row])
        fitted = answers.fit_views([result_view(row)], self.budget // 2)[0]
        waiting = (await self.engine.waiting_to_land([row])).get(row.id, 0)
        return self.answer(
            render.result_text(fitted.view),
            dict(answers.task_answer(fitted.view, waiting, truncated=fitted.truncated)),
            is_error=row.phase in FAILED,
        )

    def started(
        self, row: TaskRow, text: str, overlaps: list[Overlap] | None = None
    ) -> CallToolResult:
        data = dict(answers.task_answer(result_view(row)))
        if overlaps:
            data["overlaps"] = as_data(overlaps)
            text += "\nWarning: " + render.overlap_text(overlaps)
        return self.answer(text, data)

    # ---- running tasks -----------------------------------------------------------------------

    async def wait_with_progress(
        self, task_ids: list[str], timeout: float | None, ctx: Context | None, mode: str = "all"
    ) -> tuple[list[TaskRow], bool]:
        reporter = ProgressReporter.of(ctx)
        if reporter is None:
            return await self.engine.wait(task_ids, timeout, mode=mode)
        return await self.engine.wait(task_ids, timeout, mode=mode, on_tick=reporter.tick)

    async def launch(
        self, args: dict[str, Any], ctx: Context | None, blocking: bool
    ) -> CallToolResult:
        limits = Limits(
            timeout=args.get("timeout"),
            idle_timeout=args.get("idle_timeout"),
            retries=args.get("retries"),
        )
        land = args.get("land")
        auto_land = None
        if land is not None:
            if not args.get("worktree"):
                return self.error(
                    "land needs worktree: true (a task lands its own branch); add worktree: "
                    "true, or leave land out and use codex_land later"
                )
            if land.check is not None and not land.check.strip():
                return self.error("land.check is empty: give a shell command, or leave it out")
            auto_land = AutoLand(
                target=land.target,
                check=land.check,
                strategy=land.strategy,
                on_failure=land.on_failure,
            )
        try:
            worktree = worktree_request(
                bool(args.get("worktree")),
                args.get("base_ref"),
                bool(args.get("include_uncommitted")),
            )
            row = await self.engine.launch(
                spec_from_args(args),
                limits=limits,
                priority=args.get("priority") or 0,
                worktree=worktree,
                auto_land=auto_land,
            )
        except TaskError as exc:
            return self.error(said(exc))
        overlaps = None
        if args.get("paths"):  # a warning, never a refusal
            overlaps = await self.engine.record_paths(row, args["paths"])
        as_task = LAUNCH_AS_TASK.get()
        if as_task is not None:  # the Tasks layer answers with a task handle instead
            as_task.row = row
            return self.started(row, f"Started task {row.id}.", overlaps)
        if not blocking:
            return self.started(
                row,
                f"Started task {row.id} ({row.phase}). Use codex_wait with task_ids "
                f'["{row.id}"] for its result, or codex_status to see what it is doing.',
                overlaps,
            )
        rows, _done = await self.wait_with_progress([row.id], None, ctx)
        return await self.task_answer(rows[0])
