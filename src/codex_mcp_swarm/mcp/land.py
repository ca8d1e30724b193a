"""The ``codex_land`` tool: bring many worktree tasks home in one call, checked, never half-merged.

Owns: the tool's parameters, description, output schema and text (one line per task).

Must not: hold landing logic (``engine.landing`` chooses and records, ``git.landing`` merges,
checks and moves the target); anything they refuse becomes an ``isError`` result.
"""

from __future__ import annotations

import functools
from typing import Annotated

import anyio
from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..engine.landing import LandRequest, land
from ..engine.records import CheckFailed, Conflicted, Landed, Resolving, Skipped, as_data
from ..engine.tasks import Engine, TaskError
from ..git import GitError
from . import answers
from .schemas import MAX_IDS, Cwd, Strategy, Target
from .words import said

DESCRIPTION = (
    "Land (merge) many finished Codex agents' worktree branches into their target, like a merge "
    "queue: the merges are checked in batches (check: a shell command) before the target moves, "
    "with the outcome of landing one by one; conflicts and failed checks are reported."
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


class LandAnswer(BaseModel):
    """The engine's :class:`~..engine.records.LandReport`, field for field."""

    landed: list[Landed] = Field(
        description="task_id, branch, target, commit, already (it was in the target before)"
    )
    conflicted: list[Conflicted] = Field(description="task_id, paths, colliding_tasks")
    check_failed: list[CheckFailed] = Field(
        description="task_id, exit_code, timed_out, seconds, output_tail"
    )
    skipped: list[Skipped] = Field(description="task_id, reason")
    resolving: list[Resolving] = Field(description="task_id, follow_up (the resolving task)")
    target: str | None = Field(description="the target branch (null when several)")
    new_tip: str | None = Field(description="the target's tip after the landing")
    tips: dict[str, str] = Field(description="each target branch's tip after the landing")
    checkout: str | None = Field(description="what happened to the checkout holding the target")
    repository: str
    strategy: str
    check: str | None
    check_seconds: float = Field(description="time the check commands ran")
    check_prepare_seconds: float = Field(
        description="time spent checking candidates out in the scratch worktree"
    )
    seconds: float
    lines: list[str]


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
        )
        try:
            out = await anyio.to_thread.run_sync(functools.partial(land, engine, request))
        except (TaskError, GitError) as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        text = answers.cap_text("\n".join(out.lines), budget, "structuredContent has all")
        data = LandAnswer.model_validate(as_data(out)).model_dump(mode="json")
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )
