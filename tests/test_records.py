"""The typed task record and the store's codec: round trips, rows of older versions, the
results' data, and the store's one-transaction update."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from codex_mcp_swarm.engine.codec import extra_from_json, extra_to_dict, extra_to_json
from codex_mcp_swarm.engine.plan import Checkout, LaunchPlan
from codex_mcp_swarm.engine.records import (
    AutoLand,
    CleanupReport,
    HomeTrip,
    LandingMark,
    LandRequest,
    Merged,
    Node,
    RayRecord,
    TaskExtra,
    as_data,
)
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.git import FileChange, Outcome, Worktree

pytestmark = pytest.mark.unit

WORKTREE = Worktree(
    path=Path("/w/abc"),
    branch="codex-swarm/abc123456789",
    repo=Path("/r"),
    base_ref="main",
    base_commit="a" * 40,
    base_branch="main",
    carried_commit=None,
    subdir="pkg",
)
OUTCOME = Outcome(
    branch="codex-swarm/abc123456789",
    base_commit="a" * 40,
    head_commit="b" * 40,
    committed=True,
    files=[FileChange("x.py", 3, 1), FileChange("logo.png", None, None)],
    insertions=3,
    deletions=1,
    target="main",
    target_commit="c" * 40,
    merges_cleanly=False,
    conflicts=["x.py"],
)


def _full() -> TaskExtra:
    return TaskExtra(
        backend="ray",
        worktree=WORKTREE,
        outcome=OUTCOME,
        outcome_error="it went wrong",
        commit="d" * 40,
        merged=Merged(
            target="main", commit="e" * 40, strategy="land", at=5.0, landed=True, landing="land1"
        ),
        removed_worktree=True,
        removed_branch=True,
        checkout=Checkout(repo="/r", commit="f" * 40, subdir="pkg", of_task="abc"),
        node=Node(node_id="n1", address="10.0.0.1", hostname="w1"),
        ray=RayRecord(actor="codex-swarm-abc", events_base=12, relaunches=1),
        ray_notes=("its node died",),
        waiting_for="a free codex slot",
        paths=("src", "x.py"),
        paths_repo="/r/.git",
        land_target="main",
        resolves="abc123456780",
        resolves_paths=("x.py",),
        resolved_by="abc123456781",
        auto_land=AutoLand(target="main", check="make test", on_failure="reply"),
        landing=LandingMark("sent home", "land1234abcd", reply="abc123456782"),
        home=HomeTrip(
            request=LandRequest(task_ids=None, check="make test", on_failure="reply", attempts=3),
            attempt=2,
            root="abc123456789",
        ),
    )


def test_every_field_survives_a_round_trip() -> None:
    extra = _full()
    assert extra_from_json(extra_to_json(extra)) == extra
    assert extra_from_json(extra_to_json(TaskExtra())) == TaskExtra()
    for field in dataclasses.fields(TaskExtra):  # a new field must be known to the codec
        if field.name != "unknown":
            assert field.name in extra_to_dict(extra), field.name


def test_an_empty_or_missing_record_is_a_local_task() -> None:
    for text in (None, "", "{}", "[]", "not json"):
        assert extra_from_json(text) == TaskExtra()
    assert json.loads(extra_to_json(TaskExtra())) == {"backend": "local"}  # the queue's key


def test_rows_of_older_versions_decode() -> None:
    # As the engine wrote them before the typed record: the git layer's records as dicts, a
    # merge result with its time, the Ray backend's dicts.
    old = {
        "backend": "ray",
        "worktree": {**dataclasses.asdict(WORKTREE), "path": "/w/abc", "repo": "/r"},
        "outcome": dataclasses.asdict(OUTCOME),
        "commit": None,
        "outcome_error": None,
        "merged": {
            "merged": True,
            "commit": "e" * 40,
            "strategy": "squash",
            "target": "main",
            "conflicts": [],
            "message": "merged",
            "at": 1700000000.5,
        },
        "node": {"node_id": "n1", "hostname": "w1", "address": "10.0.0.1", "pid": 42},
        "ray": {"actor": "codex-swarm-abc", "events_base": 7, "relaunches": 0},
        "ray_notes": ["its node died"],
        "waiting_for": None,
        "paths": ["src"],
        "paths_repo": "/r/.git",
    }
    extra = extra_from_json(json.dumps(old))
    assert extra.backend == "ray"
    assert extra.worktree == WORKTREE
    assert extra.outcome == OUTCOME
    assert extra.merged == Merged(
        target="main", commit="e" * 40, strategy="squash", message="merged", at=1700000000.5
    )
    assert extra.node == Node(node_id="n1", address="10.0.0.1", hostname="w1", pid=42)
    assert extra.ray == RayRecord(actor="codex-swarm-abc", events_base=7, relaunches=0)
    assert extra.ray_notes == ("its node died",) and extra.paths == ("src",)
    assert extra.commit is None and extra.waiting_for is None and not extra.removed_branch
    # What older versions read by key is still where they look for it.
    again = json.loads(extra_to_json(extra))
    assert again["worktree"]["branch"] == WORKTREE.branch
    assert again["merged"]["target"] == "main" and again["merged"]["merged"] is True
    assert again["outcome"]["head_commit"] == OUTCOME.head_commit


def test_missing_optional_keys_take_defaults_and_broken_records_are_dropped() -> None:
    sparse = {
        "worktree": {
            "path": "/w/x",
            "branch": "codex-swarm/x",
            "repo": "/r",
            "base_commit": "a" * 40,
        },
        "outcome": {"head_commit": "b" * 40},
        "merged": {"target": "main"},
        "checkout": {"repo": "/r"},  # no commit: not a checkout
        "node": "n1",  # not an object
        "removed_branch": 1,
    }
    extra = extra_from_json(json.dumps(sparse))
    assert extra.worktree is not None
    assert extra.worktree.base_ref == "a" * 40 and extra.worktree.subdir == ""
    assert extra.worktree.base_branch is None
    assert extra.outcome is not None and extra.outcome.files == []
    assert extra.outcome.merges_cleanly is None
    assert extra.merged == Merged(target="main", commit=None, strategy="merge")
    assert extra.checkout is None and extra.node is None
    assert extra.removed_branch is True and extra.backend == "local"


def test_keys_this_version_does_not_know_are_kept() -> None:
    text = json.dumps({"backend": "local", "future": {"a": [1, 2]}, "paths": ["x"]})
    extra = extra_from_json(text)
    assert extra.paths == ("x",)
    changed = dataclasses.replace(extra, resolved_by="abc123456789")
    assert json.loads(extra_to_json(changed)) == {
        "future": {"a": [1, 2]},
        "backend": "local",
        "paths": ["x"],
        "resolved_by": "abc123456789",
    }


def test_results_become_data_named_by_their_fields() -> None:
    report = CleanupReport(
        task_id="abc",
        branch="codex-swarm/abc",
        worktree="/w/abc",
        removed_worktree=True,
        deleted_branch=False,
        kept_reason="unmerged",
        lost_commits=("c1",),
    )
    assert as_data(report) == {
        "task_id": "abc",
        "branch": "codex-swarm/abc",
        "worktree": "/w/abc",
        "removed_worktree": True,
        "deleted_branch": False,
        "kept_reason": "unmerged",
        "lost_commits": ["c1"],
    }
    assert as_data(WORKTREE)["path"] == "/w/abc"


def test_the_store_updates_the_record_in_one_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path)
    plan = LaunchPlan(argv=("codex",), cwd="/tmp", prompt="p")
    store.create(
        "abcdef123456",
        spec={"task": {"prompt": "p"}, "launch": plan.to_dict()},
        cwd="/tmp",
        title="p",
        owner="o",
        extra=TaskExtra(backend="ray", worktree=WORKTREE),
    )
    row = store.get("abcdef123456")
    assert row is not None and row.extra == TaskExtra(backend="ray", worktree=WORKTREE)
    written = store.update_extra("abcdef123456", lambda e: dataclasses.replace(e, outcome=OUTCOME))
    assert written == TaskExtra(backend="ray", worktree=WORKTREE, outcome=OUTCOME)
    row = store.get("abcdef123456")
    assert row is not None and row.extra == written
    assert store.update_extra("nosuchtask12", lambda e: e) is None
    assert store.claim_queued(1, "ray") == ["abcdef123456"]  # the queue reads the codec's key


def test_equal_texts_share_one_record() -> None:
    text = extra_to_json(TaskExtra(backend="ray", worktree=WORKTREE, outcome=OUTCOME))
    first, second = extra_from_json(text), extra_from_json(text)
    assert first is second and first.worktree == WORKTREE
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.worktree.branch = "x"  # type: ignore[misc]


def test_the_recorded_spec_reads_typed() -> None:
    from codex_mcp_swarm.codex.command import ReviewTarget, TaskSpec
    from codex_mcp_swarm.engine.codec import task_spec_of

    spec = TaskSpec(
        prompt="p",
        cwd="/r",
        model="m",
        config={"a": 1},
        review=ReviewTarget(base="a" * 40),
        output_schema={"type": "object"},
    )
    stored = json.loads(json.dumps({"task": dataclasses.asdict(spec), "launch": {}}))
    assert task_spec_of(stored) == spec
    # Older rows: fields missing (no fork_thread_id, no output_schema), unknown ones ignored,
    # and the oldest hold the task's fields alone.
    old = {"prompt": "p", "cwd": "/r", "sandbox": "read-only", "retired": True}
    assert task_spec_of({"task": old}) == TaskSpec(prompt="p", cwd="/r", sandbox="read-only")
    assert task_spec_of(old) == TaskSpec(prompt="p", cwd="/r", sandbox="read-only")


def test_an_event_page_is_whole_lines_and_a_cursor(tmp_path: Path) -> None:
    from codex_mcp_swarm.engine.eventlog import read_page

    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type":"a"}\n{"type":"b"}\n{"type":"c"')  # the last still being written
    page = read_page(path, "abc", 0, lines=1, max_bytes=1000)
    assert page.lines == ('{"type":"a"}',) and page.next_cursor == 13 and page.more
    rest = read_page(path, "abc", page.next_cursor, lines=10, max_bytes=1000)
    assert rest.lines == ('{"type":"b"}',) and rest.next_cursor == 26
    assert as_data(rest)["lines"] == ['{"type":"b"}']  # what the events resource sends
    assert read_page(tmp_path / "none", "abc", 0, 10, 1000).lines == ()
