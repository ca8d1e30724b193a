"""Landings at the shell: ``land --async`` and ``land --watch``, and a line per active landing.

Owns: queueing a landing from the shell and following it (what is checked, what landed so far,
the decided count, the check's last line) until it ends; deciding who runs it; the one-line
picture of a landing that ``tasks`` and ``watch`` show; cancelling landings by id for
``cancel``.

Who runs a landing queued at the shell: the merge queue of any server sharing the store
(``serve``, over either transport; the ``board`` command alone runs none) claims it within about
a second. When none has after
:data:`CLAIM_GRACE` seconds (and no landing of the repository is running elsewhere), the command
runs it itself with an engine of its own, so a landing queued from a shell never waits for a
server nobody started. Ctrl-C while this command runs it stops it at a landed boundary and puts
it back at the head of its queue (any server, or ``land --watch ID``, resumes it); Ctrl-C while
a server runs it only stops the watching.

Must not: choose, merge or record anything itself (``engine.landings`` does), or read the store
but through what the engine names.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from ..engine import (
    Engine,
    LandingRow,
    LandRequest,
    Store,
    TaskError,
    as_data,
    landing_view,
)
from ..git import GitError
from ..settings import Settings
from .common import clean, engine_for, error, make_console, print_json, stop_engine
from .words import said

CLAIM_GRACE = 2.5  # seconds a queued landing may wait for a server before this command runs it
ORPHAN_GRACE = 30.0  # seconds after which it runs here even behind a landing that seems running
POLL = 0.3  # seconds between looks at the landing
INTERRUPTED = 130
PHASE_STYLES = {
    "queued": "dim",
    "running": "bold cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
}


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(ids)


def landing_text(row: LandingRow, position: int | None = None) -> Text:
    """One line: a landing's id, phase and where it is (or how it ended)."""
    view = landing_view(row, position)
    line = Text(f"landing {row.id}  ")
    line.append(f"{row.phase:<9}", style=PHASE_STYLES.get(row.phase, ""))
    tasks = row.request.task_ids
    parts = [f"tasks {_ids(tasks)}" if tasks else "every finished task"]
    if row.phase == "queued":
        parts.append(f"{position} ahead" if position else "next")
    elif row.phase == "running":
        parts.append(f"decided {view.decided} of {view.total}")
        if view.checking:
            parts.append(f"checking {_ids(view.checking)}")
        if view.landed:
            parts.append(f"landed so far {_ids(view.landed)}")
        if view.last_line:
            parts.append(f"last: {clean(view.last_line, 120)}")
    elif row.report is not None and row.report.lines:
        parts.append(clean(row.report.lines[0], 160))
    elif row.error:
        parts.append(clean(row.error, 160))
    if view.cancel_requested:
        parts.append("cancelling")
    line.append("  " + " · ".join(parts))
    return line


def active_landing_lines(store: Store | None) -> list[Text]:
    """A line per queued or running landing of the store, oldest first."""
    if store is None:
        return []
    rows = sorted(store.landings(active=True), key=lambda r: r.seq)
    return [landing_text(row, store.landing_position(row)) for row in rows]


# ---- following one landing ---------------------------------------------------------------------


class _Follow:
    """One landing followed until it ends (or Ctrl-C), run here when no server takes it."""

    def __init__(self, engine: Engine, landing_id: str, console: Console, *, watch: bool) -> None:
        self.engine = engine
        self.landing_id = landing_id
        self.console = console
        self.watch = watch
        self.here = False  # this command's engine runs the landing queue
        self.said: Text | None = None

    def _say(self, row: LandingRow, position: int | None) -> None:
        text = landing_text(row, position)
        if self.said is not None and text.plain == self.said.plain:
            return
        self.said = text
        self.console.print(
            Text(time.strftime("%H:%M:%S "), style="dim") + text, no_wrap=True, overflow="ellipsis"
        )
        self.console.file.flush()  # a pipe sees each change as it happens

    async def _served_elsewhere(self, row: LandingRow) -> bool:
        """Whether a landing of the same repository runs (so a server serves the queue)."""
        return any(
            r.phase == "running" and r.repository == row.repository and r.id != row.id
            for r in await self.engine.landings.recent(500)
        )

    async def run(self, interrupted: asyncio.Event) -> LandingRow | None:
        """The landing once it ended, or (``watch`` false) once a server runs it; ``None`` when
        interrupted."""
        since = time.monotonic()
        try:
            while not interrupted.is_set():
                row = await self.engine.landings.get(self.landing_id)
                position = (
                    await self.engine.landings.position(row) if row.phase == "queued" else None
                )
                if self.watch:
                    self._say(row, position)
                if row.terminal:
                    return row
                if not self.here and row.phase == "running" and not self.watch:
                    return row  # a server runs it
                waited = time.monotonic() - since
                if (
                    not self.here
                    and row.phase == "queued"
                    and waited > CLAIM_GRACE
                    and (waited > ORPHAN_GRACE or not await self._served_elsewhere(row))
                ):
                    self.console.print(
                        "No server has taken it: running it here (Ctrl-C stops it at a landed "
                        "boundary and queues it again).",
                        style="dim",
                    )
                    self.console.file.flush()
                    await self.engine.start()
                    self.here = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(interrupted.wait(), POLL)
            return None
        finally:
            if self.here:
                await stop_engine(self.engine)


async def _follow(
    engine: Engine, landing_id: str, console: Console, *, watch: bool
) -> tuple[LandingRow | None, bool]:
    """Follow the landing with Ctrl-C caught: (its row when it ended or a server took it, whether
    this command ran it)."""
    interrupted = asyncio.Event()
    follow = _Follow(engine, landing_id, console, watch=watch)
    loop = asyncio.get_running_loop()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers here
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        handled = True
    try:
        return await follow.run(interrupted), follow.here
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


def _submit(engine: Engine, request: LandRequest) -> LandingRow:
    async def submit() -> LandingRow:
        return await engine.landings.submit(request)

    return asyncio.run(submit())


def _ended(console: Console, row: LandingRow, *, as_json: bool) -> int:
    """Print how the landing ended; 0 when everything chosen landed."""
    if as_json:
        print_json(
            {**as_data(landing_view(row)), "report": as_data(row.report) if row.report else None}
        )
    elif row.report is not None:
        for line in row.report.lines:
            console.print(clean(line, one_line=False), markup=False, highlight=False)
    else:
        console.print(
            f"landing {row.id} {row.phase}" + (f": {clean(row.error)}" if row.error else "")
        )
    report = row.report
    if row.phase != "completed" or report is None:
        return 1
    return 1 if report.conflicted or report.check_failed or report.skipped else 0


def queued_land_command(
    settings: Settings,
    request: LandRequest | None,
    *,
    landing_id: str | None = None,
    watch: bool,
    as_json: bool = False,
) -> int:
    """``land --async`` (queue, print the id, return once a server runs it, or run it here when
    none does) and ``land --watch`` (queue, or take ``landing_id``, and follow it to its end)."""
    engine = engine_for(settings, "land")
    if engine is None:
        return 1
    store = engine.store
    console = make_console(stderr=as_json)
    landing_id = landing_id or ""
    try:
        if request is not None:
            row = _submit(engine, request)
            ahead = store.landing_position(row)
            console.print(
                f"landing {row.id} queued in {row.repository}"
                + (f" ({ahead} ahead of it)" if ahead else "")
            )
            console.file.flush()
            landing_id = row.id
        ended, here = asyncio.run(_follow(engine, landing_id, console, watch=watch))
    except (TaskError, GitError) as exc:
        error(said(exc))
        return 2 if isinstance(exc, TaskError) else 1
    except KeyboardInterrupt:
        ended, here = None, False
    if ended is None:  # Ctrl-C
        now = store.get_landing(landing_id)
        state = now.phase if now is not None else "unknown"
        where = (
            "it stopped at a landed boundary and is queued again (what landed stays landed)"
            if here
            else f"it is {state}, under the server that runs it"
        )
        error(
            f"stopped following landing {landing_id}: {where}; `codex-mcp-swarm land --watch "
            f"{landing_id}` follows it again, `codex-mcp-swarm cancel {landing_id}` cancels it"
        )
        return INTERRUPTED
    if not ended.terminal:  # --async: a server runs it
        if as_json:
            print_json(as_data(landing_view(ended)))
        else:
            console.print(
                f"a server is running it; `codex-mcp-swarm land --watch {ended.id}` follows it"
            )
        return 0
    return _ended(make_console(), ended, as_json=as_json)


async def cancel_landings(engine: Engine, landing_ids: Sequence[str]) -> list[LandingRow]:
    """Cancel each landing (a running one stops at a landed boundary)."""
    return [await engine.landings.cancel(landing_id) for landing_id in landing_ids]
