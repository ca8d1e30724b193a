"""Steering, forking and reviewing (engine/steering.py) against a stub engine: a temp store, a
backend that notes what it is asked, and a launch that records what would start. No Codex, no
subprocess."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from engine_stubs import THREAD, add_task, row_of, worktree_task

from codex_mcp_swarm import git
from codex_mcp_swarm.codex.command import ReviewTarget, TaskSpec
from codex_mcp_swarm.codex.progress import TaskProgress
from codex_mcp_swarm.engine import steering
from codex_mcp_swarm.engine.errors import Code, TaskError
from codex_mcp_swarm.engine.plan import Checkout, WorktreeRequest
from codex_mcp_swarm.engine.records import TaskExtra
from codex_mcp_swarm.engine.store import Store, TaskRow
from codex_mcp_swarm.engine.tasks import Engine
from codex_mcp_swarm.settings import Settings


@dataclass
class Launched:
    spec: TaskSpec
    parent: TaskRow | None
    worktree: WorktreeRequest | None
    checkout: Checkout | None


WORK = "c0ffee" * 6 + "abcd"  # the commit a stub backend says holds a task's work so far


@dataclass
class StubBackend:
    name: str = "local"
    steered: list[str] = field(default_factory=list)
    work: str | Exception = WORK

    def steer(self, row: TaskRow) -> None:
        self.steered.append(row.id)

    def work_so_far(self, row: TaskRow, wt: git.Worktree, *, live: bool) -> str:
        if isinstance(self.work, Exception):
            raise self.work
        return self.work


class StubEngine:
    """What steering uses of an :class:`Engine`, with launches recorded instead of run."""

    def __init__(self, tmp_path: Path, *, here: bool = True, **flags: Any) -> None:
        self.settings = Settings.build(task_dir=str(tmp_path / "tasks"), environ={}, **flags)
        self.store = Store(self.settings.task_dir)
        self.backend = StubBackend()
        self.worktrees_here = self.sessions_here = here
        self.launched: list[Launched] = []
        self.refuse_launch_after: int | None = None

    def get(self, task_id: str) -> TaskRow:
        row = self.store.get(task_id)
        if row is None:
            raise TaskError("unknown {TASK_ID} {task_id}", code=Code.UNKNOWN_TASK, task_id=task_id)
        return row

    get_sync = get

    def launch(
        self,
        spec: TaskSpec,
        *,
        parent: TaskRow | None = None,
        worktree: WorktreeRequest | None = None,
        checkout: Checkout | None = None,
        **_: Any,
    ) -> TaskRow:
        if self.refuse_launch_after is not None and len(self.launched) >= self.refuse_launch_after:
            raise TaskError("the cwd is gone")
        self.launched.append(Launched(spec, parent, worktree, checkout))
        return add_task(self.store, f"new{len(self.launched):03d}", prompt=spec.prompt)

    launch_sync = launch

    def engine(self) -> Engine:
        return cast(Engine, self)


def started(stub: StubEngine, task_id: str, **progress: Any) -> None:
    stub.store.claim_queued(100)
    stub.store.set_running(task_id, 4242, 1.0)
    stub.store.set_progress(task_id, {**TaskProgress().to_dict(), **progress})


def test_a_steer_message_is_checked_and_an_ended_task_says_what_to_do_instead(
    tmp_path: Path,
) -> None:
    stub = StubEngine(tmp_path)
    add_task(stub.store, "ffff01", task={"fork_thread_id": None})
    for message, says in (("  ", "non-empty"), ("a\x00b", "NUL"), ("x" * 100_001, "longer")):
        with pytest.raises(TaskError, match=says):
            steering.steer(stub.engine(), "ffff01", message)
    stub.store.finish("ffff01", phase="completed", exit_code=0, progress={"thread_id": THREAD})
    with pytest.raises(TaskError) as ended:
        steering.steer(stub.engine(), "ffff01", "also the docs")
    assert ended.value.code == Code.ENDED and "reply" in str(ended.value)
    assert ended.value.facts["thread_id"] == THREAD
    add_task(stub.store, "ffff02", task={"fork_thread_id": None})
    stub.store.finish("ffff02", phase="failed", exit_code=1)
    with pytest.raises(TaskError, match="never reported a thread"):
        steering.steer(stub.engine(), "ffff02", "also the docs")


def test_a_queued_task_takes_the_message_into_its_prompt(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    add_task(stub.store, "ffff03", prompt="Fix the test", task={"fork_thread_id": None})
    steered = steering.steer(stub.engine(), "ffff03", "and keep it fast")
    assert steered.how == "prompt" and steered.row.steer_count == 1
    assert row_of(stub.store, "ffff03").spec["task"]["prompt"] == "Fix the test\n\nand keep it fast"
    assert stub.backend.steered == []  # nothing runs yet: nothing to interrupt


def test_a_running_task_is_interrupted_once_and_later_messages_join(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    add_task(stub.store, "ffff04", task={"fork_thread_id": None})
    started(stub, "ffff04")
    first = steering.steer(stub.engine(), "ffff04", "stop, use the fixture")
    second = steering.steer(stub.engine(), "ffff04", "and the docs")
    assert (first.how, second.how) == ("interrupting", "queued")
    assert first.note == steering.INTERRUPT_NOTE and steering.INTERRUPT_NOTE in second.note
    assert stub.backend.steered == ["ffff04", "ffff04"]
    assert stub.store.take_steers("ffff04") == ["stop, use the fixture", "and the docs"]


def test_reviews_old_tasks_and_ephemeral_threads_cannot_be_steered(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path, ephemeral=True)
    add_task(stub.store, "ffff05", task={"fork_thread_id": None, "review": {"uncommitted": True}})
    add_task(stub.store, "ffff06")  # recorded before steering existed: no fork_thread_id
    add_task(stub.store, "ffff07", task={"fork_thread_id": None})
    started(stub, "ffff07")
    add_task(stub.store, "ffff08", task={"fork_thread_id": None})
    for task_id, code in (("ffff05", Code.UNSUPPORTED), ("ffff06", Code.UNSUPPORTED)):
        with pytest.raises(TaskError) as refused:
            steering.steer(stub.engine(), task_id, "m")
        assert refused.value.code == code
    with pytest.raises(TaskError, match="ephemeral sessions") as refused:
        steering.steer(stub.engine(), "ffff07", "m")
    assert refused.value.code == Code.NOT_ALLOWED
    assert steering.steer(stub.engine(), "ffff08", "m").how == "prompt"  # queued: still fine


def test_a_fork_names_one_source_and_a_bounded_count(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    add_task(stub.store, "ffff09")
    for kwargs, says in (
        ({}, "exactly one"),
        ({"task_id": "ffff09", "thread_id": THREAD}, "exactly one"),
        ({"thread_id": "nope"}, "not a UUID"),
        ({"task_id": "ffff09", "count": 0}, "from 1 to 5"),
        ({"task_id": "ffff09", "count": True}, "from 1 to 5"),
    ):
        with pytest.raises(TaskError, match=says):
            steering.fork(stub.engine(), "try another way", **kwargs)
    with pytest.raises(TaskError) as early:
        steering.fork(stub.engine(), "try another way", task_id="ffff09")
    assert early.value.code == Code.NOT_YET  # Codex has not reported its thread yet
    assert stub.launched == []


def test_a_fork_of_a_finished_task_continues_a_copy_of_its_thread(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    task = {"model": "gpt-5.5", "resume_thread_id": THREAD, "output_schema": {"type": "object"}}
    add_task(stub.store, "ffff10", task=task)
    stub.store.finish(
        "ffff10",
        phase="completed",
        exit_code=0,
        progress={"thread_id": THREAD, "usage": {"input_tokens": 900}},
    )
    rows = steering.fork(stub.engine(), "try another way", task_id="ffff10", count=2)
    assert [r.id for r in rows] == ["new001", "new002"]
    first = stub.launched[0]
    assert first.spec.fork_thread_id == THREAD and first.spec.prompt == "try another way"
    assert first.spec.model == "gpt-5.5" and first.spec.resume_thread_id is None
    assert first.spec.output_schema is None and first.spec.sandbox is None
    assert first.worktree is None and first.checkout is None
    assert first.parent is not None and first.parent.usage == {"input_tokens": 900}


def test_a_fork_of_a_running_task_only_looks(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    config = {"sandbox_mode": "workspace-write", "model_reasoning_effort": "high"}
    add_task(stub.store, "ffff11", task={"sandbox": "workspace-write", "config": config})
    started(stub, "ffff11", thread_id=THREAD)
    steering.fork(stub.engine(), "what are you doing?", task_id="ffff11")
    spec = stub.launched[0].spec
    assert spec.sandbox == "read-only" and spec.config == {"model_reasoning_effort": "high"}


def test_a_fork_of_a_worktree_task_branches_from_its_work_so_far(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    repo = tmp_path / "repo"
    source = worktree_task(stub.store, "ffff12", repo, head="e1" * 20)
    stub.store.set_progress("ffff12", {"thread_id": THREAD})
    steering.fork(stub.engine(), "another approach", task_id="ffff12")
    launched = stub.launched[0]
    assert launched.worktree == WorktreeRequest(base_ref=WORK, fork_of=source.extra.worktree)
    assert launched.spec.cwd == str(repo)  # made in the user's repository, not the worktree
    assert launched.parent is not None and launched.parent.extra == TaskExtra()  # not its branch
    steering.fork(stub.engine(), "just look", task_id="ffff12", worktree=False)
    assert stub.launched[1].worktree is None and stub.launched[1].spec.sandbox == "read-only"
    stub.backend.work = git.GitError("the worktree is gone")
    with pytest.raises(TaskError, match="the worktree is gone") as failed:
        steering.fork(stub.engine(), "again", task_id="ffff12")
    assert failed.value.code == Code.GIT and failed.value.facts["task_id"] == "ffff12"


def test_a_thread_this_server_never_ran_is_found_by_its_session_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    elsewhere = StubEngine(tmp_path, here=False)
    with pytest.raises(TaskError) as unknown:
        steering.fork(elsewhere.engine(), "p", thread_id=THREAD)
    assert unknown.value.code == Code.UNKNOWN_THREAD and "backend" in str(unknown.value)
    stub = StubEngine(tmp_path)
    with pytest.raises(TaskError) as unknown:
        steering.fork(stub.engine(), "p", thread_id=THREAD)
    assert unknown.value.code == Code.UNKNOWN_THREAD
    day = home / "sessions" / "2026" / "12" / "02"
    day.mkdir(parents=True)
    meta = {"type": "session_meta", "payload": {"id": THREAD, "cwd": "/srv/project"}}
    (day / f"rollout-2026-12-02T05-00-00-{THREAD}.jsonl").write_text(json.dumps(meta) + "\n")
    steering.fork(stub.engine(), "p", thread_id=THREAD)
    assert stub.launched[0].spec.cwd == "/srv/project" and stub.launched[0].parent is None


def test_forks_that_stop_starting_midway_say_which_run_on(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    add_task(stub.store, "ffff13")
    stub.store.finish("ffff13", phase="completed", exit_code=0, progress={"thread_id": THREAD})
    stub.refuse_launch_after = 2
    with pytest.raises(TaskError, match="started 2 of 3 forks") as partial:
        steering.fork(stub.engine(), "p", task_id="ffff13", count=3)
    assert partial.value.code == Code.PARTIAL
    assert partial.value.facts["task_ids"] == ["new001", "new002"]
    stub.launched.clear()
    stub.refuse_launch_after = 0
    with pytest.raises(TaskError, match="the cwd is gone") as first:
        steering.fork(stub.engine(), "p", task_id="ffff13")
    assert first.value.code != Code.PARTIAL  # nothing started: the plain refusal


def test_a_review_looks_at_the_right_changes_read_only(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    task = {"model": "gpt-5.5", "profile": "fast", "config": {"sandbox_mode": "workspace-write"}}
    add_task(stub.store, "ffff14", cwd="/srv/app", task=task)
    steering.review(stub.engine(), "ffff14")
    plain = stub.launched[-1].spec
    assert plain.review == ReviewTarget(uncommitted=True) and plain.cwd == "/srv/app"
    assert (plain.sandbox, plain.model, plain.profile, plain.config) == (
        "read-only",
        "gpt-5.5",
        "fast",
        {},
    )
    steering.review(stub.engine(), "ffff14", "look at error handling")
    custom = stub.launched[-1].spec
    assert custom.review == ReviewTarget(custom=True)
    assert "look at error handling" in custom.prompt and "untracked files" in custom.prompt
    row = worktree_task(stub.store, "ffff15", tmp_path / "repo", head="e1" * 20)
    steering.review(stub.engine(), "ffff15")
    wt = row.extra.worktree
    assert wt is not None
    on_branch = stub.launched[-1].spec
    assert on_branch.review == ReviewTarget(base=wt.base_commit) and on_branch.cwd == str(wt.path)
    add_task(stub.store, "ffff16", task={"review": {"uncommitted": True}})
    with pytest.raises(TaskError, match="itself a review") as refused:
        steering.review(stub.engine(), "ffff16")
    assert refused.value.code == Code.UNSUPPORTED


def test_a_review_needs_the_worktree_where_this_server_can_see_it(tmp_path: Path) -> None:
    stub = StubEngine(tmp_path)
    repo = tmp_path / "repo"
    worktree_task(stub.store, "ffff17", repo, head="e1" * 20, removed_worktree=True)
    with pytest.raises(TaskError) as gone:
        steering.review(stub.engine(), "ffff17")
    assert gone.value.code == Code.GONE
    add_task(
        stub.store,
        "ffff18",
        extra=TaskExtra(backend="ray", worktree=row_of(stub.store, "ffff17").extra.worktree),
    )
    with pytest.raises(TaskError) as other:
        steering.review(stub.engine(), "ffff18")
    assert other.value.code == Code.OTHER_BACKEND and other.value.facts["backend"] == "ray"
    remote = StubEngine(tmp_path / "remote", here=False)
    row = worktree_task(remote.store, "ffff19", repo, head="e1" * 20)
    steering.review(remote.engine(), "ffff19")
    launched = remote.launched[-1]
    assert launched.checkout == Checkout(repo=str(repo), commit=WORK, subdir="", of_task="ffff19")
    assert launched.spec.cwd == str(repo) and row.extra.worktree is not None
