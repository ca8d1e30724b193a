"""The ``codex_review`` tool: a read-only code review of a task's work, as a task of its own.

Owns: the tool's name, description, parameters and answer. The rules are the engine's
(``Engine.review``).

Must not: hold task logic.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..engine import Engine, TaskError, TaskRow, result_view
from . import answers
from .answers import TaskAnswer
from .schemas import PROMPT_LIMIT
from .words import said

Answer = Callable[..., CallToolResult]
AnswerOf = Callable[[TaskRow], Awaitable[CallToolResult]]
Wait = Callable[..., Awaitable[tuple[list[TaskRow], bool]]]


def register(
    mcp: MCPServer, engine: Engine, answer: Answer, task_answer: AnswerOf, wait: Wait
) -> None:
    async def review_task(
        task_id: Annotated[str, Field(max_length=64)],
        ctx: Context,
        instructions: Annotated[
            str | None,
            Field(max_length=PROMPT_LIMIT, description="what to focus on"),
        ] = None,
        run_async: Annotated[
            bool, Field(alias="async", description="return a task_id at once")
        ] = False,
    ) -> Annotated[CallToolResult, TaskAnswer]:
        try:
            row = await engine.review(task_id, instructions)
        except TaskError as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        if run_async:
            text = (
                f"Started review task {row.id} of task {task_id}. Use codex_wait with task_ids "
                f'["{row.id}"] for its findings.'
            )
            data: dict[str, Any] = dict(answers.task_answer(result_view(row)))
            return answer(text, data)
        rows, _done = await wait([row.id], None, ctx)
        return await task_answer(rows[0])

    @mcp.tool(
        name="codex_review",
        description=(
            "Code review of a Codex agent's work (its worktree branch, else its uncommitted "
            "changes) by a read-only review agent. Waits unless async is true."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=True
        ),
    )
    @functools.wraps(review_task)
    async def codex_review(**kwargs: Any) -> Any:
        # The SDK passes the parameter by its alias ("async", a Python keyword).
        if "async" in kwargs:
            kwargs["run_async"] = kwargs.pop("async")
        return await review_task(**kwargs)
