"""``codex-mcp-swarm review ID [--instructions TEXT]``: a read-only code review of a task's work.

Owns: the command's flags and output: the review runs as a task of its own (``codex exec
review`` against the task's base, see ``engine.steering``); this waits and prints its findings.

Must not: decide anything the engine decides.
"""

from __future__ import annotations

from ..engine import Engine, TaskRow
from ..settings import Settings
from .common import load_task
from .fork import wait_and_print


def review_command(
    settings: Settings, task_id: str, *, instructions: str | None = None, as_json: bool = False
) -> int:
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, _row = loaded

    async def start(engine: Engine) -> list[TaskRow]:
        return [await engine.review(task_id, instructions)]

    return wait_and_print(settings, store, start, as_json)
