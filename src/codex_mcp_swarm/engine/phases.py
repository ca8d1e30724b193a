"""The phases of a task, named once.

Owns: the :data:`Phase` type and the groups every layer asks about (active, terminal, supervised,
failed), and the phases of a landing.
A task moves ``queued -> starting -> running`` and ends in exactly one terminal phase; the store
writes a terminal phase once (the first writer wins).

Must not: import anything of this project (every layer may import it).
"""

from __future__ import annotations

from typing import Literal, get_args

Phase = Literal["queued", "starting", "running", "completed", "failed", "cancelled", "lost"]
PHASES: tuple[Phase, ...] = get_args(Phase)
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "lost"})
ACTIVE: frozenset[str] = frozenset({"queued", "starting", "running"})
#: Phases in which a task has (or is getting) a supervisor: they count against the limit.
SUPERVISED: frozenset[str] = frozenset({"starting", "running"})
#: Terminal phases in which the work went wrong (a cancel was asked for: it is not one).
FAILED: frozenset[str] = frozenset({"failed", "lost"})


#: A landing (the merge queue's unit of work) moves ``queued -> running`` and ends in one of
#: :data:`LANDING_TERMINAL`.
LANDING_PHASES: tuple[str, ...] = ("queued", "running", "completed", "failed", "cancelled")
LANDING_TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def is_terminal(phase: str) -> bool:
    return phase in TERMINAL
