"""``codex-mcp-swarm steer ID MESSAGE``: redirect a running task from the shell.

Owns: the command's output and exit code (0 when the steer was accepted). The rules are the
engine's (``engine.steering``): a running task's turn is interrupted and its thread continues
with the message under the same task; a queued task gets the message added to its prompt.

Must not: wait for the task (``watch ID`` follows it) or decide anything the engine decides.
"""

from __future__ import annotations

from ..engine import TaskError
from ..settings import Settings
from .common import console_engine, error, load_task, make_console
from .words import said


def steer_command(settings: Settings, task_id: str, message: str) -> int:
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, _row = loaded
    engine = console_engine(settings, store)
    try:
        done = engine.steer_sync(task_id, message)
    except TaskError as exc:
        error(said(exc))
        return 1
    console = make_console()
    if done.how == "prompt":
        console.print(f"Task {task_id} has not started yet: the message was added to its prompt.")
    elif done.how == "queued":
        console.print(f"Task {task_id} is already being steered: the message goes with that one.")
    else:
        console.print(f"Steering task {task_id}: its turn is being interrupted.")
    console.print(done.note, style="dim")
    console.print(f"`codex-mcp-swarm watch {task_id}` follows it.", style="dim")
    return 0
