"""``codex-mcp-swarm merge ID``: bring one worktree task's branch into its target.

Owns: the command's sentence and exit code (0 merged or nothing to do, 1 refused).

Must not: merge any other way than ``engine.branches.merge`` (the same safe merge as
``codex_merge``: built in memory, applied under the repository's lock, or refused with nothing
changed).
"""

from __future__ import annotations

from ..engine import TaskError, as_data
from ..git import GitError
from ..settings import Settings
from .common import clean, console_engine, error, load_task, make_console, print_json
from .words import said


def merge_command(
    settings: Settings,
    task_id: str,
    *,
    strategy: str = "merge",
    target: str | None = None,
    as_json: bool = False,
) -> int:
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, row = loaded
    try:
        out = console_engine(settings, store).merge_sync(row.id, strategy=strategy, target=target)
    except (TaskError, GitError) as exc:
        error(said(exc))
        return 1
    if as_json:
        print_json(as_data(out))
    else:
        console = make_console()
        if out.merged:
            console.print(clean(out.message, one_line=False), markup=False, highlight=False)
        else:
            error(f"not merged: {out.message}")
    return 0 if out.merged else 1
