"""The MCP face: tool and resource definitions over the engine.

Owns: tool names and descriptions, the shape of tool results (``structuredContent`` + readable
text + ``isError``), the size cap on every answer, progress notifications, and resources.
Parameter types and result models live in ``schemas``; wording in ``render``.

Must not: hold task logic. Every tool translates its arguments into engine calls and renders what
comes back; anything the engine refuses becomes an ``isError`` result with its sentence.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
import typing
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import (
    CallToolResult,
    SubscribeRequestParams,
    TextContent,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from pydantic import Field
from pydantic.fields import FieldInfo

from .. import __version__
from ..codex.command import TaskSpec
from ..engine import branches, outlook
from ..engine.store import TaskRow
from ..engine.tasks import Engine, Limits, TaskError, WorktreeRequest
from ..engine.views import listing_view, result_view, status_view
from ..git import GitError
from ..settings import Settings
from . import fork as fork_tool
from . import land as land_tool
from . import render
from . import review as review_tool
from . import steer as steer_tool
from .schemas import (
    DEFAULT_WAIT,
    ApprovalPolicy,
    BaseInstructions,
    BaseRef,
    CleanupAnswer,
    CompactPrompt,
    Config,
    Cwd,
    DeveloperInstructions,
    DiffResult,
    IdleTimeout,
    IncludeUncommitted,
    ListLimit,
    MergeAnswer,
    Model,
    OptionalTaskIds,
    Paths,
    Priority,
    Profile,
    Prompt,
    Retries,
    Sandbox,
    StatusFilter,
    StatusList,
    Strategy,
    Target,
    TaskId,
    TaskIds,
    TaskList,
    TaskResult,
    Timeout,
    TouchPaths,
    UseWorktree,
    WaitMode,
    WaitResult,
    WaitTimeout,
)
from .tasks import LAUNCH_AS_TASK, SwarmTasks
from .updates import ResourceUpdates

PROGRESS_EVERY = 10.0  # seconds between progress notifications when nothing changed
EVENTS_PAGE_BYTES = 256 * 1024
TOOL_NAMES = (
    "codex",
    "codex_async",
    "codex_reply",
    "codex_status",
    "codex_wait",
    "codex_list",
    "codex_cancel",
    "codex_diff",
    "codex_merge",
    "codex_cleanup",
    "codex_land",
    "codex_steer",
    "codex_fork",
    "codex_review",
)

INSTRUCTIONS = """\
Runs OpenAI Codex CLI agents as parallel background tasks.
- codex: run one Codex session and wait for its answer (like the classic Codex MCP tool).
- codex_async: start a session and get a task_id at once; start several to work in parallel.
- codex_status: what each task is doing right now. codex_wait: block until tasks finish (bounded
  by timeout; a task still running is reported, never killed; call again to keep waiting).
- codex_reply: continue a finished session by its threadId. codex_cancel: stop a task.
- codex_list: find tasks (and their ids) again.
- codex_steer: redirect a running task (same task, thread and files). codex_fork: new tasks from
  copies of a thread (best-of-N, or ask a running task a question). codex_review: a read-only
  code review of a task's work, as a task of its own.
- worktree: true gives a task its own git worktree and branch (parallel agents never edit over
  each other); its work is committed there when it ends. Then codex_diff shows it, codex_merge
  brings it back (refusing on conflicts), codex_cleanup removes what is merged. codex_land
  lands many finished worktree tasks in one call, each checked (check) before the target moves.
Every result carries threadId and content (the agent's final message). Long answers are cut;
the cut says which codex-swarm:/// resource holds the whole text."""


def _alias_kwargs(fn: Callable[..., Any]) -> Callable[..., Any]:
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


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _spec_from_args(args: dict[str, Any]) -> TaskSpec:
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
    )


class _ProgressReporter:
    """Sends one progress notification per change of the summary line, and a heartbeat at
    least every PROGRESS_EVERY seconds (clients reset their idle timers on progress)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.count = 0
        self.line = ""
        self.at = 0.0

    async def tick(self, rows: list[TaskRow]) -> None:
        line = render.progress_line([status_view(r) for r in rows])
        now = time.monotonic()
        if self.count and line == self.line and now - self.at < PROGRESS_EVERY:
            return
        self.count += 1
        self.line, self.at = line, now
        await self.ctx.report_progress(float(self.count), None, line)


def build_server(settings: Settings, engine: Engine | None = None) -> MCPServer:
    """The MCP server over an engine (created here unless given)."""
    engine = engine or Engine(settings)
    budget = settings.max_output_chars

    updates = ResourceUpdates(engine)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[Engine]:
        first = engine.users == 0
        await engine.start()
        if first:
            await updates.start()
        try:
            yield engine
        finally:
            if engine.users == 1:
                await updates.stop()
            await engine.stop()

    tasks_extension = SwarmTasks(engine)
    mcp = MCPServer(
        "codex-swarm",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        extensions=[tasks_extension],
        middleware=[tasks_extension.legacy_middleware],
        subscriptions=updates.bus,
    )
    # The SDK serves subscriptions/listen (2026-07-28) from our bus but has no handler for the
    # older era's resources/subscribe: register ours on its low-level server.
    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, updates.subscribe)
    lowlevel.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, updates.unsubscribe
    )

    # ---- answers -----------------------------------------------------------------------------

    def answer(text: str, data: dict[str, Any], *, is_error: bool = False) -> CallToolResult:
        more = "codex_status, codex_list or the codex-swarm:///tasks resources give the rest"
        return CallToolResult(
            content=[TextContent(type="text", text=render.cap_text(text, budget, more))],
            structured_content=data,
            is_error=is_error,
        )

    async def fresh(rows: list[TaskRow]) -> list[TaskRow]:
        """Worktree tasks' merge outlook against their base branch's tip as it is now."""
        for row in rows:
            if row.terminal and "worktree" in row.extra:
                await anyio.to_thread.run_sync(branches.refresh_outcome, engine.store, row)
        return rows

    async def task_answer(row: TaskRow) -> CallToolResult:
        await fresh([row])
        view = render.fit_views([result_view(row)], budget // 2)[0]
        return answer(render.result_text(view), view, is_error=row.phase in ("failed", "lost"))

    async def wait_with_progress(
        task_ids: list[str], timeout: float | None, ctx: Context | None, mode: str = "all"
    ) -> tuple[list[TaskRow], bool]:
        meta = (ctx.request_context.meta or {}) if ctx is not None else {}
        if ctx is None or not meta.get("progress_token"):
            return await engine.wait(task_ids, timeout, mode=mode)
        reporter = _ProgressReporter(ctx)
        return await engine.wait(task_ids, timeout, mode=mode, on_tick=reporter.tick)

    async def launch(args: dict[str, Any], ctx: Context | None, blocking: bool) -> CallToolResult:
        limits = Limits(
            timeout=args.get("timeout"),
            idle_timeout=args.get("idle_timeout"),
            retries=args.get("retries"),
        )
        worktree = None
        if args.get("worktree"):
            worktree = WorktreeRequest(
                base_ref=args.get("base_ref"),
                include_uncommitted=bool(args.get("include_uncommitted")),
            )
        elif args.get("base_ref") or args.get("include_uncommitted"):
            return _error("base_ref and include_uncommitted only apply with worktree: true")
        start = functools.partial(
            engine.launch,
            _spec_from_args(args),
            limits=limits,
            priority=args.get("priority") or 0,
            worktree=worktree,
        )
        try:
            # Making a worktree is git work: keep it off the event loop.
            row = await anyio.to_thread.run_sync(start) if worktree else start()
        except TaskError as exc:
            return _error(str(exc))
        overlaps = None
        if args.get("paths"):  # a warning, never a refusal
            record = functools.partial(outlook.record_paths, engine.store, row, args["paths"])
            overlaps = await anyio.to_thread.run_sync(record)
        as_task = LAUNCH_AS_TASK.get()
        if as_task is not None:  # the Tasks layer answers with a task handle instead
            as_task.row = row
            return answer(f"Started task {row.id}.", result_view(row))
        if not blocking:
            text = (
                f"Started task {row.id} ({row.phase}). Use codex_wait with task_ids "
                f'["{row.id}"] for its result, or codex_status to see what it is doing.'
            )
            view = result_view(row)
            if overlaps:
                view["overlaps"] = overlaps
                text += "\nWarning: " + render.overlap_text(overlaps)
            return answer(text, view)
        rows, _done = await wait_with_progress([row.id], None, ctx)
        return await task_answer(rows[0])

    tasks_extension.bind(task_answer)

    # ---- tools -------------------------------------------------------------------------------

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
    ) -> Annotated[CallToolResult, TaskResult]:
        """Run one Codex session and return when it finishes."""
        args = dict(locals())
        return await launch(args, args.pop("ctx"), blocking=True)

    @functools.wraps(codex)
    async def codex_async(**kwargs: Any) -> Annotated[CallToolResult, TaskResult]:
        ctx = kwargs.pop("ctx", None)
        return await launch(kwargs, ctx, blocking=False)

    task_tool = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)
    read_tool = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    mcp.add_tool(
        _alias_kwargs(codex),
        name="codex",
        description=(
            "Run a Codex agent session on a prompt and return when it finishes, with its final "
            "message (content), threadId (for codex_reply), status and token usage. Progress "
            "is reported while it runs. For parallel work use codex_async instead."
        ),
        annotations=task_tool,
    )
    mcp.add_tool(
        _alias_kwargs(codex_async),
        name="codex_async",
        description=(
            "Start a Codex agent session in the background and return its task_id at once. "
            "Start several to run them in parallel; then use codex_wait (results), codex_status "
            "(live view) or codex_cancel. Same parameters as codex."
        ),
        annotations=task_tool,
    )

    @mcp.tool(
        name="codex_reply",
        description=(
            "Continue a Codex session (thread) with a new prompt, in the session's original "
            "working directory and settings. Waits for the answer unless async is true."
        ),
        annotations=task_tool,
    )
    @_alias_kwargs
    async def codex_reply(
        threadId: Annotated[str, Field(max_length=64, description="threadId of an earlier result")],
        prompt: Prompt,
        ctx: Context,
        run_async: Annotated[
            bool, Field(alias="async", description="return a task_id at once instead of waiting")
        ] = False,
    ) -> Annotated[CallToolResult, TaskResult]:
        try:
            spec, previous = engine.reply_spec(threadId, prompt)
            row = engine.launch(spec, parent=previous)
        except TaskError as exc:
            return _error(str(exc))
        as_task = LAUNCH_AS_TASK.get()
        if as_task is not None:
            as_task.row = row
        if run_async or as_task is not None:
            return answer(f"Started task {row.id} continuing thread {threadId}.", result_view(row))
        rows, _done = await wait_with_progress([row.id], None, ctx)
        return await task_answer(rows[0])

    @mcp.tool(
        name="codex_status",
        description=(
            "What each task is doing right now: phase (and queue position), elapsed time, tool "
            "calls, the last command or file change, latest reasoning and message, plan "
            "progress, tokens."
        ),
        annotations=read_tool,
    )
    async def codex_status(task_ids: TaskIds) -> Annotated[CallToolResult, StatusList]:
        try:
            rows = engine.get_many(task_ids)
        except TaskError as exc:
            return _error(str(exc))
        now = time.time()
        views = [status_view(r, now, engine.store.queue_position(r)) for r in rows]
        views = render.fit_views(views, budget // 2)
        conflicts = await anyio.to_thread.run_sync(outlook.conflicts_between, rows)
        lines = [render.status_text(v) for v in views] + render.conflict_lines(conflicts)
        return answer("\n\n".join(lines), {"tasks": views, "conflicts": conflicts})

    @mcp.tool(
        name="codex_wait",
        description=(
            "Wait until the listed tasks have finished (mode all) or one of them has (mode any), "
            "or timeout seconds pass; then return each task's result. Tasks still running are "
            "listed in still_running (never killed): call codex_wait again to keep waiting. "
            "Without task_ids, waits for every unfinished task this client started."
        ),
        annotations=read_tool,
    )
    async def codex_wait(
        ctx: Context,
        task_ids: OptionalTaskIds = None,
        timeout: WaitTimeout = DEFAULT_WAIT,
        mode: WaitMode = "all",
    ) -> Annotated[CallToolResult, WaitResult]:
        ids = list(task_ids) if task_ids else engine.unfinished_of_this_server()
        if not ids:
            return answer(
                "No unfinished tasks started by this client: nothing to wait for.",
                {"done": True, "still_running": [], "tasks": []},
            )
        try:
            rows, done = await wait_with_progress(ids, timeout, ctx, mode)
        except TaskError as exc:
            return _error(str(exc))
        views = render.fit_views([result_view(r) for r in await fresh(rows)], budget * 3 // 4)
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
        conflicts = await anyio.to_thread.run_sync(outlook.conflicts_between, rows)
        parts = [head, *(render.result_text(v) for v in views), *render.conflict_lines(conflicts)]
        text = "\n\n".join(parts)
        data = {"done": done, "still_running": running, "tasks": views, "conflicts": conflicts}
        return answer(text, data)

    @mcp.tool(
        name="codex_list",
        description=(
            "List tasks, newest first, one line each (id, phase, elapsed, first line of the "
            "prompt, branch): find task ids again. Filter by status."
        ),
        annotations=read_tool,
    )
    async def codex_list(
        status: StatusFilter = None, limit: ListLimit = 50
    ) -> Annotated[CallToolResult, TaskList]:
        rows = engine.store.list(phases=status or None, limit=limit)
        total = engine.store.count(phases=status or None)
        now = time.time()
        lines = [render.list_line(listing_view(r, now)) for r in rows]
        items = [render.list_item(listing_view(r, now)) for r in rows]
        head = f"{total} task(s)" + (f", newest {limit} shown" if total > limit else "")
        return answer("\n".join([head + ":", *lines]), {"tasks": items, "total": total})

    @mcp.tool(
        name="codex_cancel",
        description=(
            "Stop a task and every process it started. Its output so far is kept; the task is "
            "recorded as cancelled. A queued task is removed from the queue."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def codex_cancel(
        task_id: Annotated[str, Field(max_length=64, description="the task to stop")],
    ) -> Annotated[CallToolResult, TaskResult]:
        try:
            before = engine.get(task_id)
            row = await engine.cancel(task_id)
        except TaskError as exc:
            return _error(str(exc))
        view = render.fit_views([result_view(row)], budget // 2)[0]
        if before.terminal:
            text = f"Task {row.id} had already ended ({row.phase}); nothing to cancel."
        else:
            text = render.result_text(view)
        return answer(text, view)

    # ---- steering, forks and reviews (engine.steering) -----------------------------------------
    steer_tool.register(mcp, engine, answer)
    fork_tool.register(mcp, engine, answer)
    review_tool.register(mcp, engine, answer, task_answer, wait_with_progress)

    # ---- worktrees ---------------------------------------------------------------------------

    @mcp.tool(
        name="codex_diff",
        description=(
            "A worktree task's changes against its base: the stat, and the patch cut to a size "
            "a model can read (the answer says where it was cut; pass paths to see the rest)."
        ),
        annotations=read_tool,
    )
    async def codex_diff(
        task_id: TaskId, stat_only: bool = False, paths: Paths = None
    ) -> Annotated[CallToolResult, DiffResult]:
        try:
            row = engine.get(task_id)
            out = await anyio.to_thread.run_sync(
                functools.partial(
                    branches.diff,
                    row,
                    paths=list(paths) if paths else None,
                    stat_only=stat_only,
                    max_chars=budget * 3 // 4,
                )
            )
        except (TaskError, GitError) as exc:
            return _error(str(exc))
        data = {"task_id": row.id, **out}
        parts = [f"Task {row.id}: {out['branch']} against {out['base_commit'][:10]}", out["stat"]]
        if out.get("patch"):
            parts.append(out["patch"])
        if out.get("truncated"):
            omitted = ", ".join(out.get("omitted_paths") or [])
            parts.append(
                f"[patch cut at {out['shown_chars']} of {out['total_chars']} chars"
                + (f", inside {out['cut_in_path']}" if out.get("cut_in_path") else "")
                + f". Not shown: {omitted}. Call codex_diff with paths to see them.]"
            )
        data["stat"] = render.cap_text(out["stat"], budget // 8, "stat cut")
        return answer("\n".join(parts), data)

    @mcp.tool(
        name="codex_merge",
        description=(
            "Merge a finished worktree task's branch into the main checkout (strategy merge, "
            "squash or rebase; target defaults to the branch the task started from). Only when "
            "that checkout is on the target branch and clean; refuses with the conflicting "
            "paths otherwise and changes nothing."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        ),
    )
    async def codex_merge(
        task_id: TaskId, strategy: Strategy = "merge", target: Target = None
    ) -> Annotated[CallToolResult, MergeAnswer]:
        try:
            row = engine.get(task_id)
            out = await anyio.to_thread.run_sync(
                functools.partial(
                    branches.merge, engine.store, row, strategy=strategy, target=target
                )
            )
        except (TaskError, GitError) as exc:
            return _error(str(exc))
        data = {"task_id": row.id, **out}
        if out["merged"]:
            text = (
                f"Merged {row.id} into {out['target']} ({out['strategy']}): now at "
                f"{out['commit']}. {out['message']}"
            )
        else:
            text = f"Not merged: {out['message']}"
            if out["conflicts"]:
                text += "\nConflicting paths: " + ", ".join(out["conflicts"])
        return answer(text, data, is_error=not out["merged"])

    @mcp.tool(
        name="codex_cleanup",
        description=(
            "Remove a finished task's worktree and delete its branch when its work is merged "
            "(task_id), or do that for every merged task (all_merged: true). Unmerged work is "
            "kept unless force is true, and then the answer lists the commits that were lost."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=False
        ),
    )
    async def codex_cleanup(
        task_id: Annotated[str | None, Field(max_length=64, description="the task")] = None,
        all_merged: Annotated[
            bool, Field(description="clean up every finished task whose branch is merged")
        ] = False,
        force: Annotated[
            bool, Field(description="also delete unmerged work (only with task_id)")
        ] = False,
    ) -> Annotated[CallToolResult, CleanupAnswer]:
        if bool(task_id) == bool(all_merged):
            return _error("give either task_id or all_merged: true (not both)")
        if all_merged and force:
            return _error("force only applies to one task_id: name the task whose work may go")
        try:
            if task_id:
                rows = [engine.get(task_id)]
            else:
                rows = [
                    r
                    for r in engine.store.list(phases=("completed", "failed", "cancelled", "lost"))
                    if "worktree" in r.extra and not r.extra.get("removed_branch")
                ]
                merged = []
                for row in rows:
                    if await anyio.to_thread.run_sync(branches.is_merged, row):
                        merged.append(row)
                rows = merged
            cleaned = []
            for row in rows:
                cleaned.append(
                    await anyio.to_thread.run_sync(
                        functools.partial(branches.cleanup, engine.store, row, force=force)
                    )
                )
        except (TaskError, GitError) as exc:
            return _error(str(exc))
        lines = []
        for item in cleaned:
            done = []
            if item["removed_worktree"]:
                done.append("worktree removed")
            if item["deleted_branch"]:
                done.append(f"branch {item['branch']} deleted")
            line = f"{item['task_id']}: " + (", ".join(done) or "nothing removed")
            if item.get("kept_reason"):
                line += f"; kept: {item['kept_reason']}"
            if item.get("lost_commits"):
                line += "; LOST commits: " + "; ".join(item["lost_commits"])
            lines.append(line)
        text = "\n".join(lines) if lines else "Nothing to clean up: no merged task branches."
        return answer(text, {"cleaned": cleaned})

    land_tool.register(mcp, engine, budget)

    # ---- resources ---------------------------------------------------------------------------

    def task_or_error(task_id: str) -> TaskRow:
        try:
            return engine.get(task_id)
        except TaskError as exc:
            raise ResourceError(str(exc)) from None

    @mcp.resource(
        "codex-swarm:///server-info",
        name="server-info",
        description="server version, Codex binary and version, directories, limits, token totals",
        mime_type="application/json",
    )
    def server_info() -> str:
        try:
            codex_bin: str | None = engine.codex_path()
        except TaskError:
            codex_bin = None
        info = {
            "name": "codex-mcp-swarm",
            "version": __version__,
            "codex_bin": codex_bin,
            "codex_version": engine.codex_version(),
            "task_dir": str(settings.task_dir),
            "store": str(engine.store.path),
            "max_parallel": settings.max_parallel,
            "max_output_chars": budget,
            "started_at": engine.started_at,
            "tools": list(TOOL_NAMES),
            "usage_totals": engine.store.usage_totals(),
        }
        return json.dumps(info, indent=2)

    @mcp.resource(
        "codex-swarm:///config",
        name="config",
        description="server defaults and flags",
        mime_type="application/json",
    )
    def config() -> str:
        data = {
            "codex_bin": settings.codex_bin,
            "config_overrides": dict(settings.overrides),
            "skip_git_repo_check": settings.skip_git_repo_check,
            "ephemeral": settings.ephemeral,
            "max_parallel": settings.max_parallel,
            "max_output_chars": budget,
            "cancel_grace_s": settings.cancel_grace,
            "cancel_on_exit": settings.cancel_on_exit,
            "timeout_s": settings.timeout,
            "idle_timeout_s": settings.idle_timeout,
            "retries": settings.retries,
            "allowed_roots": [str(r) for r in settings.allowed_roots],
            "sandbox_ceiling": settings.sandbox_ceiling,
            "task_dir": str(settings.task_dir),
            "log_file": str(settings.log_file) if settings.log_file else None,
            "log_level": settings.log_level,
        }
        return json.dumps(data, indent=2)

    @mcp.resource(
        "codex-swarm:///tasks",
        name="tasks",
        description="every known task with state, timing, thread id and usage, newest first",
        mime_type="application/json",
    )
    def tasks() -> str:
        now = time.time()
        return json.dumps([listing_view(r, now) for r in engine.store.list()], indent=1)

    @mcp.resource(
        "codex-swarm:///tasks/{task_id}",
        name="task",
        description="one task's full state: status, result, settings (not cut)",
        mime_type="application/json",
    )
    def task(task_id: str) -> str:
        row = task_or_error(task_id)
        now = time.time()
        spec = dict(row.spec.get("task", {}))
        data = {
            **listing_view(row, now),
            "live": status_view(row, now, engine.store.queue_position(row)),
            "result": result_view(row, now),
            "spec": spec,
            "priority": row.priority,
            "parent_id": row.parent_id,
            "extra": row.extra,
            "events_uri": f"codex-swarm:///tasks/{row.id}/events",
        }
        return json.dumps(data, indent=1)

    @mcp.resource(
        "codex-swarm:///tasks/{task_id}/result",
        name="task-result",
        description="a task's whole final message (the agent's last answer), never cut",
        mime_type="text/plain",
    )
    def task_result(task_id: str) -> str:
        row = task_or_error(task_id)
        if not row.terminal:
            return f"[task {row.id} is {row.phase}; it has no final message yet]"
        return row.result or ""

    @mcp.resource(
        "codex-swarm:///tasks/{task_id}/events{?cursor,limit}",
        name="task-events",
        description=(
            "a task's raw Codex JSONL events, paged: pass the returned next_cursor as cursor "
            "(a byte offset) to read on while more is true; limit is lines per page (default "
            "100, max 1000)"
        ),
        mime_type="application/json",
    )
    def task_events(task_id: str, cursor: str = "0", limit: str = "100") -> str:
        row = task_or_error(task_id)
        try:
            start = max(0, int(cursor))
            count = min(1000, max(1, int(limit)))
        except ValueError:
            raise ResourceError("cursor and limit must be whole numbers") from None
        return json.dumps(engine.read_events(row.id, start, count, EVENTS_PAGE_BYTES))

    return mcp
