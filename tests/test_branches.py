"""A task's branch over its life (engine/branches.py): the refusals before any git runs, and
what is recorded from git's answers, with the git layer replaced by stubs that say what they
were asked. A temp store; no Codex, no subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_stubs import add_task, outcome, row_of, worktree, worktree_task

from codex_mcp_swarm import git
from codex_mcp_swarm.engine import branches
from codex_mcp_swarm.engine.errors import Code, TaskError
from codex_mcp_swarm.engine.records import Merged, TaskExtra
from codex_mcp_swarm.engine.store import Store


class GitStub:
    """The git functions branches calls, answering as told and noting each call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}
        for name in ("merge", "cleanup", "is_merged", "prune", "commit_all", "outcome", "diff"):
            monkeypatch.setattr(git, name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name)
            if isinstance(answer, Exception):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer

        return call

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> GitStub:
    return GitStub(monkeypatch)


def test_a_task_without_a_worktree_has_no_branch_to_work_on(tmp_path: Path, stub: GitStub) -> None:
    store = Store(tmp_path)
    row = add_task(store, "bbbb01")
    store.finish("bbbb01", phase="completed", exit_code=0)
    row = row_of(store, "bbbb01")
    for act in (
        lambda: branches.merge(store, row, strategy="merge", target=None),
        lambda: branches.cleanup(store, row, force=False),
        lambda: branches.diff(row, paths=None, stat_only=True, max_chars=1000),
    ):
        with pytest.raises(TaskError) as refused:
            act()
        assert refused.value.code == Code.NO_WORKTREE and refused.value.facts["task_id"] == row.id
    assert not branches.is_merged(row) and stub.calls == []


def test_a_running_task_is_neither_merged_cleaned_nor_diffed(tmp_path: Path, stub: GitStub) -> None:
    store = Store(tmp_path)
    row = worktree_task(store, "bbbb02", tmp_path / "repo", phase=None)
    for act, says in (
        (lambda: branches.merge(store, row, strategy="merge", target=None), "before merging"),
        (lambda: branches.cleanup(store, row, force=True), "cancel it or wait"),
        (lambda: branches.diff(row, paths=None, stat_only=False, max_chars=10), "meanwhile"),
    ):
        with pytest.raises(TaskError, match=f"(?i){says}") as refused:
            act()
        assert refused.value.code == Code.NOT_YET and refused.value.facts["phase"] == "queued"
    assert stub.calls == []


def test_a_merge_needs_a_branch_to_go_into_and_a_branch_to_take(
    tmp_path: Path, stub: GitStub
) -> None:
    store = Store(tmp_path)
    gone = worktree_task(store, "bbbb03", tmp_path / "repo", removed_branch=True)
    with pytest.raises(TaskError) as refused:
        branches.merge(store, gone, strategy="merge", target=None)
    assert refused.value.code == Code.GONE
    detached = worktree(tmp_path / "repo", "bbbb04", base_branch=None)
    add_task(store, "bbbb04", extra=TaskExtra(worktree=detached))
    store.finish("bbbb04", phase="completed", exit_code=0)
    with pytest.raises(TaskError, match="not a branch"):
        branches.merge(store, row_of(store, "bbbb04"), strategy="merge", target=None)
    assert stub.calls == []


def test_a_merge_is_recorded_only_when_git_merged(tmp_path: Path, stub: GitStub) -> None:
    store = Store(tmp_path)
    row = worktree_task(store, "bbbb05", tmp_path / "repo", head="e1" * 20)
    stub.answers["merge"] = git.MergeResult(
        merged=False,
        commit=None,
        strategy="merge",
        target="main",
        conflicts=["src/a.py"],
        message="conflicts",
    )
    report = branches.merge(store, row, strategy="merge", target=None)
    assert not report.merged and report.conflicts == ("src/a.py",)
    assert row_of(store, "bbbb05").extra.merged is None
    _, args, kwargs = stub.calls[-1]
    assert args == (row.extra.worktree.repo, "codex-swarm/bbbb05")  # type: ignore[union-attr]
    assert kwargs["target"] == "main" and "bbbb05" in kwargs["message"]
    stub.answers["merge"] = git.MergeResult(True, "f1" * 20, "squash", "release", [], "merged")
    report = branches.merge(store, row, strategy="squash", target="release")
    merged = row_of(store, "bbbb05").extra.merged
    assert report.merged and merged is not None
    assert (merged.target, merged.commit, merged.strategy) == ("release", "f1" * 20, "squash")


def test_cleanup_records_what_went_and_goes_into_the_branch_merged_into(
    tmp_path: Path, stub: GitStub
) -> None:
    store = Store(tmp_path)
    landed = Merged(target="release", commit="f2" * 20, strategy="merge")
    row = worktree_task(store, "bbbb06", tmp_path / "repo", merged=landed, removed_worktree=True)
    stub.answers["cleanup"] = git.Cleanup(
        removed_worktree=False, deleted_branch=True, kept_reason=None, lost_commits=[]
    )
    report = branches.cleanup(store, row, force=False)
    _, args, kwargs = stub.calls[-1]
    assert args[1] is None  # its worktree was already removed: only the branch is left
    assert kwargs == {"into": "release", "force": False}
    assert report.deleted_branch and not report.removed_worktree
    extra = row_of(store, "bbbb06").extra
    assert extra.removed_worktree and extra.removed_branch


def test_merged_tasks_are_the_finished_live_branches_git_finds_merged(
    tmp_path: Path, stub: GitStub
) -> None:
    store = Store(tmp_path)
    repo = tmp_path / "repo"
    worktree_task(store, "bbbb07", repo)
    worktree_task(store, "bbbb08", repo)
    worktree_task(store, "bbbb09", repo, removed_branch=True)
    worktree_task(store, "bbbb10", repo, phase=None)  # still queued
    add_task(store, "bbbb11")
    store.finish("bbbb11", phase="completed", exit_code=0)
    stub.answers["is_merged"] = lambda repo, branch, into: branch.endswith("bbbb08")
    assert [r.id for r in branches.merged_tasks(store)] == ["bbbb08"]
    asked = sorted(args[1] for name, args, _ in stub.calls if name == "is_merged")
    assert asked == ["codex-swarm/bbbb07", "codex-swarm/bbbb08"]
    stub.answers["is_merged"] = git.GitError("not a git repository")
    assert branches.merged_tasks(store) == []


def test_old_finished_worktrees_expire_and_git_failures_skip_one_task(
    tmp_path: Path, stub: GitStub
) -> None:
    store = Store(tmp_path)
    old = worktree_task(store, "bbbb12", tmp_path / "a")
    worktree_task(store, "bbbb13", tmp_path / "b")
    worktree_task(store, "bbbb14", tmp_path / "a", removed_worktree=True)
    young = worktree_task(store, "bbbb15", tmp_path / "a")
    worktree_task(store, "bbbb16", tmp_path / "a", phase=None)
    assert old.ended_at is not None and young.ended_at is not None

    def cleanup(repo: Path, path: Path | None, branch: str, **_: Any) -> git.Cleanup:
        if branch.endswith("bbbb13"):
            raise git.GitError("worktree is locked")
        return git.Cleanup(True, False, "it has unmerged commits", [])

    stub.answers["cleanup"] = cleanup
    now = young.ended_at + 10
    removed = branches.expire(store, max_age=now - old.ended_at - 0.001, now=now)
    assert removed == ["bbbb12"]
    assert [args for name, args, _ in stub.calls if name == "prune"] == [(tmp_path / "a",)]
    assert row_of(store, "bbbb12").extra.removed_worktree
    assert not row_of(store, "bbbb12").extra.removed_branch  # its commits hold the work


def test_an_outcome_is_refreshed_for_finished_branches_only(tmp_path: Path, stub: GitStub) -> None:
    store = Store(tmp_path)
    repo = tmp_path / "repo"
    done = worktree_task(store, "bbbb17", repo, head="e3" * 20)
    newer = outcome(worktree(repo, "bbbb17"), "e3" * 20, "src/a.py", conflicts=("src/a.py",))
    stub.answers["outcome"] = newer
    assert branches.refresh_outcome(store, done) == newer
    assert done.extra.outcome == newer == row_of(store, "bbbb17").extra.outcome
    stub.answers["outcome"] = git.GitError("bad object")
    assert branches.refresh_outcome(store, done) is None
    assert row_of(store, "bbbb17").extra.outcome == newer  # the recorded one stays
    running = worktree_task(store, "bbbb18", repo, phase=None)
    gone = worktree_task(store, "bbbb19", repo, removed_branch=True)
    calls = len(stub.calls)
    assert branches.refresh_outcome(store, running) is None
    assert branches.refresh_outcome(store, gone) is None
    assert len(stub.calls) == calls


def test_the_end_of_a_worktree_task_commits_its_work_or_says_why_not(
    tmp_path: Path, stub: GitStub
) -> None:
    store = Store(tmp_path)
    repo = tmp_path / "repo"
    row = worktree_task(store, "bbbb20", repo, phase=None)
    made = outcome(worktree(repo, "bbbb20"), "e4" * 20, "src/a.py")
    stub.answers.update(commit_all="e4" * 20, outcome=made)
    branches.finish_worktree(store, row, "completed")
    _, (wt, message), _ = stub.calls[0]
    assert wt == row.extra.worktree and "(completed)" in message and "bbbb20" in message
    extra = row_of(store, "bbbb20").extra
    assert (extra.commit, extra.outcome, extra.outcome_error) == ("e4" * 20, made, None)
    stub.answers["commit_all"] = git.GitError("index.lock exists")
    branches.finish_worktree(store, row, "failed")
    error = row_of(store, "bbbb20").extra.outcome_error
    assert error is not None and "index.lock exists" in error and str(wt.path) in error
