"""``codex-mcp-swarm land [ID...] [--check CMD]``: land finished worktree tasks from the shell.

Owns: the command's output (one line per task, the target's new tip, or ``--json``) and its exit
code (0 when every chosen task landed or was already in, 1 when any conflicted, failed its check
or was skipped, 2 for bad input). With ``--on-failure reply`` a failed task is sent home: a
reply on its own thread starts here, and lands again through a server on the task dir.

Must not: choose, merge or record anything itself (``engine.landing`` does, as for
``codex_land``).
"""

from __future__ import annotations

from ..engine import LandRequest, TaskError, as_data
from ..git import GitError
from ..settings import Settings
from .common import clean, engine_for, error, make_console, print_json
from .words import said


def land_command(settings: Settings, request: LandRequest, *, as_json: bool = False) -> int:
    engine = engine_for(settings, "land")
    if engine is None:
        return 1
    try:
        out = engine.land_sync(request)
    except (TaskError, GitError) as exc:
        error(said(exc))
        return 2 if isinstance(exc, TaskError) else 1
    except KeyboardInterrupt:
        error("interrupted; what had landed stays landed, the rest is unchanged")
        return 130
    if any(item.follow_up for item in out.resolving) or out.sent_home:
        engine.start_queued_now()  # resolving tasks and replies start under their own runners
    if as_json:
        print_json(as_data(out))
    else:
        console = make_console()
        for line in out.lines:
            console.print(clean(line, one_line=False), markup=False, highlight=False)
        if out.sent_home:
            console.print(
                "The replies land again when they complete, through a server running on this "
                "task dir (codex-mcp-swarm serving a client; the board command alone runs no "
                "landing).",
                markup=False,
                highlight=False,
            )
    trouble = out.conflicted or out.check_failed or out.skipped
    return 1 if trouble else 0
