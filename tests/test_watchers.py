"""The watcher bookkeeping every backend shares (``backends.base.Watchers``)."""

from __future__ import annotations

import threading
import time

from codex_mcp_swarm.engine.backends.base import Watchers


def test_one_watcher_per_task_and_its_end_wakes_the_engine() -> None:
    woken: list[str] = []
    watchers = Watchers(woken.append)
    release = threading.Event()
    started: list[str] = []

    def wait(task_id: str, note: str) -> None:
        started.append(note)
        release.wait(10)
        watchers.act(task_id, lambda: None)

    watchers.start("task01", wait, "first", name="w")
    watchers.start("task01", wait, "second", name="w")  # watched already: no second thread
    assert "task01" in watchers
    release.set()
    deadline = time.monotonic() + 10
    while not woken and time.monotonic() < deadline:
        time.sleep(0.01)
    assert woken == ["task01"] and started == ["first"]
    assert "task01" not in watchers


def test_a_failing_consequence_is_logged_and_still_wakes() -> None:
    woken: list[str] = []
    watchers = Watchers(woken.append)

    def boom() -> None:
        raise RuntimeError("the store is busy")

    watchers.act("task02", boom)
    assert woken == ["task02"]


def test_nothing_acts_after_close_and_close_waits_for_a_consequence_in_flight() -> None:
    woken: list[str] = []
    watchers = Watchers(woken.append)
    inside, finish = threading.Event(), threading.Event()

    def slow() -> None:
        inside.set()
        finish.wait(10)

    acting = threading.Thread(target=watchers.act, args=("task03", slow))
    acting.start()
    assert inside.wait(10)
    closer = threading.Thread(target=watchers.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waits for the consequence being handled
    finish.set()
    closer.join(10)
    acting.join(10)
    assert not closer.is_alive() and woken == ["task03"]
    assert watchers.closed
    watchers.act("task04", lambda: woken.append("acted"))  # abandoned: no consequence, no wake
    watchers.start("task05", lambda task_id: woken.append(task_id), name="w")  # not started
    time.sleep(0.05)
    assert woken == ["task03"]
    watchers.open()
    assert not watchers.closed
