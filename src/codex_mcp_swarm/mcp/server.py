"""The MCP face: tool and resource definitions over the engine.

Owns: tool names, parameter names and schemas, argument validation messages, the shape of tool
results (``structuredContent`` + readable text + ``isError``), progress notifications, resources.

Must not: hold task logic. Every tool translates its arguments into one engine call and renders
what comes back; anything the engine refuses becomes an ``isError`` result with its sentence.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
import typing
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from .. import __version__
from ..codex.command import TaskSpec
from ..engine.store import TaskRow
from ..engine.tasks import Engine, Limits, TaskError
from ..engine.views import listing_view, result_view, status_view
from ..settings import Settings
from . import render

PROMPT_LIMIT = 1_000_000  # characters
MAX_IDS = 200
MAX_WAIT = 3600.0  # seconds one codex_wait call may block
DEFAULT_WAIT = 300.0
PROGRESS_EVERY = 10.0  # seconds between progress notifications when nothing changed

INSTRUCTIONS = """\
Runs OpenAI Codex CLI agents as parallel background tasks.
- codex: run one Codex session and wait for its answer (like the classic Codex MCP tool).
- codex_async: start a session and get a task_id at once; start several to work in parallel.
- codex_status: what each task is doing right now. codex_wait: block until tasks finish (bounded
  by timeout; a task still running is reported, never killed; call again to keep waiting).
- codex_reply: continue a finished session by its threadId. codex_cancel: stop a task.
Every result carries threadId and content (the agent's final message)."""


class Usage(BaseModel):
    turn: dict[str, int] = Field(default_factory=dict, description="tokens of this task's turn")
    thread_total: dict[str, int] = Field(
        default_factory=dict, description="cumulative tokens of the thread, as Codex reports them"
    )


class TaskResult(BaseModel):
    """A task's outcome (or its state, when it has not finished)."""

    task_id: str
    status: str = Field(description="queued, starting, running, completed, failed, cancelled, lost")
    threadId: str | None = Field(description="Codex thread id; pass it to codex_reply")
    content: str = Field(description="the agent's final message ('' until the task ends)")
    error: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    elapsed_s: float
    tool_calls: int = 0
    usage: Usage | dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    cwd: str


class StatusList(BaseModel):
    tasks: list[dict[str, Any]]


class WaitResult(BaseModel):
    done: bool = Field(description="true when every listed task has finished")
    still_running: list[str] = Field(description="ids of tasks that had not finished at timeout")
    tasks: list[TaskResult]


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


def _ok(text: str, data: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _task_result(row: TaskRow) -> CallToolResult:
    view = result_view(row)
    result = _ok(render.result_text(view), view)
    result.is_error = row.phase in ("failed", "lost")
    return result


Prompt = Annotated[
    str,
    Field(min_length=1, max_length=PROMPT_LIMIT, description="what the Codex agent should do"),
]
Model = Annotated[str | None, Field(max_length=200, description="model name, e.g. gpt-5.5")]
Sandbox = Annotated[
    Literal["read-only", "workspace-write", "danger-full-access"] | None,
    Field(description="sandbox for the agent's commands (Codex's default: read-only)"),
]
ApprovalPolicy = Annotated[
    Literal["untrusted", "on-failure", "on-request", "never"] | None,
    Field(
        alias="approval-policy",
        description="approval policy (codex exec runs unattended, so escalations are refused)",
    ),
]
Cwd = Annotated[
    str | None,
    Field(max_length=4096, description="absolute working directory (default: the server's)"),
]
Profile = Annotated[
    str | None, Field(max_length=64, description="Codex profile: $CODEX_HOME/<name>.config.toml")
]
Config = Annotated[
    dict[str, Any] | None,
    Field(description='Codex config overrides, e.g. {"model_reasoning_effort": "high"}'),
]
BaseInstructions = Annotated[
    str | None,
    Field(
        alias="base-instructions",
        max_length=PROMPT_LIMIT,
        description="replace Codex's base instructions",
    ),
]
DeveloperInstructions = Annotated[
    str | None,
    Field(
        alias="developer-instructions",
        max_length=PROMPT_LIMIT,
        description="extra developer message",
    ),
]
CompactPrompt = Annotated[
    str | None,
    Field(
        alias="compact-prompt", max_length=PROMPT_LIMIT, description="prompt used when compacting"
    ),
]
Timeout = Annotated[
    float | None,
    Field(
        gt=0,
        le=7 * 24 * 3600,
        description="maximum runtime in seconds; the task is stopped and fails when it is exceeded",
    ),
]
IdleTimeout = Annotated[
    float | None,
    Field(
        ge=0,
        le=7 * 24 * 3600,
        description="fail the task when Codex reports nothing this many seconds while no command "
        "runs (a silent model); 0 turns it off (server default 600)",
    ),
]
Retries = Annotated[
    int | None,
    Field(
        ge=0,
        le=10,
        description="retry a run that failed on a transient model error (HTTP 5xx/429, dropped "
        "stream) this many times, with backoff (default 0)",
    ),
]
TaskIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(min_length=1, max_length=MAX_IDS, description="task ids from codex_async or codex_list"),
]


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


def build_server(settings: Settings, engine: Engine | None = None) -> MCPServer:
    """The MCP server over an engine (created here unless given)."""
    engine = engine or Engine(settings)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[Engine]:
        await engine.start()
        try:
            yield engine
        finally:
            await engine.stop()

    mcp = MCPServer(
        "codex-swarm", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan
    )

    async def wait_with_progress(
        task_ids: list[str], timeout: float | None, ctx: Context | None
    ) -> tuple[list[TaskRow], bool]:
        meta = (ctx.request_context.meta or {}) if ctx is not None else {}
        if ctx is None or not meta.get("progress_token"):
            return await engine.wait(task_ids, timeout)
        reporter = _ProgressReporter(ctx)
        return await engine.wait(task_ids, timeout, on_tick=reporter.tick)

    async def launch(args: dict[str, Any], ctx: Context | None, blocking: bool) -> CallToolResult:
        limits = Limits(
            timeout=args.get("timeout"),
            idle_timeout=args.get("idle_timeout"),
            retries=args.get("retries"),
        )
        try:
            row = engine.launch(_spec_from_args(args), limits=limits)
        except TaskError as exc:
            return _error(str(exc))
        if not blocking:
            view = result_view(row)
            text = (
                f"Started task {row.id} ({row.phase}). Use codex_wait with task_ids "
                f'["{row.id}"] for its result, or codex_status to see what it is doing.'
            )
            return _ok(text, view)
        rows, _done = await wait_with_progress([row.id], None, ctx)
        return _task_result(rows[0])

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
    ) -> Annotated[CallToolResult, TaskResult]:
        """Run one Codex session and return when it finishes."""
        args = dict(locals())
        return await launch(args, args.pop("ctx"), blocking=True)

    @functools.wraps(codex)
    async def codex_async(**kwargs: Any) -> Annotated[CallToolResult, TaskResult]:
        ctx = kwargs.pop("ctx", None)
        return await launch(kwargs, ctx, blocking=False)

    mcp.add_tool(
        _alias_kwargs(codex),
        name="codex",
        description=(
            "Run a Codex agent session on a prompt and return when it finishes, with its final "
            "message (content), threadId (for codex_reply), status and token usage. Progress "
            "is reported while it runs. For parallel work use codex_async instead."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=True
        ),
    )
    mcp.add_tool(
        _alias_kwargs(codex_async),
        name="codex_async",
        description=(
            "Start a Codex agent session in the background and return its task_id at once. "
            "Start several to run them in parallel; then use codex_wait (results), codex_status "
            "(live view) or codex_cancel. Same parameters as codex."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=True
        ),
    )

    @mcp.tool(
        name="codex_reply",
        description=(
            "Continue a Codex session (thread) with a new prompt, in the session's original "
            "working directory and settings. Waits for the answer unless async is true."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=True
        ),
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
        if run_async:
            return _ok(f"Started task {row.id} continuing thread {threadId}.", result_view(row))
        rows, _done = await wait_with_progress([row.id], None, ctx)
        return _task_result(rows[0])

    @mcp.tool(
        name="codex_status",
        description=(
            "What each task is doing right now: phase, elapsed time, tool calls, the last "
            "command or file change, latest reasoning and message, plan progress, tokens."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def codex_status(task_ids: TaskIds) -> Annotated[CallToolResult, StatusList]:
        try:
            rows = engine.get_many(task_ids)
        except TaskError as exc:
            return _error(str(exc))
        views = [status_view(r) for r in rows]
        return _ok("\n\n".join(render.status_text(v) for v in views), {"tasks": views})

    @mcp.tool(
        name="codex_wait",
        description=(
            "Wait until all listed tasks have finished or timeout seconds pass, then return "
            "each task's result. Tasks still running at the timeout are listed in "
            "still_running (never killed): call codex_wait again to keep waiting."
        ),
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def codex_wait(
        task_ids: TaskIds,
        ctx: Context,
        timeout: Annotated[
            float,
            Field(ge=0, le=MAX_WAIT, description=f"seconds to wait (max {MAX_WAIT:g})"),
        ] = DEFAULT_WAIT,
    ) -> Annotated[CallToolResult, WaitResult]:
        try:
            rows, done = await wait_with_progress(list(task_ids), timeout, ctx)
        except TaskError as exc:
            return _error(str(exc))
        views = [result_view(r) for r in rows]
        running = [r.id for r in rows if not r.terminal]
        head = (
            f"All {len(rows)} task(s) finished."
            if done
            else f"{len(running)} of {len(rows)} task(s) still running after {timeout:g} s: "
            f"{', '.join(running)}. Call codex_wait again to keep waiting."
        )
        text = "\n\n".join([head, *(render.result_text(v) for v in views)])
        return _ok(text, {"done": done, "still_running": running, "tasks": views})

    @mcp.tool(
        name="codex_cancel",
        description=(
            "Stop a task and every process it started. Its output so far is kept; the task is "
            "recorded as cancelled."
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
        view = result_view(row)
        if before.terminal:
            text = f"Task {row.id} had already ended ({row.phase}); nothing to cancel."
        else:
            text = render.result_text(view)
        return _ok(text, view)

    @mcp.resource(
        "codex-swarm:///server-info",
        name="server-info",
        description="server version, Codex binary and version, directories, capabilities",
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
            "started_at": engine.started_at,
            "tools": [
                "codex",
                "codex_async",
                "codex_reply",
                "codex_status",
                "codex_wait",
                "codex_cancel",
            ],
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

    return mcp
