"""``codex-mcp-swarm cleanup ID`` or ``cleanup --all-merged``: remove what is merged.

Owns: the command's lines (what was removed, what was kept and why, what was lost) and its exit
code (0 unless a named task kept something or the input was wrong).

Must not: decide what is merged or delete anything itself (``engine.branches`` does, as for
``codex_cleanup``: unmerged work is kept unless ``--force`` names one task).
"""

from __future__ import annotations

from ..engine import StoreError, TaskError, as_data
from ..git import GitError
from ..settings import Settings
from ..wording import cleanup_line
from .common import clean, console_engine, error, load_task, make_console, open_store, print_json
from .words import said


def cleanup_command(
    settings: Settings,
    task_id: str | None,
    *,
    all_merged: bool = False,
    force: bool = False,
    as_json: bool = False,
) -> int:
    if bool(task_id) == bool(all_merged):
        raise ValueError("give either a task ID or --all-merged (not both)")
    if all_merged and force:
        raise ValueError("--force only applies to one task ID: name the task whose work may go")
    if task_id:
        loaded = load_task(settings, task_id)
        if isinstance(loaded, int):
            return loaded
        store, _row = loaded
    else:
        try:
            found = open_store(settings)
        except StoreError as exc:
            error(said(exc))
            return 1
        if found is None:
            error(f"no tasks in {settings.task_dir} yet, so there is nothing to clean up")
            return 1
        store = found
    engine = console_engine(settings, store)
    try:
        if task_id:
            cleaned = [engine.cleanup_sync(task_id, force=force)]
        else:
            cleaned = engine.cleanup_merged_sync()
    except (TaskError, GitError) as exc:
        error(said(exc))
        return 1
    if as_json:
        print_json({"cleaned": as_data(cleaned)})
    else:
        console = make_console()
        for item in cleaned:
            console.print(clean(cleanup_line(item), one_line=False), markup=False, highlight=False)
        if not cleaned:
            console.print("Nothing to clean up: no merged task branches.")
    kept = task_id is not None and any(item.kept_reason for item in cleaned)
    return 1 if kept else 0
