"""The ``codex_land`` tool: bring many worktree tasks home in one call, checked, never half-merged.

Owns: the tool's parameters and description. Its answer is ``answers.land_answer`` (the
structured part a model reads) and ``render.land_text`` (one line per task, and the longer tail of
a failed check's output).

Must not: hold landing logic (``engine.landing`` chooses and records, ``git.landing`` merges,
checks and moves the target); anything they refuse becomes an ``isError`` result.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ..engine import Engine, LandRequest, TaskError
from ..git import GitError
from . import answers, render
from .answers import LandAnswer
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


def register(mcp: MCPServer, engine: Engine, budget: int) -> None:
    """Add ``codex_land`` to ``mcp``."""

    @mcp.tool(
        name="codex_land",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
    )
    async def codex_land(
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
            out = await engine.land(request)
        except (TaskError, GitError) as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        text = answers.cap_text(render.land_text(out), budget, "structuredContent has each task")
        data = dict(answers.land_answer(out))
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )
