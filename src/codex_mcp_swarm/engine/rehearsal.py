"""The fork server's rehearsal of a runner's first steps, so forked runners start warm.

Owns: :func:`rehearse` and :func:`rehearsal`, which walk a runner's start (open the store as a
runner, read the task, build a :class:`~.supervisor.Runner`, record "running" and progress) a
few times on a scratch store in a temporary directory, removed afterwards. CPython specializes
bytecode and fills caches as code first runs; done once in the fork server, every forked runner
starts with that work done instead of copying the pages it would write.

Must not: start Codex, touch a real task directory, or leave anything behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..codex.progress import TaskProgress
from . import procs
from .plan import LaunchPlan
from .store import Store
from .supervisor import Runner

TASK_ID = "rehearsal000"


def rehearse() -> None:
    """Walk a runner's first steps a few times on a scratch store (the fork server does, once,
    before it forks any runner). Best effort: never raises."""
    with contextlib.suppress(Exception):
        rehearsal()


def rehearsal() -> None:
    """What :func:`rehearse` does; raises what goes wrong."""
    with tempfile.TemporaryDirectory(prefix="codex-swarm-rehearsal-") as scratch:
        plan = LaunchPlan(argv=("true", "exec", "--json", "-"), cwd=scratch, prompt="")
        server = Store(Path(scratch))
        server.create(
            TASK_ID,
            spec={"task": {"prompt": ""}, "launch": plan.to_dict()},
            cwd=scratch,
            title="",
            owner="",
        )
        server.close()
        store = Store(Path(scratch), role="runner")
        try:
            for _ in range(4):
                row = store.get(TASK_ID)
                assert row is not None
                Runner(store, row)
                ctime = procs.create_time(os.getpid()) or 0.0
                store.set_running(TASK_ID, os.getpid(), ctime)
                store.set_progress(TASK_ID, TaskProgress().to_dict())
        finally:
            store.close()
