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


def test_close_joins_every_watcher_but_an_uninterruptible_wait() -> None:
    """A watcher whose wait is over, and one that said it looks at ``closed`` while it waits
    (a Ray collector), are joined by close(); one blocked in a wait nothing can interrupt (a
    local flock) is abandoned, and what it wakes up to later does nothing."""
    woken: list[str] = []
    watchers = Watchers(woken.append)
    polling, unblock = threading.Event(), threading.Event()

    def ends_at_once(task_id: str) -> None:
        watchers.act(task_id, lambda: None)

    def polls(task_id: str) -> None:
        watchers.joinable()
        polling.set()
        while not watchers.closed:
            time.sleep(0.01)  # a collector's poll
        watchers.forget(task_id)

    def blocks(task_id: str) -> None:
        unblock.wait(30)
        watchers.act(task_id, lambda: woken.append("late"))

    watchers.start("task06", ends_at_once, name="watch-once")
    watchers.start("task07", polls, name="watch-polls")
    watchers.start("task08", blocks, name="watch-blocks")
    assert polling.wait(10)
    deadline = time.monotonic() + 10
    while woken != ["task06"] and time.monotonic() < deadline:
        time.sleep(0.01)
    watchers.close()
    alive = {t.name for t in threading.enumerate()}
    assert "watch-once" not in alive and "watch-polls" not in alive
    assert "watch-blocks" in alive  # abandoned
    unblock.set()
    for thread in threading.enumerate():
        if thread.name == "watch-blocks":
            thread.join(10)
    assert woken == ["task06"]  # the late wake-up did nothing
