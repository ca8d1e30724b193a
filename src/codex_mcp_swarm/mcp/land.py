"""The ``codex_land`` tool: bring many worktree tasks home in one call, checked, never half-merged.

Owns: the tool's parameters and description. Its answer is ``answers.land_answer`` (the
structured part a model reads) and ``render.land_text`` (one line per task, and the longer tail of
a failed check's output).

Must not: hold landing logic (``engine.landing`` chooses and records, ``git.landing`` merges,
checks and moves the target); anything they refuse becomes an ``isError`` result.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..engine import Engine, LandingRow, LandRequest, TaskError, landing_view
from ..git import GitError
from . import answers, render
from .answers import LandAnswer
from .face import ProgressReporter, alias_kwargs
from .schemas import MAX_IDS, Cwd, OnFailure, Strategy, Target
from .words import said

DESCRIPTION = (
    "Land (merge) many finished Codex agents' worktree branches into their target, like a merge "
    "queue: the merges are checked in batches (check: a shell command) before the target moves, "
    "with the outcome of landing one by one; conflicts and failed checks are reported, or "
    "sent back to the task's own thread (on_failure: reply) and landed again."
)

LandIds = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(
        max_length=MAX_IDS,
        description="default: every finished one of cwd's repository",
    ),
]
Check = Annotated[
    str | None,
    Field(
        max_length=4096,
        description="e.g. 'pytest -q' (non-zero: not landed)",
    ),
]
CheckTimeout = Annotated[float, Field(gt=0, le=86400)]
CheckParallel = Annotated[
    int | None, Field(ge=1, le=64, description="candidates checked at once (default: CPUs)")
]
Resolve = Annotated[bool, Field(description="start an agent per conflict")]
Attempts = Annotated[
    int, Field(ge=1, le=10, description="landings per task, with on_failure reply")
]


Async = Annotated[
    bool,
    Field(alias="async", description="answer at once with a landing id (codex_wait it)"),
]


def register(mcp: MCPServer, engine: Engine, budget: int, sync_limit: float) -> None:
    """Add ``codex_land`` to ``mcp``. Every landing goes through the engine's landing queue;
    a call that would wait longer than ``sync_limit`` answers with its landing id instead."""

    def ended(row: LandingRow) -> CallToolResult:
        if row.phase == "completed" and row.report is not None:
            text = answers.cap_text(
                render.land_text(row.report), budget, "structuredContent has each task"
            )
            data = dict(answers.land_answer(row.report))
            return CallToolResult(
                content=[TextContent(type="text", text=text)], structured_content=data
            )
        view = landing_view(row)
        return CallToolResult(
            content=[TextContent(type="text", text=render.landing_text(view))],
            structured_content={"landing": dict(answers.landing_answer(view, row.report))},
            is_error=row.phase == "failed",
        )

    def pending(row: LandingRow, position: int | None, note: str) -> CallToolResult:
        view = landing_view(row, position)
        text = f"{render.landing_text(view)}\n{note}"
        data = {"landing": dict(answers.landing_answer(view, None)), "note": note}
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )

    @mcp.tool(
        name="codex_land",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
    )
    @alias_kwargs
    async def codex_land(
        ctx: Context,
        task_ids: LandIds = None,
        target: Target = None,
        strategy: Strategy = "merge",
        check: Check = None,
        check_timeout: CheckTimeout = 900.0,
        check_parallel: CheckParallel = None,
        cwd: Cwd = None,
        resolve: Resolve = False,
        on_failure: OnFailure = "report",
        attempts: Attempts = 2,
        async_: Async = False,
    ) -> Annotated[CallToolResult, LandAnswer]:
        request = LandRequest(
            task_ids=tuple(task_ids) if task_ids else None,
            cwd=cwd,
            target=target,
            strategy=strategy,
            check=check,
            check_timeout=check_timeout,
            check_parallel=check_parallel,
            resolve=resolve,
            on_failure=on_failure,
            attempts=attempts,
        )
        try:
            row = await engine.landings.submit(request)
        except (TaskError, GitError) as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        if async_:
            position = await engine.landings.position(row)
            return pending(row, position, f"codex_wait [{row.id!r}] for its result")
        row = await _wait(engine, row, sync_limit, ctx)
        if row.terminal:
            return ended(row)
        return pending(
            row,
            await engine.landings.position(row),
            f"still landing after {sync_limit:g} s: it goes on as {row.id}; codex_wait "
            f"[{row.id!r}] for its result, codex_cancel stops it at a landed boundary",
        )


async def _wait(engine: Engine, row: LandingRow, limit: float, ctx: Context) -> LandingRow:
    """Wait up to ``limit`` seconds for the landing to end, telling the client where it is
    (its line, as the tasks' waits do: on each change, and at least every so often)."""
    reporter = ProgressReporter.of(ctx)
    deadline = anyio.current_time() + limit
    while not row.terminal:
        left = deadline - anyio.current_time()
        if left <= 0:
            break
        await engine.wait_for_change(min(left, 1.0))
        row = await engine.landings.get(row.id)
        if reporter is not None:
            await reporter.say(render.landing_text(landing_view(row)))
    return row
