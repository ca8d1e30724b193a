"""``codex-mcp-swarm run "prompt A" "prompt B" ...``: a swarm from the shell, no MCP client needed.

Owns: launching the prompts as parallel tasks with an in-process :class:`Engine`, showing them
live until they end, printing each result and branch, the exit code (0 only when every task
completed), and Ctrl-C: the unfinished tasks keep running and the command says so and how to
cancel them; with ``--cancel-on-exit`` it cancels them before it exits.

Must not: outlive its tasks' records or decide anything the engine decides. Tasks run under
detached runners, so leaving them running just means stopping this engine without cancelling:
they stay in the store and the next server (or ``watch``) picks them up.

While its event loop runs it only awaits the engine; the results are printed after the loop has
ended, with the engine's synchronous calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from ..codex.command import TaskSpec
from ..engine import (
    Engine,
    StoreError,
    TaskError,
    TaskRow,
    WorktreeRequest,
    as_data,
    credentials_problem,
    result_view,
)
from ..settings import Settings
from .common import clean, console_engine, error, make_console, print_json, stop_engine
from .show import diffstat, result_block
from .table import task_line
from .watch import REFRESH, Display, display_for
from .words import said

INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT


@dataclass(frozen=True)
class RunRequest:
    """What ``run`` was asked to do, from its flags."""

    prompts: tuple[str, ...]
    cwd: str
    worktree: WorktreeRequest | None = None
    sandbox: str | None = None
    model: str | None = None
    as_json: bool = False


@dataclass
class Launched:
    """One prompt's fate at launch: its task, or why it could not start."""

    number: int
    row: TaskRow | None = None
    problem: str | None = None


async def _launch(engine: Engine, request: RunRequest) -> list[Launched]:
    async def one(number: int, prompt: str) -> Launched:
        spec = TaskSpec(
            prompt=prompt, cwd=request.cwd, sandbox=request.sandbox, model=request.model
        )
        try:
            row = await engine.launch(spec, worktree=request.worktree)
        except TaskError as exc:
            return Launched(number, problem=said(exc))
        return Launched(number, row=row)

    return list(await asyncio.gather(*(one(n, p) for n, p in enumerate(request.prompts, 1))))


async def _follow(engine: Engine, ids: list[str], display: Display) -> bool:
    """Show the tasks until all have ended (True) or Ctrl-C (False)."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)

    async def draw(rows: list[TaskRow]) -> None:
        positions = await engine.queue_positions(rows)
        display.update([task_line(None, row, position=positions.get(row.id)) for row in rows])

    waiter = asyncio.ensure_future(engine.wait(ids, None, on_tick=draw, tick=REFRESH))
    stop = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        for future in (waiter, stop):
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future
    if waiter.cancelled():
        return False
    rows, _ = waiter.result()
    await draw(rows)
    return True


def kept_running(unfinished: Sequence[str]) -> str:
    """What Ctrl-C left behind, and how to cancel it."""
    ids = " ".join(unfinished)
    return (
        f"Interrupted: {len(unfinished)} task(s) keep running: {', '.join(unfinished)}. "
        f"Cancel them with `codex-mcp-swarm cancel {ids}`; `codex-mcp-swarm watch` follows them "
        "and `codex-mcp-swarm show ID` prints a result. (`run --cancel-on-exit` stops the tasks "
        "with the command.)"
    )


async def _interrupted(engine: Engine, ids: list[str], console: Console, cancel: bool) -> None:
    """Ctrl-C: the unfinished tasks keep running (say so), or with ``cancel`` are cancelled."""
    unfinished = [row.id for row in await engine.get_many(ids) if not row.terminal]
    if not unfinished:
        return
    if not cancel:
        console.print(kept_running(unfinished))
        return
    console.print(f"Cancelling {', '.join(unfinished)} …")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # the cancel is already under way
    try:
        await asyncio.gather(*(engine.cancel(task_id) for task_id in unfinished))
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _print_results(console: Console, engine: Engine, launched: Sequence[Launched]) -> None:
    for item in launched:
        console.print(Rule(style="dim"))
        if item.row is None:
            problem = Text(f"Prompt {item.number} was not started: ", style="bold red")
            problem.append(clean(item.problem or "", one_line=False), style="")
            console.print(problem)
        else:
            console.print(result_block(engine.get_sync(item.row.id), engine.store))


def _json_results(engine: Engine, launched: Sequence[Launched]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in launched:
        if item.row is None:
            out.append({"prompt": item.number, "status": "not_started", "error": item.problem})
            continue
        row = engine.get_sync(item.row.id)
        out.append({"prompt": item.number, **as_data(result_view(row)), "diffstat": diffstat(row)})
    return out


async def _run(
    engine: Engine, request: RunRequest, console: Console, cancel_on_exit: bool
) -> tuple[list[Launched], bool]:
    """Launch and follow the tasks; what was launched, and whether all of them ended."""
    await engine.start()
    try:
        launched = await _launch(engine, request)
        ids = [item.row.id for item in launched if item.row is not None]
        finished = True
        on_ctrl_c = "cancels the tasks" if cancel_on_exit else "leaves the tasks running"
        if ids:
            display = display_for(
                console, lambda: f"codex-mcp-swarm run · Ctrl-C {on_ctrl_c}", history=True
            )
            try:
                finished = await _follow(engine, ids, display)
            finally:
                display.close()
            if not finished:
                await _interrupted(engine, ids, console, cancel_on_exit)
        return launched, finished
    finally:
        await stop_engine(engine)


def _report(
    engine: Engine, request: RunRequest, console: Console, launched: list[Launched], finished: bool
) -> int:
    """Print the results (once the event loop is gone: plain synchronous engine calls)."""
    if request.as_json:
        print_json(_json_results(engine, launched))
    else:
        _print_results(console, engine, launched)
    rows = engine.get_many_sync([item.row.id for item in launched if item.row is not None])
    if not request.as_json:
        console.print(Rule(style="dim"))
        console.print(_verdict(launched, rows))
    if not finished:
        return INTERRUPTED
    ok = all(row.phase == "completed" for row in rows) and len(rows) == len(launched)
    return 0 if ok else 1


def _verdict(launched: Sequence[Launched], rows: Sequence[TaskRow]) -> Text:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.phase] = counts.get(row.phase, 0) + 1
    not_started = sum(1 for item in launched if item.row is None)
    if not_started:
        counts["not started"] = not_started
    words = ", ".join(f"{n} {phase}" for phase, n in counts.items())
    ok = set(counts) == {"completed"}
    return Text(f"{len(launched)} prompt(s): {words}", style="bold green" if ok else "bold red")


def run_command(settings: Settings, request: RunRequest) -> int:
    """``codex-mcp-swarm run``: launch, follow, print, and exit 0 only if every task completed."""
    problem = credentials_problem(settings)
    if problem is not None:  # say it once, before any task is recorded
        error(said(problem))
        return 1
    try:
        engine = console_engine(settings)
    except StoreError as exc:
        error(said(exc))
        return 1
    # With --json, stdout carries only the JSON: the live display goes to stderr.
    console = make_console(stderr=request.as_json)
    try:
        launched, finished = asyncio.run(_run(engine, request, console, settings.cancel_on_exit))
        return _report(engine, request, console, launched, finished)
    except KeyboardInterrupt:  # before the tasks were launched or after they were handled
        return INTERRUPTED
