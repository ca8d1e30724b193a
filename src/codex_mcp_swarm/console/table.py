"""The task table: ``codex-mcp-swarm tasks``, and the board that ``watch`` and ``run`` redraw.

Owns: which facts of a task a table row shows (id, phase, elapsed, tool calls, last action, tokens,
branch, the prompt's first line, and in the live board what it is doing now), which columns fit
the terminal's width, and the summary line (running / queued / done / failed, tokens).

Must not: write to the store or touch processes. Facts come from ``engine.views`` (a
:class:`TaskLine` holds a task's typed status view and what the table adds; the ``--json`` form
is :meth:`TaskLine.data`, the view's ``as_data``) and what a task is doing now from
``engine.doing`` (the wording every face shows); this module only lays them out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..engine import (
    ACTIVE,
    StatusView,
    Store,
    StoreError,
    TaskRow,
    ToolView,
    as_data,
    branch_of,
    doing,
    status_view,
)
from ..settings import Settings
from ..wording import duration
from .common import (
    clean,
    error,
    first_line,
    make_console,
    open_store,
    phase_text,
    print_json,
    print_trimmed,
    short_number,
    task_filter,
    token_text,
)
from .landings import active_landing_lines
from .words import said


def tool_text(tool: ToolView, cwd: str | None = None) -> str:
    """A tool call in one line, safe to print (see :func:`~..engine.doing.tool_text`)."""
    return clean(doing.tool_text(tool, cwd))


def last_action(view: StatusView) -> str:
    """The latest tool call and how it went: ``$ pytest -q (exit 1)``."""
    last = view.last_tool
    if not last:
        return ""
    text = tool_text(last, view.cwd)
    code = last.exit_code
    if code not in (None, 0):
        text += f" (exit {code})"
    elif last.status == "failed":
        text += " (failed)"
    return text


def now_text(view: StatusView) -> str:
    """What a task is doing now, or how it ended, in one line (the engine's wording)."""
    return clean(doing.doing(view).text())


def task_status(
    store: Store | None, row: TaskRow, now: float | None = None, *, position: int | None = None
) -> StatusView:
    """The status view of ``row``: its queue position is ``position``, else read from
    ``store`` (when given)."""
    if position is None and store is not None:
        position = store.queue_position(row)
    return status_view(row, now, position)


@dataclass(frozen=True, slots=True)
class TaskLine:
    """A task as the table, the board and ``watch``'s log show it: its status view and what
    the table adds (its branch, its clock, its last action and what it is doing now)."""

    view: StatusView
    branch: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    last_action: str
    doing: str

    def data(self) -> dict[str, Any]:
        """The ``--json`` form: the status view's JSON and the table's facts."""
        data: dict[str, Any] = as_data(self.view)
        data.update(
            branch=self.branch,
            created_at=self.created_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            last_action=self.last_action,
            doing=self.doing,
        )
        return data


def task_line(
    store: Store | None, row: TaskRow, now: float | None = None, *, position: int | None = None
) -> TaskLine:
    """What a table shows of ``row``. Its queue position is ``position``, else read from
    ``store`` (when given)."""
    status = task_status(store, row, now, position=position)
    return TaskLine(
        view=status,
        branch=branch_of(row),
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_action=last_action(status),
        doing=now_text(status),
    )


@dataclass(frozen=True)
class Column:
    header: str
    min_width: int  # the terminal width from which the column is shown
    justify: str = "left"
    ratio: int | None = None
    max_width: int | None = None


COLUMNS = (
    Column("ID", 0),
    Column("PHASE", 0),
    Column("ELAPSED", 0, justify="right"),
    Column("TOOLS", 90, justify="right"),
    Column("LAST ACTION", 72, ratio=2),
    Column("TOKENS", 110, max_width=18),
    Column("BRANCH", 130, max_width=26),
    Column("PROMPT", 0, ratio=3),
)


def _columns(width: int, live: bool) -> list[Column]:
    chosen = [c for c in COLUMNS if width >= c.min_width]
    if live and width < 180:
        # The board's second line per task says what it does now; it replaces this column.
        chosen = [c for c in chosen if c.header != "LAST ACTION"]
    return chosen


def _cell(column: Column, line: TaskLine, live: bool) -> RenderableType:
    header = column.header
    view = line.view
    if header == "ID":
        return Text(view.task_id, style="bold")
    if header == "PHASE":
        return phase_text(view.status)
    if header == "ELAPSED":
        return duration(view.elapsed_s)
    if header == "TOOLS":
        return str(view.tool_calls)
    if header == "LAST ACTION":
        return Text(line.last_action, no_wrap=True, overflow="ellipsis")
    if header == "TOKENS":
        return token_text(view.usage)
    if header == "BRANCH":
        return clean(line.branch or "")
    title = Text(first_line(view.title or ""), no_wrap=True, overflow="ellipsis")
    if live:
        title.append("\n↳ " + line.doing, style="dim" if view.status != "running" else "")
    return title


def task_table(views: Sequence[TaskLine], width: int, *, live: bool = False) -> Table:
    """One row per task; in the ``live`` board each task has a second line: what it does now."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
        expand=live,
        width=width if live else None,
    )
    columns = _columns(width, live)
    for column in columns:
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            # Only the long text columns give up width when the table is too wide; their cells
            # are single lines cut with an ellipsis.
            no_wrap=column.ratio is None,
            overflow="ellipsis",
            ratio=column.ratio,
            max_width=column.max_width,
        )
    for view in views:
        table.add_row(*(_cell(c, view, live) for c in columns))
    return table


def summary_line(views: Sequence[TaskLine]) -> Text:
    """``2 running · 1 queued · 5 done · 1 failed · tokens 12k in · 1.2k out``."""
    counts: dict[str, int] = {}
    for task in views:
        counts[task.view.status] = counts.get(task.view.status, 0) + 1
    parts = [
        (f"{counts.get('running', 0) + counts.get('starting', 0)} running", "cyan"),
        (f"{counts.get('queued', 0)} queued", ""),
        (f"{counts.get('completed', 0)} done", "green"),
        (f"{counts.get('failed', 0)} failed", "red"),
    ]
    for extra, style in (("cancelled", "yellow"), ("lost", "magenta")):
        if counts.get(extra):
            parts.append((f"{counts[extra]} {extra}", style))
    tokens_in = tokens_out = 0
    for task in views:
        turn = task.view.usage.turn or {}
        tokens_in += int(turn.get("input_tokens", 0))
        tokens_out += int(turn.get("output_tokens", 0))
    parts.append((f"tokens {short_number(tokens_in)} in · {short_number(tokens_out)} out", ""))
    line = Text()
    for i, (text, style) in enumerate(parts):
        if i:
            line.append(" · ", style="dim")
        line.append(text, style=style)
    return line


def tasks_command(
    settings: Settings,
    *,
    statuses: frozenset[str] | None,
    repo: Path | None,
    limit: int,
    as_json: bool,
) -> int:
    """``codex-mcp-swarm tasks``: the table of tasks in the store, newest first."""
    try:
        store = open_store(settings)
    except StoreError as exc:
        error(said(exc))
        return 1
    keep = task_filter(statuses, repo)
    rows = [r for r in store.list() if keep(r)] if store is not None else []
    now = time.time()
    shown = rows[:limit] if limit > 0 else rows
    views = [task_line(store, r, now) for r in shown]
    if as_json:
        print_json([line.data() for line in views])
        return 0
    console = make_console()
    if not rows:
        filtered = statuses is not None or repo is not None
        console.print(f"No tasks{' match' if filtered else ''} in {settings.task_dir}.")
        for line in active_landing_lines(store):
            console.print(line, no_wrap=True, overflow="ellipsis")
        return 0
    print_trimmed(console, task_table(views, console.width))
    if len(rows) > len(shown):
        console.print(
            f"… {len(rows) - len(shown)} older task(s) not shown (--limit 0 shows all)",
            style="dim",
        )
    everything = views if len(rows) == len(shown) else [task_line(None, r, now) for r in rows]
    console.print(summary_line(everything))
    for line in active_landing_lines(store):
        console.print(line, no_wrap=True, overflow="ellipsis")
    return 0


def board(
    views: Sequence[TaskLine],
    width: int,
    height: int,
    *,
    title: str | None = None,
    landings: Sequence[Text] = (),
) -> Group:
    """The live board: a header, the tasks that fit the screen (active first), the summary."""
    ordered = sorted(views, key=lambda task: task.view.status not in ACTIVE)
    fits = max(1, (height - 6 - len(landings)) // 2)
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold"))
    if ordered:
        parts.append(task_table(ordered[:fits], width, live=True))
        if len(ordered) > fits:
            parts.append(Text(f"… {len(ordered) - fits} more (a taller terminal shows more)"))
    else:
        parts.append(Text("No tasks yet.", style="dim"))
    parts.append(summary_line(views))
    for line in landings:
        one = line.copy()
        one.no_wrap, one.overflow = True, "ellipsis"
        parts.append(one)
    return Group(*parts)
