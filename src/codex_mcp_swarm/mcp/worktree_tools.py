"""The tools for a worktree task's branch: codex_diff, codex_merge, codex_cleanup.

Owns: these tools' names, parameters, descriptions and answers.
Must not: touch git itself (the engine does: ``Engine.diff``, ``merge``, ``cleanup``).

A tool module is a ``register(face)`` function that adds its tools with ``face.mcp.tool(...)``
(or ``face.mcp.add_tool``) and answers through ``face`` (``face.answer``, ``face.error``,
``face.task_answer``, ``face.engine``); it is listed once in ``server.TOOL_MODULES``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from ..engine import TaskError, as_data
from ..git import GitError
from ..wording import cleanup_line
from . import answers
from .face import READ_TOOL, Face
from .schemas import CleanupAnswer, DiffResult, MergeAnswer, Paths, Strategy, Target, TaskId
from .words import said


def register(face: Face) -> None:
    @face.mcp.tool(
        name="codex_diff",
        description=(
            "Diff of a Codex agent's worktree branch against its base: stat and patch (cut to "
            "fit; paths shows the rest)."
        ),
        annotations=READ_TOOL,
    )
    async def codex_diff(
        task_id: TaskId, stat_only: bool = False, paths: Paths = None
    ) -> Annotated[CallToolResult, DiffResult]:
        try:
            out = await face.engine.diff(
                task_id, paths=paths, stat_only=stat_only, max_chars=face.budget * 3 // 4
            )
        except (TaskError, GitError) as exc:
            return face.error(said(exc))
        parts = [f"Task {task_id}: {out.branch} against {out.base_commit[:10]}", out.stat]
        if out.patch:
            parts.append(out.patch)
        if out.truncated:
            omitted = ", ".join(out.omitted_paths)
            parts.append(
                f"[patch cut at {out.shown_chars} of {out.total_chars} chars"
                + (f", inside {out.cut_in_path}" if out.cut_in_path else "")
                + f". Not shown: {omitted}. Call codex_diff with paths to see them.]"
            )
        stat = answers.cap_text(out.stat, face.budget // 8, "stat cut")
        return face.answer("\n".join(parts), as_data(replace(out, stat=stat)))

    @face.mcp.tool(
        name="codex_merge",
        description=(
            "Merge a finished Codex agent's worktree branch into the checkout of its target "
            "branch; on conflicts it changes nothing and names them."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
    )
    async def codex_merge(
        task_id: TaskId, strategy: Strategy = "merge", target: Target = None
    ) -> Annotated[CallToolResult, MergeAnswer]:
        try:
            out = await face.engine.merge(task_id, strategy=strategy, target=target)
        except (TaskError, GitError) as exc:
            return face.error(said(exc))
        if out.merged:
            text = (
                f"Merged {task_id} into {out.target} ({out.strategy}): now at "
                f"{out.commit}. {out.message}"
            )
        else:
            text = f"Not merged: {out.message}"
            if out.conflicts:
                text += "\nConflicting paths: " + ", ".join(out.conflicts)
        return face.answer(text, as_data(out), is_error=not out.merged)

    @face.mcp.tool(
        name="codex_cleanup",
        description=(
            "Clean up Codex agent worktrees: remove a finished task's worktree and its merged "
            "branch, or every merged one (all_merged)."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=False
        ),
    )
    async def codex_cleanup(
        task_id: Annotated[str | None, Field(max_length=64)] = None,
        all_merged: bool = False,
        force: Annotated[bool, Field(description="also unmerged work (lost)")] = False,
    ) -> Annotated[CallToolResult, CleanupAnswer]:
        if bool(task_id) == bool(all_merged):
            return face.error("give either task_id or all_merged: true (not both)")
        if all_merged and force:
            return face.error("force only applies to one task_id: name the task whose work may go")
        try:
            if task_id:
                cleaned = [await face.engine.cleanup(task_id, force=force)]
            else:
                cleaned = await face.engine.cleanup_merged()
        except (TaskError, GitError) as exc:
            return face.error(said(exc))
        lines = [cleanup_line(item) for item in cleaned]
        text = "\n".join(lines) if lines else "Nothing to clean up: no merged task branches."
        return face.answer(text, {"cleaned": as_data(cleaned)})
