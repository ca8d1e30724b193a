"""The tools that start, continue and stop Codex agents: codex, codex_async, codex_reply,
codex_cancel.

Owns: these tools' names, parameters and descriptions.
Must not: hold task logic: arguments go to the engine through ``Face``.

A tool module is a ``register(face)`` function that adds its tools with ``face.mcp.tool(...)``
(or ``face.mcp.add_tool``) and answers through ``face`` (``face.answer``, ``face.error``,
``face.task_answer``, ``face.engine``); it is listed once in ``server.TOOL_MODULES``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..engine import TaskError, is_landing_id, landing_view, result_view
from . import answers, render
from .answers import TaskAnswer
from .face import TASK_TOOL, Face, alias_kwargs
from .schemas import (
    ApprovalPolicy,
    AutoLandArg,
    BaseInstructions,
    BaseRef,
    CompactPrompt,
    Config,
    Cwd,
    DeveloperInstructions,
    IdleTimeout,
    IncludeUncommitted,
    Model,
    OutputSchema,
    Priority,
    Profile,
    Prompt,
    Retries,
    Sandbox,
    Timeout,
    TouchPaths,
    UseWorktree,
)
from .tasks import LAUNCH_AS_TASK
from .words import said


def register(face: Face) -> None:
    async def codex(
        prompt: Prompt,
        ctx: Context,
        model: Model = None,
        sandbox: Sandbox = None,
        approval_policy: ApprovalPolicy = None,
        cwd: Cwd = None,
        profile: Profile = None,
        config: Config = None,
        base_instructions: BaseInstructions = None,
        developer_instructions: DeveloperInstructions = None,
        compact_prompt: CompactPrompt = None,
        timeout: Timeout = None,
        idle_timeout: IdleTimeout = None,
        retries: Retries = None,
        priority: Priority = 0,
        worktree: UseWorktree = False,
        base_ref: BaseRef = None,
        include_uncommitted: IncludeUncommitted = False,
        paths: TouchPaths = None,
        output_schema: OutputSchema = None,
        land: AutoLandArg = None,
    ) -> Annotated[CallToolResult, TaskAnswer]:
        """Run one Codex session and return when it finishes."""
        args = dict(locals())
        return await face.launch(args, args.pop("ctx"), blocking=True)

    @functools.wraps(codex)
    async def codex_async(**kwargs: Any) -> Annotated[CallToolResult, TaskAnswer]:
        ctx = kwargs.pop("ctx", None)
        return await face.launch(kwargs, ctx, blocking=False)

    face.mcp.add_tool(
        alias_kwargs(codex),
        name="codex",
        description=(
            "Run an OpenAI Codex CLI agent on a prompt and wait for its answer (content; "
            "threadId for codex_reply). For parallel agents use codex_async."
        ),
        annotations=TASK_TOOL,
    )
    face.mcp.add_tool(
        alias_kwargs(codex_async),
        name="codex_async",
        description=(
            "Start a Codex agent as a background task and get its task_id at once; call it "
            "several times for parallel agents (worktree: true gives each its own git branch), "
            "then codex_wait."
        ),
        annotations=TASK_TOOL,
    )

    @face.mcp.tool(
        name="codex_reply",
        description=(
            "Continue a Codex agent's thread with a new prompt, in its directory and settings. "
            "Waits unless async is true."
        ),
        annotations=TASK_TOOL,
    )
    @alias_kwargs
    async def codex_reply(
        threadId: Annotated[str, Field(max_length=64, description="from an earlier result")],
        prompt: Prompt,
        ctx: Context,
        run_async: Annotated[
            bool, Field(alias="async", description="return a task_id at once")
        ] = False,
        output_schema: OutputSchema = None,
    ) -> Annotated[CallToolResult, TaskAnswer]:
        try:
            row = await face.engine.reply(threadId, prompt, output_schema=output_schema)
        except TaskError as exc:
            return face.error(said(exc))
        as_task = LAUNCH_AS_TASK.get()
        if as_task is not None:
            as_task.row = row
        if run_async or as_task is not None:
            return face.started(row, f"Started task {row.id} continuing thread {threadId}.")
        rows, _done = await face.wait_with_progress([row.id], None, ctx)
        return await face.task_answer(rows[0])

    @face.mcp.tool(
        name="codex_cancel",
        description=(
            "Cancel a Codex agent background task: stop it and every process it started "
            "(its output so far is kept); or a landing (stopped at a landed boundary)."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def codex_cancel(
        task_id: Annotated[str, Field(max_length=64)],
    ) -> Annotated[CallToolResult, TaskAnswer]:
        if is_landing_id(task_id):  # a landing stops at a landed boundary
            try:
                landing = await face.engine.landings.cancel(task_id)
            except TaskError as exc:
                return face.error(said(exc))
            text = render.landing_text(landing_view(landing))
            return face.answer(text, {"task_id": landing.id, "status": landing.phase})
        try:
            before = await face.engine.get(task_id)
            row = await face.engine.cancel(task_id)
        except TaskError as exc:
            return face.error(said(exc))
        fitted = answers.fit_views([result_view(row)], face.budget // 2)[0]
        if before.terminal:
            text = f"Task {row.id} had already ended ({row.phase}); nothing to cancel."
        else:
            text = render.result_text(fitted.view)
        return face.answer(text, dict(answers.task_answer(fitted.view, truncated=fitted.truncated)))
