"""The ``codex_fork`` tool: new tasks that continue copies of a thread.

Owns: the tool's name, description, parameters and answer. The rules are the engine's
(``Engine.fork``).

Must not: hold task logic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..engine import MAX_FORKS, Engine, TaskError, result_view
from . import answers
from .answers import TaskAnswer
from .schemas import PROMPT_LIMIT
from .words import said

Answer = Callable[..., CallToolResult]


class ForkResult(BaseModel):
    source_task_id: str | None = Field(description="the task whose thread was forked, if known")
    source_threadId: str
    tasks: list[TaskAnswer] = Field(description="the new tasks, one per fork")


def register(mcp: MCPServer, engine: Engine, answer: Answer) -> None:
    @mcp.tool(
        name="codex_fork",
        description=(
            "Fork a Codex agent: new background tasks continue copies of a task's thread with "
            "a new prompt (best-of-N with count), each on its own branch when worktrees are on."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=True
        ),
    )
    async def codex_fork(
        prompt: Annotated[
            str,
            Field(min_length=1, max_length=PROMPT_LIMIT),
        ],
        task_id: Annotated[str | None, Field(max_length=64, description="or threadId")] = None,
        threadId: Annotated[str | None, Field(max_length=64)] = None,
        count: Annotated[int, Field(ge=1, le=MAX_FORKS)] = 1,
        worktree: Annotated[
            bool | None,
            Field(description="default: as the source"),
        ] = None,
    ) -> Annotated[CallToolResult, ForkResult]:
        try:
            rows = await engine.fork(
                prompt, task_id=task_id, thread_id=threadId, count=count, worktree=worktree
            )
        except TaskError as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        source = rows[0].parent_id
        thread = rows[0].task.fork_thread_id
        views = [result_view(r) for r in rows]
        lines = [f"Started {len(rows)} fork(s) of thread {thread}:"]
        for view in views:
            branch = view.worktree.branch if view.worktree is not None else None
            lines.append(f"- task {view.task_id}" + (f" on branch {branch}" if branch else ""))
        ids = ", ".join(f'"{r.id}"' for r in rows)
        lines.append(f"Use codex_wait with task_ids [{ids}] for their results.")
        tasks = [dict(answers.task_answer(view)) for view in views]
        data: dict[str, Any] = {"source_task_id": source, "source_threadId": thread, "tasks": tasks}
        return answer("\n".join(lines), data)
