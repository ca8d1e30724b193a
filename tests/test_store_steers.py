"""The store's steering records: a steer is either delivered or keeps the task going."""

from __future__ import annotations

from pathlib import Path

from codex_mcp_swarm.engine.store import Store


def make(store: Store, task_id: str = "abc123def456") -> str:
    store.create(
        task_id,
        spec={"task": {"prompt": "first", "fork_thread_id": None}, "launch": {}},
        cwd="/tmp",
        title="t",
        owner="me",
    )
    return task_id


def test_a_queued_task_gets_the_message_in_its_prompt(tmp_path: Path) -> None:
    store = Store(tmp_path)
    task = make(store)
    assert store.add_steer(task, "second") == "queued"
    row = store.get(task)
    assert row is not None
    assert row.spec["task"]["prompt"] == "first\n\nsecond"
    assert row.steer_count == 1 and row.steered_at
    assert store.pending_steers(task) == 0


def test_running_steers_wait_in_order_and_are_taken_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    task = make(store)
    store.claim_queued(10)
    store.set_running(task, 1, 1.0)
    assert store.add_steer(task, "a") == "running"
    assert store.add_steer(task, "b") == "running"
    assert store.has_pending_steer(task) and store.pending_steers(task) == 2
    assert store.take_steers(task) == ["a", "b"]
    assert store.take_steers(task) == []
    row = store.get(task)
    assert row is not None and row.steer_count == 2


def test_the_end_is_not_recorded_while_a_steer_waits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    task = make(store)
    store.claim_queued(10)
    store.set_running(task, 1, 1.0)
    store.add_steer(task, "late")
    assert store.finish(task, phase="completed", unless_steered=True) is False
    assert store.get(task).phase == "running"  # type: ignore[union-attr]
    store.take_steers(task)
    assert store.finish(task, phase="completed", unless_steered=True) is True
    assert store.add_steer(task, "too late") == "completed"
    assert store.pending_steers(task) == 0


def test_unknown_task(tmp_path: Path) -> None:
    assert Store(tmp_path).add_steer("nosuchtask1", "x") is None


def test_an_old_store_gains_the_steer_columns(tmp_path: Path) -> None:
    import sqlite3

    store = Store(tmp_path)
    task = make(store)
    store.close()
    db = sqlite3.connect(tmp_path / "tasks.db")
    db.execute("ALTER TABLE tasks DROP COLUMN steer_count")
    db.execute("ALTER TABLE tasks DROP COLUMN steered_at")
    db.execute("DROP TABLE steers")
    db.commit()
    db.close()
    again = Store(tmp_path)
    row = again.get(task)
    assert row is not None and row.steer_count == 0
    assert again.add_steer(task, "x") == "queued"
