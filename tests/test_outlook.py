"""The conflict outlook (engine/outlook.py): declared paths and whom they overlap, and which
finished branches conflict, with ``git merge-tree`` and the repository lookup replaced by stubs.
A temp store; no Codex, no subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_stubs import add_task, row_of, worktree_task

from codex_mcp_swarm import git
from codex_mcp_swarm.engine import outlook
from codex_mcp_swarm.engine.records import Collision, ConflictPair, Merged, Overlap, TaskExtra
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.git.merging import MergeTree


@pytest.fixture
def merges(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """``git merge-tree`` as a stub: two heads conflict in the files both name (a head is
    ``<name>:<file>,<file>``); each pair it is asked about is noted."""
    asked: list[tuple[str, str]] = []

    def merge_tree(repo: Path, a: str, b: str) -> MergeTree:
        asked.append((a, b))
        if "broken" in (a + b):
            raise git.GitError("bad object")
        shared = sorted(set(a.split(":")[1].split(",")) & set(b.split(":")[1].split(",")))
        return MergeTree(clean=not shared, tree="t" * 40, conflicts=shared)

    monkeypatch.setattr(outlook, "merge_tree", merge_tree)
    outlook._pair.cache_clear()
    yield asked
    outlook._pair.cache_clear()


def test_declared_paths_are_made_relative_to_the_repository_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "repo"
    (top / "pkg" / "sub").mkdir(parents=True)
    monkeypatch.setattr(git, "repo_root", lambda where: top)
    monkeypatch.setattr(outlook, "common_dir", lambda where: top / ".git")
    key, paths = outlook.declare_paths(
        str(top / "pkg"), ["a.py", "./sub/b.py", "../docs/", "a.py", "", "../../etc/passwd", "/x"]
    )
    assert key == str(top / ".git")
    assert paths == ["docs", "pkg/a.py", "pkg/sub/b.py"]  # sorted, once each, none outside
    assert outlook.declare_paths(str(top), ["."])[1] == [""]  # the whole repository

    def not_a_repo(where: Path) -> Path:
        raise git.GitError("not a git repository")

    monkeypatch.setattr(git, "repo_root", not_a_repo)
    key, paths = outlook.declare_paths(str(top / "pkg"), ["a.py"])
    assert key == str((top / "pkg").resolve()) and paths == ["a.py"]


def declared(paths: tuple[str, ...], repo: str) -> TaskExtra:
    return TaskExtra(paths=paths, paths_repo=repo)


def test_an_overlap_is_a_shared_file_or_a_directory_holding_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for task_id, paths in (
        ("cccc01", ("src/app",)),
        ("cccc02", ("src/app.py",)),  # a sibling name, not inside src/app
        ("cccc03", ("src/app/views.py", "README.md")),
        ("cccc04", ("",)),  # the whole repository
    ):
        add_task(store, task_id, prompt=f"task {task_id}", extra=declared(paths, "repo-1"))
    add_task(store, "cccc05", extra=declared(("src",), "repo-2"))  # another repository
    store.finish("cccc04", phase="completed", exit_code=0)  # ended: overlaps nothing now
    found = outlook.overlapping(store, "repo-1", ["src/app/models.py"], besides="cccc03")
    assert found == [Overlap(task_id="cccc01", paths=("src/app/models.py",), title="task cccc01")]
    found = outlook.overlapping(store, "repo-1", ["src"], besides="none")
    assert {o.task_id for o in found} == {"cccc01", "cccc02", "cccc03"}


def test_recorded_paths_are_kept_with_the_task_and_overlaps_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    monkeypatch.setattr(git, "repo_root", lambda where: top)
    monkeypatch.setattr(outlook, "common_dir", lambda where: top / ".git")
    store = Store(tmp_path / "tasks")
    first = add_task(store, "cccc06", cwd=str(top))
    assert outlook.record_paths(store, first, ["src/a.py"]) == []
    second = add_task(store, "cccc07", cwd=str(top))
    overlaps = outlook.record_paths(store, second, ["src"])
    assert [(o.task_id, o.paths) for o in overlaps] == [("cccc06", ("src",))]
    extra = row_of(store, "cccc07").extra
    assert (extra.paths, extra.paths_repo) == (("src",), str(top / ".git"))


def test_finished_unlanded_branches_that_conflict_are_paired_once(
    tmp_path: Path, merges: list[tuple[str, str]]
) -> None:
    store = Store(tmp_path)
    repo, other = tmp_path / "repo", tmp_path / "other"
    rows = [
        worktree_task(store, "cccc08", repo, head="h8:a.py,b.py"),
        worktree_task(store, "cccc09", repo, head="h9:b.py"),
        worktree_task(store, "cccc10", repo, head="h10:c.py"),
        worktree_task(store, "cccc11", other, head="h11:b.py"),  # another repository
        worktree_task(store, "cccc12", repo, head="h12:a.py", merged=Merged("main", None, "m")),
        worktree_task(store, "cccc13", repo, head="h13:a.py", removed_branch=True),
        worktree_task(store, "cccc14", repo, phase=None),  # still running
        worktree_task(store, "cccc15", repo, head="h8:a.py,b.py"),  # the same head as cccc08
    ]
    pairs = outlook.conflicts_between(rows)
    assert pairs == [
        ConflictPair(tasks=("cccc08", "cccc09"), paths=("b.py",)),
        ConflictPair(tasks=("cccc09", "cccc15"), paths=("b.py",)),
    ]
    # git is asked per pair of heads, once: cccc15's head is cccc08's (and no merge between them)
    assert sorted(merges) == [
        ("h10:c.py", "h8:a.py,b.py"),
        ("h10:c.py", "h9:b.py"),
        ("h8:a.py,b.py", "h9:b.py"),
    ]
    assert outlook.conflicts_between(rows) == pairs and len(merges) == 3
    assert outlook.conflicts_with(rows[1], rows) == [
        Collision(task_id="cccc08", branch="codex-swarm/cccc08", paths=("b.py",)),
        Collision(task_id="cccc15", branch="codex-swarm/cccc15", paths=("b.py",)),
    ]
    assert outlook.conflicts_with(rows[6], rows) == []  # a running task has no branch head yet


def test_the_outlook_is_capped_per_repository_and_git_failures_are_no_conflict(
    tmp_path: Path, merges: list[tuple[str, str]]
) -> None:
    store = Store(tmp_path)
    repo = tmp_path / "repo"
    many = outlook.MAX_TASKS + 3
    rows = [worktree_task(store, f"dddd{i:02d}", repo, head=f"h{i}:x.py") for i in range(many)]
    pairs = outlook.conflicts_between(rows)
    cap = outlook.MAX_TASKS
    assert len(pairs) == cap * (cap - 1) // 2 == len(merges)
    broken = [worktree_task(store, f"eeee{i:02d}", repo, head=f"broken{i}:x.py") for i in (1, 2)]
    assert outlook.conflicts_between(broken) == []
