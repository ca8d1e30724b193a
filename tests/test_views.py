"""The engine's views of a task (engine/views.py) from rows made by hand in a temp store:
what a caller sees while a task waits, runs and after it ended, as the typed views say it and
as their JSON (``as_data``, the shape every answer keeps). No Codex, no subprocess."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from engine_stubs import THREAD, add_task, row_of, worktree_task

from codex_mcp_swarm.codex.progress import TaskProgress, ToolCall
from codex_mcp_swarm.engine import views
from codex_mcp_swarm.engine.records import Merged, Node, TaskExtra, as_data
from codex_mcp_swarm.engine.store import Store, TaskRow


# Each view as its JSON: what the answers, the board and the command line hand on.
def status_view(
    row: TaskRow, now: float | None = None, queue_position: int | None = None
) -> dict[str, Any]:
    return dict(as_data(views.status_view(row, now, queue_position)))


def result_view(row: TaskRow) -> dict[str, Any]:
    return dict(as_data(views.result_view(row)))


def listing_view(row: TaskRow) -> dict[str, Any]:
    return dict(as_data(views.listing_view(row)))


def worktree_view(row: TaskRow) -> dict[str, Any] | None:
    view = views.worktree_view(row)
    return None if view is None else dict(as_data(view))


def running(store: Store, task_id: str, **progress: object) -> None:
    store.claim_queued(100)
    store.set_running(task_id, 4242, 1.0)
    store.set_progress(task_id, {**TaskProgress().to_dict(), **progress})


def test_a_queued_task_shows_its_place_and_nothing_of_a_run(tmp_path: Path) -> None:
    store = Store(tmp_path)
    row = add_task(store, "aaaa01")
    view = status_view(row, now=row.created_at + 2.5, queue_position=3)
    assert view["status"] == "queued" and view["queue_position"] == 3
    assert view["title"] == "Fix the flaky test" and view["elapsed_s"] == 2.5
    assert view["tool_calls"] == 0 and view["last_tool"] is None and view["usage"] == {}
    assert not {"exit_code", "error", "worktree", "steered", "node"} & set(view)
    assert result_view(row)["content"] == ""  # no result before the end


def test_a_running_task_shows_what_it_does_and_its_own_tokens(tmp_path: Path) -> None:
    store = Store(tmp_path)
    add_task(store, "aaaa02", thread_id=THREAD, usage_baseline={"input_tokens": 100})
    last = ToolCall("command", "pytest -x", "in_progress", None)
    running(
        store,
        "aaaa02",
        tool_calls=4,
        last_tool=asdict(last),
        reasoning="the fixture leaks",
        message="fixing it",
        todo_done=1,
        todo_total=3,
        usage={"input_tokens": 250, "output_tokens": 40},
        reconnecting="stream disconnected",
        reconnect_attempts=2,
    )
    store.request_cancel("aaaa02")
    row = row_of(store, "aaaa02")
    view = status_view(row)
    assert view["last_tool"] == {
        "kind": "command",
        "summary": "pytest -x",
        "status": "in_progress",
        "exit_code": None,
    }
    assert (view["tool_calls"], view["todo"]) == (4, "1/3")
    assert (view["reasoning"], view["message"]) == ("the fixture leaks", "fixing it")
    # the thread's total is Codex's; the task's own turn is what it added to the baseline
    assert view["usage"]["thread_total"] == {"input_tokens": 250, "output_tokens": 40}
    assert view["usage"]["turn"]["input_tokens"] == 150
    assert view["reconnecting"] == {"reason": "stream disconnected", "attempt": 2}
    assert view["cancel_requested"] is True and view["threadId"] == THREAD
    listed = listing_view(row)
    assert listed["usage"] == view["usage"] and listed["branch"] is None


def test_an_ended_task_says_how_and_leaves_the_live_only_facts_out(tmp_path: Path) -> None:
    store = Store(tmp_path)
    add_task(store, "aaaa03")
    running(store, "aaaa03", reconnecting="stream disconnected", reconnect_attempts=1)
    store.request_cancel("aaaa03")
    store.finish("aaaa03", phase="failed", exit_code=2, error="Codex exited with code 2")
    row = row_of(store, "aaaa03")
    view = status_view(row)
    assert (view["exit_code"], view["error"]) == (2, "Codex exited with code 2")
    assert "reconnecting" not in view and "cancel_requested" not in view
    result = result_view(row)
    assert result["status"] == "failed" and result["content"] == ""
    assert result["elapsed_s"] == round(row.ended_at - row.started_at, 3)  # type: ignore[operator]


def test_a_result_asked_for_with_a_schema_is_parsed_or_says_why_not(tmp_path: Path) -> None:
    store = Store(tmp_path)
    schema = {"type": "object"}
    for task_id, message in (("aaaa04", '{"answer": 42}'), ("aaaa05", "forty-two")):
        add_task(store, task_id, task={"output_schema": schema})
        store.finish(task_id, phase="completed", exit_code=0, result=message)
    parsed = result_view(row_of(store, "aaaa04"))
    assert parsed["result"] == {"answer": 42} and parsed["content"] == '{"answer": 42}'
    refused = result_view(row_of(store, "aaaa05"))
    assert "result" not in refused and "not JSON" in refused["result_error"]
    add_task(store, "aaaa06")  # no schema: the message is only content
    store.finish("aaaa06", phase="completed", exit_code=0, result='{"a": 1}')
    plain = result_view(row_of(store, "aaaa06"))
    assert "result" not in plain and "result_error" not in plain


def test_a_worktree_task_shows_its_branch_and_what_it_holds(tmp_path: Path) -> None:
    store = Store(tmp_path)
    repo = tmp_path / "repo"
    files = tuple(f"src/m{i}.py" for i in range(views.MAX_FILES + 5))
    row = worktree_task(store, "aaaa07", repo, head="e1" * 20, files=files)
    view = worktree_view(row)
    assert view is not None
    assert view["branch"] == "codex-swarm/aaaa07" and view["base_branch"] == "main"
    assert len(view["files"]) == views.MAX_FILES and view["files_total"] == len(files)
    assert view["files"][0] == {"path": "src/m0.py", "insertions": 3, "deletions": 1}
    assert view["merges_cleanly"] is True and view["conflicts"] == []
    assert not {"merged", "removed_worktree", "removed_branch", "error"} & set(view)
    status = status_view(row)
    assert status["worktree"] == {"path": view["path"], "branch": "codex-swarm/aaaa07"}
    assert listing_view(row)["branch"] == "codex-swarm/aaaa07"


def test_a_merged_and_cleaned_worktree_task_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path)
    merged = Merged(target="main", commit="f0" * 20, strategy="merge", landed=True, via="bbbb01")
    row = worktree_task(
        store,
        "aaaa08",
        tmp_path / "repo",
        head="e2" * 20,
        merged=merged,
        removed_worktree=True,
        removed_branch=True,
        outcome_error="fetching the branch failed",
    )
    view = worktree_view(row)
    assert view is not None
    assert view["merged"]["landed"] is True and view["merged"]["via"] == "bbbb01"
    assert view["merged"]["target"] == "main" and view["merged"]["merged"] is True
    assert view["removed_worktree"] and view["removed_branch"]
    assert view["error"] == "fetching the branch failed"


def test_steering_and_the_node_a_task_runs_on_are_shown(tmp_path: Path) -> None:
    store = Store(tmp_path)
    add_task(store, "aaaa09", extra=TaskExtra(backend="ray"))
    store.claim_queued(10, "ray")
    store.set_running("aaaa09", 4242, 1.0)
    assert store.add_steer("aaaa09", "also update the docs") == "running"
    node = Node(node_id="n1", address="10.0.0.2", hostname=None)
    store.update_extra("aaaa09", lambda e: replace(e, node=node, waiting_for="a codex slot"))
    row = row_of(store, "aaaa09")
    view = status_view(row)
    assert view["steered"]["count"] == 1 and view["steered"]["last_at"] == row.steered_at
    assert view["node"] == {"node_id": "n1", "address": "10.0.0.2"}
    assert "waiting_for" not in view  # only while its actor is not placed ('starting')
    assert result_view(row)["steered"]["count"] == 1


def test_the_typed_views_name_each_fact_and_their_json_keeps_its_keys_in_order(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    add_task(store, "aaaa10", thread_id=THREAD)
    running(store, "aaaa10", tool_calls=2, usage={"input_tokens": 7})
    row = row_of(store, "aaaa10")
    status = views.status_view(row, queue_position=None)
    assert (status.status, status.thread_id, status.tool_calls) == ("running", THREAD, 2)
    assert status.usage.thread_total == {"input_tokens": 7} and status.worktree is None
    assert status.exit_code is None and not status.cancel_requested
    # the JSON says threadId, and only what holds something (exit facts once ended)
    assert list(as_data(status)) == [
        "task_id", "status", "threadId", "title", "cwd", "elapsed_s", "tool_calls",
        "last_tool", "reasoning", "message", "todo", "usage", "warnings",
    ]  # fmt: skip
    store.finish("aaaa10", phase="completed", exit_code=0, result="done")
    ended = row_of(store, "aaaa10")
    result = views.result_view(ended)
    assert (result.content, result.exit_code, result.worktree) == ("done", 0, None)
    assert list(as_data(views.status_view(ended)))[-3:] == ["exit_code", "exit_signal", "error"]
    assert list(as_data(result))[-1] == "worktree" and as_data(views.usage_view(ended))[
        "thread_total"
    ] == {"input_tokens": 7}
    empty = views.UsageView()
    assert as_data(empty) == {} and empty.turn is None
