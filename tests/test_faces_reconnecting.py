"""A task whose Codex cannot reach its model says so in every face: the status view, the MCP
answers and progress lines, the console's table and the board (no Codex, no subprocess)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from codex_mcp_swarm.codex.progress import fold_lines
from codex_mcp_swarm.console.table import now_text, task_line
from codex_mcp_swarm.engine.records import as_data
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.engine.views import result_view, status_view
from codex_mcp_swarm.mcp import render
from codex_mcp_swarm.web import data

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).parent / "data" / "reconnect.jsonl"  # two reconnects (Codex 0.171)
SAID = "reconnecting to the model: Connection failed: error sending request, attempt 2"


def running_task(tmp_path: Path) -> Store:
    store = Store(tmp_path / "tasks")
    store.create("reco00000001", spec={}, cwd=str(tmp_path), title="hello", owner="test")
    store.claim_queued(1)
    store.set_running("reco00000001", os.getpid(), time.time())
    progress = fold_lines(RECORDED.read_text().splitlines())
    store.set_progress("reco00000001", progress.to_dict())
    return store


def test_every_face_says_the_task_is_reconnecting(tmp_path: Path) -> None:
    store = running_task(tmp_path)
    row = store.get("reco00000001")
    assert row is not None and row.phase == "running"
    view = status_view(row)
    assert as_data(view)["reconnecting"] == {
        "reason": "Connection failed: error sending request",
        "attempt": 2,
    }
    assert render.doing(view) == SAID
    assert SAID in render.status_text(view)
    assert SAID in render.progress_line([view])
    assert now_text(view) == SAID
    assert task_line(store, row).doing == SAID
    assert data.task_row(row, time.time(), None)["last_action"] == SAID


def test_an_ended_task_no_longer_says_it(tmp_path: Path) -> None:
    store = running_task(tmp_path)
    row = store.get("reco00000001")
    assert row is not None
    error = "Codex could not reach the model (2 tries): Connection failed: error sending request"
    store.finish(row.id, phase="failed", error=error, progress=row.progress)
    ended = store.get(row.id)
    assert ended is not None
    view = status_view(ended)
    assert view.reconnecting is None and "reconnecting" not in as_data(view)
    # One wording of what it did last, in every face (engine.doing): the error's first line.
    assert render.doing(view).startswith("Codex could not reach the model (2 tries)")  # capped
    assert now_text(view) == error
    assert data.task_row(ended, time.time(), None)["last_action"] == error
    assert result_view(ended).error == error
