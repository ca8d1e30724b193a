"""The store on its own: the queue claim under concurrent connections, first terminal write
wins, roles (runner, read-only), and the typed launch plan round trip."""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import sqlite3
from pathlib import Path

import pytest

from codex_mcp_swarm.engine import store as store_module
from codex_mcp_swarm.engine.phases import ACTIVE, PHASES, TERMINAL
from codex_mcp_swarm.engine.plan import LaunchPlan
from codex_mcp_swarm.engine.records import AutoLand, HomeTrip, LandingMark, LandRequest, TaskExtra
from codex_mcp_swarm.engine.store import Store, StoreError, TaskRow


def _create(
    store: Store, task_id: str, *, priority: int = 0, extra: TaskExtra | None = None
) -> None:
    plan = LaunchPlan(argv=("codex", "exec"), cwd="/tmp", prompt="p")
    store.create(
        task_id,
        spec={"task": {"prompt": "p"}, "launch": plan.to_dict()},
        cwd="/tmp",
        title="p",
        owner="test",
        priority=priority,
        extra=extra,
    )


def _claim_many(task_dir: str, limit: int, rounds: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(Path(task_dir))
    claimed: list[str] = []
    for _ in range(rounds):
        claimed += store.claim_queued(limit)
    out.put(claimed)


def test_phases_are_named_once() -> None:
    assert set(PHASES) == ACTIVE | TERMINAL
    assert not ACTIVE & TERMINAL


@pytest.mark.e2e  # four processes
def test_claim_queued_never_exceeds_the_limit_across_processes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i in range(60):
        _create(store, f"task{i:04d}")
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    workers = [ctx.Process(target=_claim_many, args=(str(tmp_path), 8, 20, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    claimed = [task for _ in workers for task in out.get(timeout=60)]
    for worker in workers:
        worker.join(30)
    assert len(claimed) == len(set(claimed)) == 8  # never more than the limit, never twice
    assert store.count(phases=["starting"]) == 8


def test_claim_order_is_priority_then_first_come(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _create(store, "aaaaaa1")
    _create(store, "aaaaaa2", priority=5)
    _create(store, "aaaaaa3")
    assert store.claim_queued(2) == ["aaaaaa2", "aaaaaa1"]
    assert store.claim_queued(3) == ["aaaaaa3"]


def test_first_terminal_write_wins(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _create(store, "bbbbbb1")
    assert store.finish("bbbbbb1", phase="completed", result="done", exit_code=0)
    assert not store.finish("bbbbbb1", phase="lost", error="late judgement")
    row = store.get("bbbbbb1")
    assert row is not None
    assert (row.phase, row.result, row.error) == ("completed", "done", None)


def test_cancel_of_a_queued_task_is_terminal_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _create(store, "cccccc1")
    row = store.request_cancel("cccccc1")
    assert row is not None and row.phase == "cancelled" and row.cancel_requested
    assert store.claim_queued(4) == []


def test_plan_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path)
    plan = LaunchPlan(
        argv=("codex", "exec", "--json", "-"),
        cwd="/work",
        prompt="do it",
        env={"A": "1"},
        timeout=30.0,
        idle_timeout=None,
        retries=2,
    )
    store.create(
        "dddddd1",
        spec={"task": {"prompt": "do it"}, "launch": plan.to_dict()},
        cwd="/work",
        title="do it",
        owner="test",
    )
    row = store.get("dddddd1")
    assert row is not None and row.plan == plan
    assert "prompt" not in row.spec["launch"]  # stored once, in the task's spec


def test_readonly_store_changes_nothing(tmp_path: Path) -> None:
    with pytest.raises((StoreError, sqlite3.Error)):
        Store(tmp_path / "missing", role="readonly").count()
    assert not (tmp_path / "missing" / "tasks.db").exists()
    Store(tmp_path)
    reader = Store(tmp_path, role="readonly")
    assert reader.count() == 0
    with pytest.raises(sqlite3.OperationalError):
        _create(reader, "eeeeee1")


def test_each_backend_has_its_own_queue_and_limit(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _create(store, "dddddd1")
    for task_id in ("dddddd2", "dddddd3"):
        _create(store, task_id, extra=TaskExtra(backend="ray"))
    _create(store, "dddddd4")
    assert store.claim_queued(1, "ray") == ["dddddd2"]
    assert store.claim_queued(1, "ray") == []  # the cluster's limit is reached...
    assert store.claim_queued(1) == ["dddddd1"]  # ...not this machine's (rows without: local)
    row = store.get("dddddd3")
    assert row is not None and store.queue_position(row) == 1


def test_decoded_rows_are_reused_until_any_process_changes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, other = Store(tmp_path), Store(tmp_path)  # `other`: as another process would
    for i in range(5):
        _create(store, f"ffffff{i}")
    decoded: list[str] = []
    decode = TaskRow.from_sql

    def counted(raw: sqlite3.Row) -> TaskRow:
        decoded.append(raw["id"])
        return decode(raw)

    monkeypatch.setattr(TaskRow, "from_sql", counted)
    first = store.get_many(["ffffff1", "ffffff3"])
    again = store.get_many(["ffffff1", "ffffff3"])
    assert sorted(decoded) == ["ffffff1", "ffffff3"]  # decoded once...
    assert first["ffffff1"] is not again["ffffff1"]  # ...and handed out as copies
    first["ffffff1"].phase = "failed"  # a caller changing its copy changes nothing stored
    assert store.get_many(["ffffff1"])["ffffff1"].phase == "queued"
    other.set_progress("ffffff3", {"message": "news"})
    other.finish("ffffff1", phase="completed", result="done")
    fresh = store.get_many(["ffffff1", "ffffff3"])
    assert fresh["ffffff3"].progress == {"message": "news"}
    assert (fresh["ffffff1"].phase, fresh["ffffff1"].result) == ("completed", "done")
    page = store.list(limit=3)
    assert [r.id for r in page] == ["ffffff4", "ffffff3", "ffffff2"]
    assert page[1].progress == {"message": "news"}
    assert [r.id for r in store.list(phases=["completed"], limit=10)] == ["ffffff1"]
    assert [r.id for r in store.list()] == [f"ffffff{i}" for i in (4, 3, 2, 1, 0)]


def test_a_caller_changing_a_rows_json_values_in_place_changes_no_other_callers_row(
    tmp_path: Path,
) -> None:
    """The decoded-row cache hands out rows whose JSON values are the caller's own: a caller
    that edits one (a progress dict, a spec's nested task, a list in it) in place must not
    change what the store gives the next caller, as long as the stored row has not changed."""
    store = Store(tmp_path)
    _create(store, "hhhhhh1")
    store.set_progress("hhhhhh1", {"message": "stored", "warnings": ["w1"], "usage": {"x": 1}})
    stored = store.get("hhhhhh1")
    assert stored is not None

    def by_id() -> TaskRow:
        return store.get_many(["hhhhhh1"])["hhhhhh1"]

    def in_a_page() -> TaskRow:
        return store.list(limit=5)[0]

    for read in (by_id, in_a_page):
        row = read()
        row.progress["message"] = "changed by a caller"
        row.progress["warnings"].append("added by a caller")
        row.progress["usage"]["x"] = 99
        row.spec["task"]["prompt"] = "changed by a caller"
        row.spec["launch"].clear()
        row.usage["input_tokens"] = 5
        row.usage_baseline["input_tokens"] = 5
        again = read()
        assert (again.spec, again.progress, again.usage, again.usage_baseline) == (
            stored.spec,
            stored.progress,
            stored.usage,
            stored.usage_baseline,
        )
        assert again.plan == stored.plan


def test_pages_give_every_task_newest_first_a_page_at_a_time(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i in range(7):
        _create(store, f"gggg{i:02d}")
    pages = list(store.pages(size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.id for p in pages for r in p] == [f"gggg{i:02d}" for i in range(6, -1, -1)]
    assert list(Store(tmp_path / "empty").pages()) == []


def _queued_in(extra: TaskExtra, landing_id: str) -> TaskExtra:
    return dataclasses.replace(extra, landing=LandingMark("queued", landing_id))


def test_tasks_join_a_queued_landing_with_the_same_arguments_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for name in ("cccccc1", "cccccc2", "cccccc3", "cccccc4", "cccccc5"):
        _create(store, name)
    ask = LandRequest(cwd="/r", check="make test", on_failure="reply")
    first = store.join_landing(["cccccc1", "cccccc2"], "/r/.git", ask, "land00000001", _queued_in)
    assert first == ("land00000001", ["cccccc1", "cccccc2"])
    # Same repository and arguments: it joins the queued landing; a task never joins twice.
    again = store.join_landing(["cccccc2", "cccccc3"], "/r/.git", ask, "land00000002", _queued_in)
    assert again == ("land00000001", ["cccccc3"])
    assert store.join_landing(["cccccc3"], "/r/.git", ask, "land00000003", _queued_in) is None
    row = store.get_landing("land00000001")
    assert row is not None and row.request.task_ids == ("cccccc1", "cccccc2", "cccccc3")
    mark = (store.get("cccccc3") or pytest.fail()).extra.landing
    assert mark == LandingMark("queued", "land00000001")
    # Other arguments, or the landing already running: a landing of its own.
    other = dataclasses.replace(ask, check="make lint")
    assert store.join_landing(["cccccc4"], "/r/.git", other, "land00000004", _queued_in) == (
        "land00000004",
        ["cccccc4"],
    )
    assert store.claim_landing("me") is not None  # the oldest, land00000001, runs now
    late = store.join_landing(["cccccc5"], "/r/.git", ask, "land00000005", _queued_in)
    assert late == ("land00000005", ["cccccc5"])


def test_every_write_of_a_task_row_sets_its_updated_at() -> None:
    """The decoded-row cache trusts ``updated_at`` to change with every write of a row."""
    source = Path(store_module.__file__).read_text()
    statements = re.findall(r'"(UPDATE tasks SET[^;]*?)(?:",\n|"\))', source.replace('"\n', ""))
    assert len(statements) == source.count("UPDATE tasks SET") >= 10
    for statement in statements:
        assert "updated_at = ?" in statement, statement


def test_tasks_to_land_are_found_through_their_partial_index(tmp_path: Path) -> None:
    """The landing queue looks for ended tasks that land by themselves once a second: the look
    reads the few such tasks through the ``tasks_to_land`` index, not every stored task."""
    store = Store(tmp_path)
    lands = TaskExtra(auto_land=AutoLand(target="main"))
    home = TaskExtra(home=HomeTrip(request=LandRequest(cwd="/r"), attempt=1, root="iiiiii0"))
    for task_id, extra in (
        ("iiiiii1", lands),  # ends: to land
        ("iiiiii2", home),  # ends: to land again
        ("iiiiii3", lands),  # ends, and already joined a landing
        ("iiiiii4", lands),  # still running
        ("iiiiii5", None),  # ends, and lands by no one's word
    ):
        _create(store, task_id, extra=extra)
    for task_id in ("iiiiii1", "iiiiii2", "iiiiii3", "iiiiii5"):
        store.finish(task_id, phase="completed")
    store.update_extra("iiiiii3", lambda e: _queued_in(e, "land00000001"))
    asked: list[str] = []
    store._db.set_trace_callback(asked.append)
    assert [r.id for r in store.awaiting_landing()] == ["iiiiii1", "iiiiii2"]
    store._db.set_trace_callback(None)
    (query,) = asked
    plan = " ".join(str(r[3]) for r in store._db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "USING INDEX tasks_to_land" in plan, plan
