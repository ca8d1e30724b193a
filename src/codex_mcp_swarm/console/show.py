"""``codex-mcp-swarm show ID`` and ``cancel ID``: one task's whole result, and stopping tasks
(and landings: ``cancel LANDING_ID`` goes to the merge queue).

Owns: the long form of a task for a person (facts, the full final message, the branch with its
diffstat and merge outlook), its ``--json`` twin, and the wording of cancel outcomes. ``run`` prints
each result with :func:`result_block`.

Must not: stop a task any other way than through :meth:`Engine.cancel` (which signals the runner
and waits for the recorded end), or change a task's branch or worktree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.text import Text

from ..engine import (
    Engine,
    Store,
    TaskError,
    TaskRow,
    as_data,
    branch_diff,
    branch_of,
    is_landing_id,
    result_view,
    worktree_view,
)
from ..git import GitError
from ..settings import Settings
from ..wording import duration, node_text, tokens, worktree_outlook
from .common import (
    clean,
    engine_for,
    error,
    first_line,
    load_task,
    make_console,
    phase_text,
    print_json,
    stop_engine,
)
from .landings import cancel_landings, landing_text
from .table import last_action, now_text, task_status
from .words import said


def diffstat(row: TaskRow) -> str | None:
    """``git diff --stat`` of a finished worktree task's branch against its base, when git can
    still see the branch; else the recorded file counts; ``None`` without a worktree."""
    view = worktree_view(row)
    if view is None or not row.terminal:
        return None
    if not row.extra.removed_branch:
        try:
            stat = branch_diff(row, paths=None, stat_only=True, max_chars=0).stat
            return stat.rstrip() or "no changes"
        except (TaskError, GitError, OSError):
            pass
    files = view.files
    if not files and view.head_commit is not None:
        return "no changes"
    lines = []
    for change in files:
        ins = "bin" if change.insertions is None else f"+{change.insertions}"
        dels = "" if change.deletions is None else f" -{change.deletions}"
        lines.append(f" {change.path} | {ins}{dels}")
    if view.files_total:
        lines.append(
            f" {view.files_total} file(s) changed, +{view.insertions or 0} -{view.deletions or 0}"
        )
    return "\n".join(lines) or None


def _fact(label: str, value: str, style: str = "") -> Text:
    line = Text(f"  {label:<9} ", style="dim")
    line.append(value, style=style)
    return line


def result_block(row: TaskRow, store: Store | None = None, now: float | None = None) -> Group:
    """A task for a person: its facts, its whole final message, its branch and diffstat (a
    running one as of ``now``)."""
    result = result_view(row, now)
    head = Text(f"Task {row.id} ", style="bold")
    head.append_text(phase_text(row.phase))
    head.append(
        f" after {duration(result.elapsed_s)}"
        if row.terminal
        else f" for {duration(result.elapsed_s)} (not finished)"
    )
    parts: list[Any] = [head, _fact("prompt", clean(row.title, 200)), _fact("cwd", row.cwd)]
    if row.thread_id:
        parts.append(_fact("thread", row.thread_id))
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created_at))
    if row.ended_at:
        clock += " -> " + time.strftime("%H:%M:%S", time.localtime(row.ended_at))
    parts.append(_fact("time", clock))
    node = result.node  # the Ray backend: the worker node it ran on
    if node is not None and node.known:
        parts.append(_fact("node", node_text(node)))
    facts = [f"{result.tool_calls} tool call(s)"]
    if tokens(result.usage):
        facts.append("tokens " + tokens(result.usage))
    if row.exit_code is not None:
        facts.append(f"exit code {row.exit_code}")
    if row.exit_signal is not None:
        facts.append(f"signal {row.exit_signal}")
    parts.append(_fact("activity", " · ".join(facts)))
    if row.steer_count:
        when = time.strftime("%H:%M:%S", time.localtime(row.steered_at or 0))
        parts.append(_fact("steered", f"{row.steer_count} time(s), last at {when}"))
    if not row.terminal:
        parts.append(_fact("now", now_text(task_status(store, row, now)), "cyan"))
    if row.error:
        parts.append(_fact("error", clean(row.error), "red"))
    for warning in result.warnings[-5:]:
        parts.append(_fact("warning", clean(warning, 300), "yellow"))
    if result.content:
        parts += [Text(""), Text(clean(result.content, one_line=False))]
    elif not row.terminal:
        parts.append(Text(f"  `codex-mcp-swarm watch {row.id}` follows it.", style="dim"))
    worktree = result.worktree
    if worktree is not None:
        parts += [Text(""), Text(f"Branch {worktree.branch}", style="bold")]
        parts.append(_fact("worktree", worktree.path))
        stat = diffstat(row)
        if stat:
            lines = clean(stat, one_line=False).splitlines()
            parts += [Text("  " + line.strip()) for line in lines]
        parts += [Text(f"  {clean(line)}") for line in worktree_outlook(worktree)]
    return Group(*parts)


def result_data(row: TaskRow, store: Store | None, now: float | None = None) -> dict[str, Any]:
    """``show --json``: the result view's JSON, and what the task table says of the task."""
    data: dict[str, Any] = as_data(result_view(row, now))
    status = task_status(store, row, now)
    data.update(
        title=row.title,
        doing=now_text(status),
        last_action=last_action(status),
        branch=branch_of(row),
        diffstat=diffstat(row),
    )
    return data


def show_command(settings: Settings, task_id: str, *, as_json: bool) -> int:
    """``codex-mcp-swarm show ID``."""
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, row = loaded
    if as_json:
        print_json(result_data(row, store))
        return 0
    make_console().print(result_block(row, store))
    return 0


def _cancel_outcome(before: TaskRow, after: TaskRow) -> tuple[str, bool]:
    """What happened to a task we asked to cancel, and whether it has stopped."""
    if before.terminal:
        return f"Task {before.id} had already ended ({before.phase}); nothing changed.", True
    if after.phase == "cancelled":
        return f"Task {after.id} cancelled after {duration(result_view(after).elapsed_s)}.", True
    if after.phase == "lost":
        return f"Task {after.id} was lost: {first_line(after.error)}", True
    if after.terminal:
        return f"Task {after.id} ended ({after.phase}) before the cancel reached it.", True
    return (
        f"Task {after.id} is still {after.phase}: its runner did not record an end in time. "
        "Run `codex-mcp-swarm doctor` to check its processes.",
        False,
    )


async def _cancel_all(engine: Engine, rows: Sequence[TaskRow]) -> list[TaskRow]:
    await engine.start()
    try:
        return list(await asyncio.gather(*(engine.cancel(row.id) for row in rows)))
    finally:
        await stop_engine(engine)


def cancel_command(settings: Settings, task_ids: Sequence[str]) -> int:
    """``codex-mcp-swarm cancel ID...``: stop the tasks and everything they started."""
    engine = engine_for(settings, "cancel")
    if engine is None:
        return 1
    landing_ids = [i for i in dict.fromkeys(task_ids) if is_landing_id(i)]
    task_ids = [i for i in dict.fromkeys(task_ids) if not is_landing_id(i)]
    if landing_ids:
        code = _cancel_landings(engine, landing_ids)
        if not task_ids:
            return code
    try:
        before = engine.get_many_sync(list(dict.fromkeys(task_ids)))
    except TaskError as exc:
        error(said(exc))
        return 1
    try:
        after = asyncio.run(_cancel_all(engine, before))
    except KeyboardInterrupt:
        error("interrupted; the cancel requests already sent stay in force")
        return 130
    console = make_console()
    stopped = True
    for old, new in zip(before, after, strict=True):
        text, done = _cancel_outcome(old, new)
        stopped = stopped and done
        console.print(text, style="" if done else "bold red")
    return 0 if stopped else 1


def _cancel_landings(engine: Engine, landing_ids: Sequence[str]) -> int:
    """Cancel landings: a queued one at once, a running one at its next landed boundary."""
    try:
        rows = asyncio.run(cancel_landings(engine, landing_ids))
    except TaskError as exc:
        error(said(exc))
        return 1
    except KeyboardInterrupt:
        error("interrupted; the cancel requests already sent stay in force")
        return 130
    console = make_console()
    for row in rows:
        console.print(landing_text(row))
    return 0 if all(row.terminal for row in rows) else 1
