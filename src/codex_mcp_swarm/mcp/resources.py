"""The resources: server info, config, and every task's state, result and raw events.

Owns: the codex-swarm:/// URIs and what each holds.
Must not: change anything.
"""

from __future__ import annotations

import json
import time

from mcp.server.mcpserver.exceptions import ResourceError

from .. import __version__
from ..engine import (
    TaskError,
    TaskRow,
    as_data,
    extra_to_dict,
    listing_view,
    result_view,
    status_view,
)
from .face import Face
from .words import said

EVENTS_PAGE_BYTES = 256 * 1024


def register(face: Face) -> None:
    async def task_or_error(task_id: str) -> TaskRow:
        try:
            return await face.engine.get(task_id)
        except TaskError as exc:
            raise ResourceError(said(exc)) from None

    @face.mcp.resource(
        "codex-swarm:///server-info",
        name="server-info",
        description="server version, Codex binary and version, directories, limits, token totals",
        mime_type="application/json",
    )
    async def server_info() -> str:
        try:
            codex_bin: str | None = face.engine.codex_path()
        except TaskError:
            codex_bin = None
        info = {
            "name": "codex-mcp-swarm",
            "version": __version__,
            "codex_bin": codex_bin,
            "codex_version": await face.engine.codex_version(),
            "task_dir": str(face.settings.task_dir),
            "store": str(face.engine.store.path),
            "max_parallel": face.settings.max_parallel,
            "max_output_chars": face.budget,
            "started_at": face.engine.started_at,
            "tools": sorted(t.name for t in face.mcp._tool_manager.list_tools()),
            "usage_totals": await face.engine.usage_totals(),
        }
        return json.dumps(info, indent=2)

    @face.mcp.resource(
        "codex-swarm:///config",
        name="config",
        description="server defaults and flags",
        mime_type="application/json",
    )
    async def config() -> str:
        data = {
            "codex_bin": face.settings.codex_bin,
            "config_overrides": dict(face.settings.overrides),
            "skip_git_repo_check": face.settings.skip_git_repo_check,
            "ephemeral": face.settings.ephemeral,
            "max_parallel": face.settings.max_parallel,
            "max_output_chars": face.budget,
            "cancel_grace_s": face.settings.cancel_grace,
            "cancel_on_exit": face.settings.cancel_on_exit,
            "timeout_s": face.settings.timeout,
            "idle_timeout_s": face.settings.idle_timeout,
            "retries": face.settings.retries,
            "allowed_roots": [str(r) for r in face.settings.allowed_roots],
            "sandbox_ceiling": face.settings.sandbox_ceiling,
            "task_dir": str(face.settings.task_dir),
            "log_file": str(face.settings.log_file) if face.settings.log_file else None,
            "log_level": face.settings.log_level,
        }
        return json.dumps(data, indent=2)

    @face.mcp.resource(
        "codex-swarm:///tasks",
        name="tasks",
        description="every known task with state, timing, thread id and usage, newest first",
        mime_type="application/json",
    )
    async def tasks() -> str:
        # One task a line: json's C encoder (an indented dump runs in Python, and ten thousand
        # tasks took seconds and tens of MB).
        return "[\n" + ",\n".join(map(json.dumps, await face.engine.listing())) + "\n]"

    @face.mcp.resource(
        "codex-swarm:///tasks/{task_id}",
        name="task",
        description="one task's full state: status, result, settings (not cut)",
        mime_type="application/json",
    )
    async def task(task_id: str) -> str:
        row = await task_or_error(task_id)
        positions = await face.engine.queue_positions([row])
        now = time.time()
        data = {
            **listing_view(row, now),
            "live": status_view(row, now, positions.get(row.id)),
            "result": result_view(row, now),
            "spec": as_data(row.task),
            "priority": row.priority,
            "parent_id": row.parent_id,
            "extra": extra_to_dict(row.extra),
            "events_uri": f"codex-swarm:///tasks/{row.id}/events",
        }
        return json.dumps(data, indent=1)

    @face.mcp.resource(
        "codex-swarm:///tasks/{task_id}/result",
        name="task-result",
        description="a task's whole final message (the agent's last answer), never cut",
        mime_type="text/plain",
    )
    async def task_result(task_id: str) -> str:
        row = await task_or_error(task_id)
        if not row.terminal:
            return f"[task {row.id} is {row.phase}; it has no final message yet]"
        return row.result or ""

    @face.mcp.resource(
        "codex-swarm:///tasks/{task_id}/events{?cursor,limit}",
        name="task-events",
        description=(
            "a task's raw Codex JSONL events, paged: pass the returned next_cursor as cursor "
            "(a byte offset) to read on while more is true; limit is lines per page (default "
            "100, max 1000)"
        ),
        mime_type="application/json",
    )
    async def task_events(task_id: str, cursor: str = "0", limit: str = "100") -> str:
        row = await task_or_error(task_id)
        try:
            start = max(0, int(cursor))
            count = min(1000, max(1, int(limit)))
        except ValueError:
            raise ResourceError("cursor and limit must be whole numbers") from None
        page = await face.engine.read_events(row.id, start, count, EVENTS_PAGE_BYTES)
        return json.dumps(as_data(page))
