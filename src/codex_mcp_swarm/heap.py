"""The serving process's garbage collector, set for answers without pauses.

Owns: :func:`settle`. A server holds some 100,000 long-lived objects once its tools are
registered (modules, the SDK's and the tools' schemas); a full collection walks them all, about
50 ms on a 2-CPU machine, and one landed inside a call now and then: the slowest ``codex_list``
and ``codex_status`` answers were those pauses. ``settle`` freezes every object there is
(moved out of the collector's reach for good, as the fork server already does before it
forks), and lets the youngest generation grow ten times larger before it is collected, so that
a call's short-lived objects seldom survive into an older generation. It does not collect
first: the start leaves a few hundred unreachable objects, kept for good, where a collection
would cost the client's first answers 50-90 ms.

Must not: run in a process that is not a server (tests and the console keep Python's defaults).
"""

from __future__ import annotations

import gc

YOUNGEST = 7_000  # objects allocated before the youngest generation is collected (Python: 700)


def settle() -> None:
    """Freeze what there is, and collect the youngest generation less often."""
    gc.freeze()
    _first, second, third = gc.get_threshold()
    gc.set_threshold(YOUNGEST, second, third)
