"""The runner process's command line: one small process per task that owns its Codex process.

``python -m codex_mcp_swarm.engine.runner --task-dir D --task-id T [--lock-fd N]`` runs one
task to its recorded end (:func:`.supervisor.run_task`); the local backend spawns it so when the
fork server is not available, and the Ray actor always. ``--forkserver-fd N`` makes the process
the fork server instead (:func:`.forkserver.serve`), whose forked children run tasks the same
way: so every runner, forked or spawned, has this module on its command line (nesting detection
in :mod:`.admission` looks for it).

A runner holds its task's ``runner.lock`` (an exclusive ``flock`` handed over by the engine
before the runner even exists) for its whole life: a waiter anywhere wakes the moment the runner
is gone. What a runner does meanwhile is :mod:`.supervisor`'s.

Owns: parsing that command line and the process's exit. Must not: hold any logic of running a
task or of the fork server (this module is the top of the runner's imports: nothing imports it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .forkserver import serve
from .supervisor import run_task

USAGE = "usage: runner --task-dir DIR --task-id ID [--lock-fd N] | --forkserver-fd N"


def _arguments(argv: list[str]) -> dict[str, str]:
    """``--task-dir D --task-id T --lock-fd N`` (argparse costs a runner 7 ms of start-up)."""
    if len(argv) % 2:
        raise SystemExit(USAGE)
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    if "--forkserver-fd" not in pairs and not {"--task-dir", "--task-id"} <= set(pairs):
        raise SystemExit(USAGE)
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    if "--forkserver-fd" in args:
        return serve(int(args["--forkserver-fd"]))
    if "--lock-fd" in args:
        os.set_inheritable(int(args["--lock-fd"]), False)  # Codex must not inherit the lock
    return run_task(Path(args["--task-dir"]), args["--task-id"])


if __name__ == "__main__":
    code = main()
    # The end is recorded: exit now. Waiters wake when this process (which holds the task's
    # runner.lock) is gone, and an interpreter's orderly shutdown costs them ~15 ms for nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
