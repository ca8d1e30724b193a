"""The ``codex_steer`` tool: redirect a task without losing what it did.

Owns: the tool's name, description, parameters and answer. The rules are the engine's
(``Engine.steer``).

Must not: hold task logic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ..engine import MESSAGE_LIMIT, Engine, TaskError, as_data, steered_view
from .words import said

Answer = Callable[..., CallToolResult]


class SteerResult(BaseModel):
    task_id: str
    status: str = Field(description="the task's phase (stays running while it is steered)")
    how: str = Field(
        description="prompt: a queued task's prompt got the message; interrupting: the turn is "
        "being stopped and the thread continues with the message; queued: an earlier steer is "
        "still interrupting, this message goes with it"
    )
    steered: dict[str, Any] = Field(description="count and last_at (epoch seconds) of steers")
    note: str = Field(description="what the interrupt keeps and what it loses")


def register(mcp: MCPServer, engine: Engine, answer: Answer) -> None:
    @mcp.tool(
        name="codex_steer",
        description=(
            "Steer a running Codex agent mid-flight: interrupt its turn and continue the same "
            "task with your message (files and history kept)."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=True
        ),
    )
    async def codex_steer(
        task_id: Annotated[str, Field(max_length=64)],
        message: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MESSAGE_LIMIT,
                description="what to do now",
            ),
        ],
    ) -> Annotated[CallToolResult, SteerResult]:
        try:
            done = await engine.steer(task_id, message)
        except TaskError as exc:
            return CallToolResult(content=[TextContent(type="text", text=said(exc))], is_error=True)
        row = done.row
        data = {
            "task_id": row.id,
            "status": row.phase,
            "how": done.how,
            "steered": as_data(steered_view(row)),
            "note": done.note,
        }
        head = {
            "prompt": f"Task {row.id} is still queued: your message was added to its prompt.",
            "interrupting": f"Steering task {row.id}: interrupting its turn.",
            "queued": f"Task {row.id} is already being steered: your message goes with it.",
        }[done.how]
        text = (
            f"{head} {done.note}\nSteered {row.steer_count} time(s); codex_wait gives the result."
        )
        return answer(text, data)
