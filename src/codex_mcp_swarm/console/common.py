"""What every console command shares: the consoles, safe text, phase colours, filters, the store.

Owns: how output reaches the terminal (a ``rich`` console with colour and width from the terminal,
plain text of a fixed generous width when piped), the cleaning of untrusted text (prompts, model
output, command lines) before it is shown, short numbers, the status and repository filters,
opening the shared store without creating it just to read it, and a command's engine over it
(or why there is none), which stops without cancelling the tasks it started.

Must not: start, stop or change tasks, or know MCP.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

from .. import git
from ..codex import shell
from ..engine import (
    ACTIVE,
    PHASES,
    TERMINAL,
    Engine,
    Store,
    StoreError,
    TaskRow,
    UsageView,
    valid_task_id,
)
from ..settings import Settings
from .words import said

PLAIN_WIDTH = 200  # columns of piped output when COLUMNS does not say
PHASE_STYLES = {
    "queued": "dim",
    "starting": "cyan",
    "running": "bold cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "lost": "magenta",
}
STATUS_GROUPS: dict[str, frozenset[str]] = {
    "active": ACTIVE,
    "finished": TERMINAL,
    **{phase: frozenset({phase}) for phase in PHASES},
}
# C0 and C1 control characters (escape sequences included), never sent to a terminal as is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): colour and width follow the terminal, plain when piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        try:
            width = int(os.environ.get("COLUMNS") or PLAIN_WIDTH)
        except ValueError:
            width = PLAIN_WIDTH
    return Console(
        file=stream,
        force_terminal=None,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
    )


def print_trimmed(console: Console, renderable: RenderableType) -> None:
    """Print ``renderable``; when piped, without the padding at the ends of lines."""
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def clean(text: object, limit: int | None = None, *, one_line: bool = True) -> str:
    """``text`` safe to print: control characters replaced; one line (whitespace collapsed)
    unless ``one_line`` is false; cut to ``limit`` characters with an ellipsis."""
    value = str(text)
    if one_line:
        value = " ".join(value.split())
    else:
        value = value.replace("\r\n", "\n").replace("\t", "    ")
    value = _CONTROL.sub("\ufffd", value)
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value


def command_text(command: object) -> str:
    """A command as its author wrote it (Codex's shell wrapper taken off), safe to print."""
    return clean(shell.command_text(command))


def first_line(text: object, limit: int | None = None) -> str:
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return clean(lines[0] if lines else "", limit)


def short_number(value: int) -> str:
    """``950``, ``5.1k``, ``12k``, ``1.2M``."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= scale:
            amount = value / scale
            return f"{amount:.1f}{suffix}" if amount < 10 else f"{amount:.0f}{suffix}"
    return str(value)


def token_text(usage: UsageView) -> str:
    """A task's own tokens, short: ``5.1k in · 830 out`` (empty before the first turn ends)."""
    turn = usage.turn or {}
    if not turn:
        return ""
    return (
        f"{short_number(int(turn.get('input_tokens', 0)))} in · "
        f"{short_number(int(turn.get('output_tokens', 0)))} out"
    )


def phase_text(phase: str) -> Text:
    return Text(phase, style=PHASE_STYLES.get(phase, ""))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def error(message: str) -> None:
    """A problem, as one line on stderr."""
    sys.stderr.write(f"codex-mcp-swarm: {clean(message)}\n")


def parse_statuses(values: Sequence[str]) -> frozenset[str] | None:
    """Phases named by ``--status`` (repeatable, comma lists, ``active``/``finished``); ``None``
    for no filter. ValueError names the accepted words."""
    chosen: set[str] = set()
    for value in values:
        for word in value.split(","):
            word = word.strip().lower()
            if not word:
                continue
            if word not in STATUS_GROUPS:
                raise ValueError(f"--status {word!r} is not one of {', '.join(STATUS_GROUPS)}")
            chosen |= STATUS_GROUPS[word]
    return frozenset(chosen) if chosen else None


def repo_root_of(path: str) -> Path:
    """The directory ``--repo`` names: the top level of its git checkout when it is in one."""
    target = Path(path).expanduser()
    if not target.is_dir():
        raise ValueError(f"--repo {path!r} is not an existing directory")
    target = target.resolve()
    try:
        return Path(os.path.realpath(git.repo_root(target)))
    except git.GitError:
        return target


def _within(path: str, root: Path) -> bool:
    candidate = Path(path)
    return candidate == root or root in candidate.parents


def task_filter(statuses: frozenset[str] | None, repo: Path | None) -> Callable[[TaskRow], bool]:
    """Keep tasks in one of ``statuses`` whose cwd or worktree repository is in ``repo``."""

    def keep(row: TaskRow) -> bool:
        if statuses is not None and row.phase not in statuses:
            return False
        if repo is None:
            return True
        worktree = row.extra.worktree
        origin = str(worktree.repo) if worktree is not None else None
        return any(_within(p, repo) for p in (row.cwd, origin) if p is not None)

    return keep


def store_exists(settings: Settings) -> bool:
    return (settings.task_dir / "tasks.db").is_file()


def open_store(settings: Settings) -> Store | None:
    """The shared store, or ``None`` while no server has created it (nothing to read yet).
    Raises :class:`~..engine.store.StoreError` with the fix when it cannot be opened."""
    if not store_exists(settings):
        return None
    return Store(settings.task_dir)


def load_task(settings: Settings, task_id: str) -> tuple[Store, TaskRow] | int:
    """The store and the row of ``task_id``, or (having said why) the exit code to return."""
    if not valid_task_id(task_id):
        error(f"{task_id!r} is not a task id (ids look like 'a1b2c3d4e5f6')")
        return 2
    try:
        store = open_store(settings)
    except StoreError as exc:
        error(said(exc))
        return 1
    row = store.get(task_id) if store is not None else None
    if store is None or row is None:
        error(f"unknown task id {task_id!r}; `codex-mcp-swarm tasks` lists the known tasks")
        return 1
    return store, row


def unique(rows: Iterable[TaskRow]) -> list[TaskRow]:
    """Rows without repeats, newest first."""
    seen: dict[str, TaskRow] = {}
    for row in rows:
        seen.setdefault(row.id, row)
    return sorted(seen.values(), key=lambda r: -r.seq)


def console_engine(settings: Settings, store: Store | None = None) -> Engine:
    """An engine for a command at the shell. Its tasks are never cancelled when it stops (``run``
    cancels its own on Ctrl-C with ``--cancel-on-exit``), so stopping it only ends its
    scheduler."""
    return Engine(dataclasses.replace(settings, cancel_on_exit=False), store)


def engine_for(settings: Settings, nothing: str) -> Engine | None:
    """The shell command's engine over the shared store, or ``None`` having said why there is
    none (the store cannot be opened, or no server has made it yet: "nothing to <nothing>")."""
    try:
        store = open_store(settings)
    except StoreError as exc:
        error(said(exc))
        return None
    if store is None:
        error(f"no tasks in {settings.task_dir} yet, so there is nothing to {nothing}")
        return None
    return console_engine(settings, store)


async def stop_engine(engine: Engine) -> None:
    """Stop an engine this command started (tasks keep running under their runners)."""
    await engine.stop()
