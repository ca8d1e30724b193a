"""The exact bytes every face renders from the engine's views, pinned: the MCP tools' text and
structured content (as each tool composes them), the progress line, the console's ``show``
(its block and its ``--json``) and the board's JSON, for tasks and landings in every state.

Rows are made in a temp store by hand (no Codex, no subprocess, no git), their clock fixed; the
expected output is tests/data/faces_pinned.json. A change of wording or shape is a change of that
file (``CODEX_SWARM_PIN=write`` rewrites it, to be read in review); a refactor of how the faces
read the views must leave it as it is.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from engine_stubs import THREAD, add_task, outcome, row_of, worktree
from mcp import Client
from rich.console import Console
from rich.text import Text

from codex_mcp_swarm.codex.progress import TaskProgress, ToolCall
from codex_mcp_swarm.console import show, table, watch
from codex_mcp_swarm.engine.records import (
    CheckFailed,
    Conflicted,
    Landed,
    LandingMark,
    LandingProgress,
    LandingRow,
    LandReport,
    LandRequest,
    Merged,
    Node,
    Resolving,
    SentHome,
    Skipped,
    TaskExtra,
)
from codex_mcp_swarm.engine.store import Store, TaskRow
from codex_mcp_swarm.engine.views import landing_view, listing_view, result_view, status_view
from codex_mcp_swarm.git import GitError
from codex_mcp_swarm.mcp import answers, render
from codex_mcp_swarm.mcp.server import build_server
from codex_mcp_swarm.settings import Settings
from codex_mcp_swarm.web import data as board

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

PINNED = Path(__file__).parent / "data" / "faces_pinned.json"
T0 = 1_800_000_000.0  # every row's clock starts here
NOW = T0 + 754.25  # and is read at this moment
BUDGET = Settings.build().max_output_chars
NOISE = "Model metadata for `mock-model` not found. Defaulting to fallback metadata."


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Clock times (a steer's, a task's creation) in UTC, whatever the machine's zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def timed(row: TaskRow, start: float | None, end: float | None = None, **more: Any) -> TaskRow:
    """``row`` as if created at ``T0``, started at ``T0 + start`` and ended at ``T0 + end``."""
    return replace(
        row,
        created_at=T0,
        started_at=None if start is None else T0 + start,
        ended_at=None if end is None else T0 + end,
        **more,
    )


def progress(**fields: Any) -> dict[str, Any]:
    return {**TaskProgress().to_dict(), **fields}


def run(store: Store, task_id: str, **fields: Any) -> None:
    store.claim_queued(100)
    store.set_running(task_id, 4242, 1.0)
    store.set_progress(task_id, progress(**fields))


USAGE = {"input_tokens": 5200, "cached_input_tokens": 1200, "output_tokens": 830}
LONG = " ".join(f"word{n}" for n in range(600))  # about 4,900 characters


def task_rows(store: Store, repo: Path) -> dict[str, tuple[TaskRow, int | None]]:
    """Every kind of task a face shows, with its queue position."""
    rows: dict[str, tuple[TaskRow, int | None]] = {}

    add_task(store, "aaaa00000001", prompt="Queued work\nsecond line")
    rows["queued"] = (timed(row_of(store, "aaaa00000001"), None), 3)

    add_task(store, "aaaa00000002", thread_id=THREAD, usage_baseline={"input_tokens": 200})
    run(
        store,
        "aaaa00000002",
        tool_calls=7,
        last_tool=asdict(ToolCall("command", "pytest -q tests/test_x.py", "completed", 1)),
        reasoning="Looking at the   failing\nassertion " + "x" * 300,
        message="I will fix the fixture first. " * 12,
        todo_done=2,
        todo_total=5,
        usage=USAGE,
        warnings=[NOISE, "stream retried", "stream retried", "w1", "w2", "w3"],
    )
    store.add_steer("aaaa00000002", "focus on tests/")
    store.update_extra(
        "aaaa00000002",
        lambda e: replace(e, node=Node(node_id="0123456789abcdef", address="10.0.0.7")),
    )
    store.request_cancel("aaaa00000002")
    rows["running"] = (timed(row_of(store, "aaaa00000002"), 5, steered_at=T0 + 600), None)

    add_task(store, "aaaa00000003")
    run(store, "aaaa00000003", reconnecting="Connection failed: error sending request")
    row = row_of(store, "aaaa00000003")
    rows["reconnecting"] = (
        timed(
            row,
            5,
            progress=progress(
                reconnecting="Connection failed: error sending request",
                reconnect_attempts=2,
                last_tool=asdict(ToolCall("file_change", "src/a.py", "in_progress")),
            ),
        ),
        None,
    )

    add_task(store, "aaaa00000004", extra=TaskExtra(backend="ray", waiting_for="a GPU"))
    rows["starting"] = (timed(row_of(store, "aaaa00000004"), 2, phase="starting"), None)

    add_task(store, "aaaa00000005", thread_id=THREAD, usage_baseline={"input_tokens": 200})
    store.claim_queued(100)
    store.finish(
        "aaaa00000005",
        phase="completed",
        exit_code=0,
        result="Done: the test passes now.\n\nChanged conftest.py.",
        progress=progress(tool_calls=3, usage=USAGE, warnings=[NOISE, "slow disk"]),
        usage=USAGE,
    )
    rows["completed"] = (timed(row_of(store, "aaaa00000005"), 1.5, 63.25), None)

    add_task(store, "aaaa00000006", thread_id=THREAD)
    store.claim_queued(100)
    store.finish(
        "aaaa00000006",
        phase="failed",
        exit_code=1,
        error="Codex exited with code 1: the model refused",
        result="partial answer",
        progress=progress(tool_calls=0),
    )
    rows["failed"] = (timed(row_of(store, "aaaa00000006"), 1, 4000), None)

    add_task(store, "aaaa00000007")
    store.claim_queued(100)
    store.finish("aaaa00000007", phase="cancelled", exit_signal=15, result="")
    rows["cancelled"] = (timed(row_of(store, "aaaa00000007"), 1, 7300), None)

    schema = {"output_schema": {"type": "object"}}
    add_task(store, "aaaa00000008", task=schema, thread_id=THREAD)
    store.claim_queued(100)
    store.finish("aaaa00000008", phase="completed", exit_code=0, result='{"answer": 42}')
    rows["structured"] = (timed(row_of(store, "aaaa00000008"), 1, 9), None)

    add_task(store, "aaaa00000009", task=schema)
    store.claim_queued(100)
    store.finish("aaaa00000009", phase="completed", exit_code=0, result="not json, sorry")
    rows["structured_bad"] = (timed(row_of(store, "aaaa00000009"), 1, 9), None)

    big = [{"n": n, "text": "y" * 50} for n in range(100)]
    add_task(store, "aaaa0000000a", task=schema)
    store.claim_queued(100)
    store.finish("aaaa0000000a", phase="completed", exit_code=0, result=json.dumps(big))
    rows["structured_big"] = (timed(row_of(store, "aaaa0000000a"), 1, 9), None)

    add_task(store, "aaaa0000000b", thread_id=THREAD)
    store.claim_queued(100)
    store.finish(
        "aaaa0000000b",
        phase="completed",
        exit_code=0,
        result="Long report:\n" + LONG,
        progress=progress(tool_calls=12, warnings=["w" * 300, "v" * 300, "u" * 300]),
    )
    rows["long"] = (timed(row_of(store, "aaaa0000000b"), 1, 30), None)

    # Worktree tasks: ended with an outcome (clean, with many files and a binary one;
    # conflicting; in a subdirectory), still running, merged and cleaned up, landed.
    def wt_task(task_id: str, **extra: Any) -> TaskRow:
        wt = worktree(repo, task_id)
        add_task(store, task_id, cwd=str(wt.path), extra=TaskExtra(worktree=wt), thread_id=THREAD)
        return row_of(store, task_id)

    wt_task("bbbb00000001")
    store.claim_queued(100)
    store.finish("bbbb00000001", phase="completed", exit_code=0, result="edited 52 files")
    wt = worktree(repo, "bbbb00000001")
    files = tuple(f"src/m{n:02d}.py" for n in range(52))
    made = outcome(wt, "d1" * 20, *files)
    binary = replace(made.files[0], insertions=None, deletions=None)
    made = replace(made, files=[binary, *made.files[1:]])
    store.update_extra("bbbb00000001", lambda e: replace(e, outcome=made))
    rows["wt_clean"] = (timed(row_of(store, "bbbb00000001"), 1, 90), None)

    wt_task("bbbb00000002")
    store.claim_queued(100)
    store.finish("bbbb00000002", phase="completed", exit_code=0, result="done")
    wt = worktree(repo, "bbbb00000002")
    made = outcome(wt, "d2" * 20, "shared.txt", "b.txt", conflicts=("shared.txt",))
    store.update_extra(
        "bbbb00000002",
        lambda e: replace(e, outcome=made, outcome_error="could not fetch the base"),
    )
    rows["wt_conflicts"] = (timed(row_of(store, "bbbb00000002"), 1, 90), None)

    wt_task("bbbb00000003")
    store.claim_queued(100)
    store.finish("bbbb00000003", phase="completed", exit_code=0, result="nothing to do")
    wt = worktree(repo, "bbbb00000003")
    store.update_extra("bbbb00000003", lambda e: replace(e, outcome=outcome(wt, "d3" * 20)))
    row = row_of(store, "bbbb00000003")
    rows["wt_empty_subdir"] = (timed(row, 1, 20, cwd=str(wt.path / "pkg")), None)

    wt_task("bbbb00000004")
    run(store, "bbbb00000004", tool_calls=2, message="editing")
    rows["wt_running"] = (timed(row_of(store, "bbbb00000004"), 3), None)

    wt_task("bbbb00000005")
    store.claim_queued(100)
    store.finish("bbbb00000005", phase="completed", exit_code=0, result="merged work")
    wt = worktree(repo, "bbbb00000005")
    merged = Merged(target="main", commit="e5" * 20, strategy="squash", message="m", at=T0 + 99)
    store.update_extra(
        "bbbb00000005",
        lambda e: replace(
            e,
            outcome=outcome(wt, "d5" * 20, "a.py"),
            merged=merged,
            removed_worktree=True,
            removed_branch=True,
        ),
    )
    rows["wt_merged"] = (timed(row_of(store, "bbbb00000005"), 1, 50), None)

    wt_task("bbbb00000006")
    store.claim_queued(100)
    store.finish("bbbb00000006", phase="completed", exit_code=0, result="landed work")
    wt = worktree(repo, "bbbb00000006")
    landed = Merged(
        target="main",
        commit="e6" * 20,
        strategy="merge",
        message="",
        at=T0 + 80,
        landed=True,
        via="bbbb00000002",
    )
    mark = LandingMark(state="landed", landing_id="land00000001", commit="e6" * 20)
    store.update_extra(
        "bbbb00000006",
        lambda e: replace(
            e,
            outcome=outcome(wt, "d6" * 20, "c.py"),
            merged=landed,
            landing=mark,
            node=Node(hostname="gpu-7"),
        ),
    )
    rows["wt_landed"] = (timed(row_of(store, "bbbb00000006"), 1, 50), None)

    wt_task("bbbb00000007")
    store.claim_queued(100)
    store.finish("bbbb00000007", phase="failed", exit_code=2, error="the check failed")
    wt = worktree(repo, "bbbb00000007")
    home = LandingMark(state="sent_home", landing_id="land00000002", reply="cccc00000001")
    store.update_extra(
        "bbbb00000007",
        lambda e: replace(e, outcome=outcome(wt, "d7" * 20, "d.py"), landing=home),
    )
    rows["wt_sent_home"] = (timed(row_of(store, "bbbb00000007"), 1, 50), None)
    return rows


def report(**more: Any) -> LandReport:
    ids = [f"{n:012x}" for n in range(1, 8)]
    commit = "9f" * 20
    fields: dict[str, Any] = {
        "landed": tuple(
            Landed(i, f"codex-swarm/{i}", "main", commit, already=n == 3)
            for n, i in enumerate(ids[:4])
        ),
        "conflicted": (Conflicted(ids[4], ("shared.txt",), (ids[0],)),),
        "check_failed": (
            CheckFailed(
                ids[5], 1, False, 2.5, "\n".join(f"line {n}" for n in range(300)) + "\nE boom"
            ),
        ),
        "skipped": (Skipped(ids[6], "still running"),),
        "resolving": (Resolving(ids[4], None, "the worktree directory is full"),),
        "sent_home": (SentHome(ids[5], "cccc00000002", "the check failed"),),
        "target": "main",
        "new_tip": commit,
        "tips": {"main": commit},
        "checkout": "the checkout at /home/me/proj was fast-forwarded",
        "repository": "/home/me/proj",
        "strategy": "merge",
        "check": "pytest -q",
        "check_seconds": 12.5,
        "check_prepare_seconds": 0.25,
        "seconds": 13.0,
        "lines": ("4 of 7 landed", "  000000000001 landed", "  000000000005 conflicts"),
    }
    return LandReport(**{**fields, **more})


def landing_rows() -> dict[str, tuple[LandingRow, int | None]]:
    request = LandRequest(task_ids=("000000000001", "000000000002"), check="pytest -q")

    def landing(landing_id: str, phase: str, **more: Any) -> LandingRow:
        return LandingRow(
            id=landing_id,
            seq=1,
            repository="/home/me/proj",
            phase=phase,
            request=request,
            created_at=T0,
            updated_at=T0,
            **more,
        )

    running = LandingProgress(
        checking=("000000000001", "000000000002"),
        decided=1,
        total=4,
        landed=("000000000003",),
        last_line="tests/test_x.py ...F " + "." * 200,
    )
    return {
        "landing_queued_next": (landing("land00000001", "queued"), 0),
        "landing_queued": (landing("land00000002", "queued"), 2),
        "landing_running": (
            landing("land00000003", "running", started_at=T0 + 1, progress=running),
            None,
        ),
        "landing_stopping": (
            landing(
                "land00000004",
                "running",
                started_at=T0 + 1,
                cancel_requested=True,
                progress=LandingProgress(),
            ),
            None,
        ),
        "landing_completed": (
            landing(
                "land00000005",
                "completed",
                started_at=T0 + 1,
                ended_at=T0 + 14,
                progress=running,
                report=report(),
            ),
            None,
        ),
        "landing_nothing": (
            landing(
                "land00000006",
                "completed",
                started_at=T0 + 1,
                ended_at=T0 + 2,
                report=report(
                    landed=(),
                    conflicted=(),
                    check_failed=(),
                    skipped=(),
                    resolving=(),
                    sent_home=(),
                    new_tip=None,
                    tips={},
                    checkout=None,
                    check_seconds=0.0,
                    check_prepare_seconds=0.0,
                    lines=("nothing to land",),
                ),
            ),
            None,
        ),
        "landing_failed": (
            landing(
                "land00000007",
                "failed",
                started_at=T0 + 1,
                ended_at=T0 + 3,
                error="the target moved while checking",
            ),
            None,
        ),
    }


# ---- each face's output, composed as the faces compose it -----------------------------------


def mcp_status(
    rows: list[tuple[TaskRow, int | None]], waiting: dict[str, int], budget: int
) -> dict[str, Any]:
    """``codex_status``'s text and structured content for ``rows``."""
    views = [status_view(r, NOW, position) for r, position in rows]
    fitted = answers.fit_statuses(views, budget // 2)
    tasks = [answers.status_answer(f, waiting.get(f.view.task_id, 0)) for f in fitted]
    return {
        "text": "\n\n".join(render.status_text(f.view) for f in fitted),
        "data": {"tasks": tasks},
    }


def mcp_result(row: TaskRow, waiting: int, budget: int) -> dict[str, Any]:
    """A blocking tool's answer for one task (``Face.task_answer``)."""
    fitted = answers.fit_views([result_view(row, NOW)], budget // 2)[0]
    return {
        "text": render.result_text(fitted.view),
        "data": dict(answers.task_answer(fitted.view, waiting, truncated=fitted.truncated)),
    }


def mcp_started(row: TaskRow) -> dict[str, Any]:
    """``codex_async``'s structured answer (``Face.started``)."""
    return dict(answers.task_answer(result_view(row, NOW)))


def mcp_wait(
    rows: list[TaskRow], done: bool, waiting: dict[str, int], budget: int
) -> dict[str, Any]:
    """``codex_wait``'s results and structured answer for ``rows``."""
    views = answers.fit_views([result_view(r, NOW) for r in rows], budget * 3 // 4)
    running = [r.id for r in rows if not r.terminal]
    return {
        "text": [render.result_text(f.view) for f in views],
        "data": dict(answers.wait_answer(views, done, running, waiting)),
    }


def mcp_landing(row: LandingRow, position: int | None) -> dict[str, Any]:
    """A landing's line and answer as ``codex_land`` gives them, and as the query tools do."""
    view = landing_view(row, position)
    answer = answers.landing_answer(view, row.report)
    return {
        "text": render.landing_text(view),
        "data": dict(answer),
        "query_text": render.landing_text(view),  # the query tools' line: the same since #views
    }


def console_show(row: TaskRow, store: Store) -> dict[str, Any]:
    """``show ID`` as a person reads it (a plain 100-column terminal) and its ``--json``."""
    console = Console(width=100, record=True, force_terminal=False, color_system=None)
    console.print(show.result_block(row, store, NOW))
    return {"text": console.export_text(), "json": show.result_data(row, store, NOW)}


def printed(renderable: Any, width: int) -> str:
    """``renderable`` as a plain terminal of ``width`` columns shows it."""
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    console.print(renderable)
    return console.export_text()


def console_tables(store: Store, rows: list[TaskRow]) -> dict[str, Any]:
    """``tasks`` (its table at several widths, its summary and its ``--json``), the live board,
    and ``watch``'s change log when piped (with and without history)."""
    views = [table.task_line(store, row, NOW) for row in rows]
    out: dict[str, Any] = {
        "json": [line.data() for line in views],
        "summary": table.summary_line(views).plain,
    }
    for width in (200, 120, 80, 60):
        out[f"table/{width}"] = printed(table.task_table(views, width), width)
        out[f"live/{width}"] = printed(table.task_table(views, width, live=True), width)
    landing = [Text("landing land00000001: running; checking 000000000001")]
    out["board"] = printed(table.board(views, 140, 40, title="watch", landings=landing), 140)
    out["board_short"] = printed(table.board(views, 100, 12, title="watch"), 100)
    for history in (True, False):
        console = Console(width=150, record=True, force_terminal=False, color_system=None)
        log = watch.ChangeLog(console, history=history)
        log.update(views, landing)
        log.update([replace(views[1], doing="done"), *views[2:]])  # one changed, one gone
        out[f"changes/{history}"] = console.export_text()
    return out


def outputs(store: Store, repo: Path) -> dict[str, Any]:
    rows = task_rows(store, repo)
    ordered = list(rows.values())
    waiting = {"bbbb00000001": 3, "bbbb00000002": 1}
    out: dict[str, Any] = {}
    out["codex_status"] = mcp_status(ordered, waiting, BUDGET)
    out["codex_status_tight"] = mcp_status(ordered, waiting, 8_000)
    for name, (row, _position) in rows.items():
        out[f"result/{name}"] = mcp_result(row, waiting.get(row.id, 0), BUDGET)
        out[f"started/{name}"] = mcp_started(row)
        out[f"show/{name}"] = console_show(row, store)
        out[f"board/{name}"] = board.task_row(row, NOW, None)
    out["result_tight/long"] = mcp_result(rows["long"][0], 0, 4_000)
    out["result_tight/structured_big"] = mcp_result(rows["structured_big"][0], 0, 4_000)
    out["codex_wait"] = mcp_wait([r for r, _ in ordered], False, waiting, BUDGET)
    out["codex_wait_tight"] = mcp_wait([r for r, _ in ordered], True, waiting, 6_000)
    out["progress_line"] = render.progress_line([status_view(r, NOW) for r, _ in ordered])
    out["progress_line_one"] = render.progress_line([status_view(rows["running"][0], NOW)])
    listed = [listing_view(r, NOW) for r, _ in ordered]
    out["console_tables"] = console_tables(store, [r for r, _ in ordered])
    out["codex_list"] = {
        "lines": [render.list_line(v) for v in listed],
        "items": [render.list_item(v) for v in listed],
    }
    for name, (landing, position) in landing_rows().items():
        out[name] = mcp_landing(landing, position)
        out[f"board/{name}"] = board.landing_item(landing, position)
    return out


@pytest.fixture
def no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """``show``'s diffstat falls back to the recorded files (no git runs); ``watch``'s lines
    say a fixed clock time."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise GitError("no git in this test")

    monkeypatch.setattr(show, "branch_diff", refuse)
    clock = SimpleNamespace(strftime=lambda _format: "08:12:34 ", time=lambda: NOW)
    monkeypatch.setattr(watch, "time", clock)


def check(name: str, found: dict[str, Any]) -> None:
    """``found`` is what ``PINNED[name]`` holds (or, with CODEX_SWARM_PIN=write, becomes it)."""
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    found = json.loads(json.dumps(found))  # as JSON holds it (tuples are lists)
    if os.environ.get("CODEX_SWARM_PIN") == "write":
        pinned[name] = found
        PINNED.write_text(json.dumps(pinned, indent=1, ensure_ascii=False) + "\n")
        return
    expected = pinned.get(name)
    assert expected is not None, f"nothing pinned for {name}: run with CODEX_SWARM_PIN=write"
    for key in [*expected, *(k for k in found if k not in expected)]:
        assert found.get(key) == expected.get(key), key
        # the same keys in the same order: the bytes a client receives
        assert json.dumps(found[key]) == json.dumps(expected[key]), key


def test_every_face_renders_the_views_as_pinned(tmp_path: Path, no_git: None) -> None:
    store = Store(tmp_path / "tasks")
    check("renderers", outputs(store, Path("/srv/proj")))


# ---- through the tools themselves ------------------------------------------------------------


def fixed_clock(db_path: Path) -> None:
    """Every stored task and landing as if it started at ``T0`` (ended ones keep how long
    they took: 8.5 s for tasks, 13 s for landings)."""
    with sqlite3.connect(db_path) as db:
        db.execute(
            "UPDATE tasks SET created_at = ?, started_at = ?, ended_at = ? + 8.5",
            (T0, T0 + 1, T0 + 1),
        )
        db.execute(
            "UPDATE landings SET created_at = ?, started_at = ?, ended_at = ?",
            (T0, T0 + 1, T0 + 14),
        )


async def test_the_tools_answer_as_pinned(tmp_path: Path) -> None:
    """The query tools over ended tasks and landings (their text and structured content)."""
    settings = Settings.build(task_dir=str(tmp_path / "tasks"))
    store = Store(settings.task_dir)
    ids: list[str] = []
    for name in ("completed", "failed", "cancelled", "structured", "long"):
        result = {
            "completed": "Done.",
            "failed": "half",
            "cancelled": "",
            "structured": '{"ok": true}',
            "long": LONG * 4,  # more than a wait's answer holds: it is cut
        }[name]
        task = {"output_schema": {"type": "object"}} if name == "structured" else None
        task_id = f"cccc0000000{len(ids) + 1}"
        add_task(store, task_id, task=task, thread_id=THREAD, prompt=f"{name} task")
        store.claim_queued(100)
        store.finish(
            task_id,
            phase=name if name in ("failed", "cancelled") else "completed",
            exit_code={"failed": 1, "cancelled": None}.get(name, 0),
            error="it broke" if name == "failed" else None,
            result=result,
            progress=progress(tool_calls=2, usage=USAGE, warnings=[NOISE, "w"]),
            usage=USAGE,
        )
        ids.append(task_id)
    landing = store.create_landing("land0000000a", "/home/me/proj", LandRequest(check="true"))
    store.finish_landing(landing.id, "completed", report(), None)
    failed = store.create_landing("land0000000b", "/home/me/other", LandRequest())
    store.finish_landing(failed.id, "failed", None, "the target moved")
    store.close()
    fixed_clock(settings.task_dir / "tasks.db")

    found: dict[str, Any] = {}
    async with Client(build_server(settings)) as client:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("status", "codex_status", {"task_ids": ids}),
            ("status_landings", "codex_status", {"task_ids": [ids[0], "land0000000a"]}),
            ("wait", "codex_wait", {"task_ids": ids, "timeout": 1}),
            ("wait_landings", "codex_wait", {"task_ids": [ids[1], "land0000000a", "land0000000b"]}),
            ("wait_landing_only", "codex_wait", {"task_ids": ["land0000000b"]}),
            ("list", "codex_list", {}),
            ("list_failed", "codex_list", {"status": ["failed"]}),
            ("cancel_ended", "codex_cancel", {"task_id": ids[0]}),
            ("cancel_ended_landing", "codex_cancel", {"task_id": "land0000000a"}),
        ]
        for name, tool, args in calls:
            answer = await client.call_tool(tool, args)
            text = "\n".join(getattr(c, "text", "") for c in answer.content)
            found[name] = {
                "text": text,
                "data": answer.structured_content,
                "error": answer.is_error,
            }
    check("tools", found)


def test_the_pinned_file_is_as_a_rewrite_leaves_it() -> None:
    """The pinned file is written one way (review sees only real changes), its keys in the
    order the faces write them."""
    text = PINNED.read_text()
    assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n"
