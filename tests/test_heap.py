"""The serving process's collector settings (heap.settle), in a process of its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_settle_freezes_what_is_alive_and_collects_the_youngest_less_often() -> None:
    code = (
        "import gc\n"
        "from codex_mcp_swarm import heap\n"
        "before = gc.get_threshold()\n"
        "heap.settle()\n"
        "after = gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1_000, gc.get_freeze_count()\n"
        "assert after == (heap.YOUNGEST, *before[1:]), (before, after)\n"
        "assert gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
