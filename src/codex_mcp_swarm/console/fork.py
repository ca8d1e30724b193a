"""``codex-mcp-swarm fork ID PROMPT [--count N]``: new tasks from copies of a task's thread.

Owns: starting the forks with an in-process engine, waiting for them and printing each result
(or, with ``--json``, the result views), and the exit code (0 only when every fork completed).
Ctrl-C stops waiting; the forks keep running under their runners. :func:`wait_and_print` is
shared with ``review``.

Must not: decide anything the engine decides (``Engine.fork`` and ``review`` hold the rules).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..engine import Engine, Store, TaskError, TaskRow, result_view
from ..settings import Settings
from .common import console_engine, error, load_task, make_console, print_json, stop_engine
from .show import result_block
from .words import said

Start = Callable[[Engine], Awaitable[list[TaskRow]]]


async def _start_and_wait(engine: Engine, start: Start) -> list[TaskRow]:
    await engine.start()
    try:
        rows = await start(engine)
        make_console(stderr=True).print(
            "Started " + ", ".join(r.id for r in rows) + "; waiting (Ctrl-C leaves them running).",
            style="dim",
        )
        done, _ = await engine.wait([r.id for r in rows], None)
        return done
    finally:
        await stop_engine(engine)


def wait_and_print(settings: Settings, store: Store, start: Start, as_json: bool) -> int:
    """Start tasks with ``start``, wait for them, print their results; the exit code."""
    engine = console_engine(settings, store)
    try:
        rows = asyncio.run(_start_and_wait(engine, start))
    except TaskError as exc:
        error(said(exc))
        return 1
    except KeyboardInterrupt:
        error("stopped waiting; the tasks keep running (`codex-mcp-swarm tasks` lists them)")
        return 130
    if as_json:
        print_json([result_view(r) for r in rows])
    else:
        console = make_console()
        for row in rows:
            console.print(result_block(row, store))
    return 0 if all(r.phase == "completed" for r in rows) else 1


def fork_command(
    settings: Settings,
    task_id: str,
    prompt: str,
    *,
    count: int = 1,
    worktree: bool | None = None,
    as_json: bool = False,
) -> int:
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, _row = loaded

    async def start(engine: Engine) -> list[TaskRow]:
        return await engine.fork(prompt, task_id=task_id, count=count, worktree=worktree)

    return wait_and_print(settings, store, start, as_json)
