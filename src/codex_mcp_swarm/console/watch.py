"""``codex-mcp-swarm watch``: the task board, redrawn in place from the shared store.

Owns: the two ways progress reaches a person. In a terminal, a board (``rich`` Live) redrawn about
twice a second: every active task and the latest finished ones, each with what it is doing now,
the summary line and a line per queued or running landing. When output is not a terminal, one
plain line per change of a task's phase or activity (or of a landing's line), so logs and pipes
get a readable history instead of redraw codes. ``run`` uses the
same displays for the tasks it launched.

Must not: write to the store or signal processes; a reader may run beside any number of servers.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..engine import ACTIVE, Store, StoreError, TaskRow
from ..settings import Settings
from ..wording import duration
from .common import error, make_console, open_store, phase_text, task_filter, unique
from .landings import active_landing_lines
from .table import TaskLine, board, summary_line, task_line, task_table
from .words import said

REFRESH = 0.5  # seconds between redraws (and store reads)
RECENT = 500  # newest tasks read per redraw besides every active one


class Display(Protocol):
    def update(self, views: Sequence[TaskLine], landings: Sequence[Text] = ()) -> None: ...

    def close(self) -> None: ...


class Board:
    """The board redrawn in place in a terminal."""

    def __init__(self, console: Console, title: Callable[[], str]) -> None:
        self.console = console
        self.title = title
        self.live = Live(
            console=console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self.live.start()

    def update(self, views: Sequence[TaskLine], landings: Sequence[Text] = ()) -> None:
        size = self.console.size
        frame = board(views, size.width, size.height, title=self.title(), landings=landings)
        self.live.update(frame, refresh=True)

    def close(self) -> None:
        self.live.stop()


class ChangeLog:
    """One plain line per change of a task's phase or activity (for pipes and log files).

    With ``history`` false, tasks already finished at the first update are not reported."""

    def __init__(self, console: Console, *, history: bool = True) -> None:
        self.console = console
        self.history = history
        self.seen: dict[str, tuple[str, str]] = {}
        self.landings_said: set[str] = set()
        self.first = True

    def _landings(self, landings: Sequence[Text]) -> None:
        """A line per landing whenever its line changes (its id, phase and where it is)."""
        for line in landings:
            if line.plain in self.landings_said:
                continue
            self.landings_said.add(line.plain)
            self.console.print(
                Text(time.strftime("%H:%M:%S "), style="dim") + line,
                no_wrap=True,
                overflow="ellipsis",
            )

    def update(self, views: Sequence[TaskLine], landings: Sequence[Text] = ()) -> None:
        self._landings(landings)
        if self.first and not self.history:
            # A pipe first gets the current table once, then a line per change.
            self.console.print(task_table(views, self.console.width))
            self.console.print(summary_line(views))
            self.seen = {task.view.task_id: (task.view.status, task.doing) for task in views}
            self.first = False
            return
        for task in reversed(views):  # oldest first, like a log
            view = task.view
            state = (view.status, task.doing)
            if self.seen.get(view.task_id) == state:
                continue
            self.seen[view.task_id] = state
            if self.first and not self.history and view.status not in ACTIVE:
                continue
            line = Text(time.strftime("%H:%M:%S "), style="dim")
            line.append(f"{view.task_id}  ")
            line.append_text(phase_text(f"{view.status:<9}"))
            line.append(f" {duration(view.elapsed_s):>10}  {task.doing}")
            self.console.print(line, no_wrap=True, overflow="ellipsis")
        self.first = False

    def close(self) -> None:
        pass


def display_for(console: Console, title: Callable[[], str], *, history: bool) -> Display:
    """A board when ``console`` is a terminal, else a change log."""
    if console.is_terminal:
        return Board(console, title)
    return ChangeLog(console, history=history)


def snapshot(store: Store | None, keep: Callable[[TaskRow], bool]) -> list[TaskLine]:
    """Every active task and the newest finished ones that pass ``keep``, newest first."""
    if store is None:
        return []
    rows = unique([*store.list(phases=ACTIVE), *store.list(limit=RECENT)])
    now = time.time()
    return [task_line(store, row, now) for row in rows if keep(row)]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so a display is always closed (cursor shown, last frame kept)."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def watch_command(settings: Settings, *, statuses: frozenset[str] | None, repo: Path | None) -> int:
    """``codex-mcp-swarm watch``: follow every task in the store until Ctrl-C."""
    console = make_console()
    keep = task_filter(statuses, repo)

    def title() -> str:
        return f"codex-swarm · {settings.task_dir} · {time.strftime('%H:%M:%S')} · Ctrl-C quits"

    store: Store | None = None
    display: Display | None = None
    try:
        with sigterm_as_interrupt():
            display = display_for(console, title, history=False)
            while True:
                if store is None:
                    store = open_store(settings)  # None until a server has made it
                display.update(snapshot(store, keep), active_landing_lines(store))
                time.sleep(REFRESH)
    except KeyboardInterrupt:
        return 0
    except StoreError as exc:
        error(said(exc))
        return 1
    finally:
        if display is not None:
            display.close()
