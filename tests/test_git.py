"""The git layer against real repositories in tmp_path: worktrees, commits, merges, cleanup."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codex_mcp_swarm.git import (
    FileChange,
    GitError,
    Worktree,
    cleanup,
    commit_all,
    create_worktree,
    diff,
    is_merged,
    merge,
    outcome,
    prune,
    repo_root,
    unmerged_commits,
)

IDENTITY_VARS = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def head(cwd: Path, rev: str = "HEAD") -> str:
    return git(cwd, "rev-parse", rev).strip()


def snapshot(repo: Path) -> tuple[str, str, str, str, str]:
    """Everything a safe operation must leave alone in a checkout."""
    index = (repo / ".git" / "index").read_bytes()
    return (
        git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        head(repo),
        git(repo, "symbolic-ref", "-q", "HEAD"),
        git(repo, "stash", "list"),
        hashlib.sha256(index).hexdigest(),
    )


@pytest.fixture(autouse=True)
def git_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)
    return config


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write(path / "a.txt", "one\ntwo\nthree\n")
    write(path / "src" / "app.py", "print('hi')\n")
    write(path / ".gitignore", "*.log\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state" / "worktrees"


def task_with(
    repo: Path, root: Path, task_id: str, files: dict[str, str], *, base_ref: str | None = None
) -> Worktree:
    wt = create_worktree(repo, root, task_id, base_ref=base_ref)
    for name, text in files.items():
        write(wt.path / name, text)
    assert commit_all(wt, f"work of {task_id}") is not None
    return wt


# --------------------------------------------------------------------------------------------
# Creating worktrees


def test_create_from_head(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "t1")
    assert wt.branch == "codex-swarm/t1"
    assert wt.path.name == "t1"
    assert wt.path.parent.name.startswith("repo-")
    assert wt.path.parent.parent == root.resolve()
    for directory in (root, root.parent, wt.path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert wt.repo == repo.resolve()
    assert (wt.base_ref, wt.base_branch, wt.carried_commit, wt.subdir) == ("HEAD", "main", None, "")
    assert wt.base_commit == head(repo)
    assert (wt.path / "a.txt").read_text() == "one\ntwo\nthree\n"
    assert git(wt.path, "branch", "--show-current").strip() == "codex-swarm/t1"
    assert git(wt.path, "status", "--porcelain") == ""

    sub = create_worktree(repo / "src", root, "t2")
    assert sub.subdir == "src"
    assert (sub.path / sub.subdir / "app.py").is_file()
    assert sub.path.parent == wt.path.parent  # one directory per repository


def test_create_from_branch_tag_commit_and_task_branch(repo: Path, root: Path) -> None:
    initial = head(repo)
    git(repo, "tag", "v1")
    git(repo, "switch", "-q", "-c", "feature")
    write(repo / "feature.txt", "feature\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature")
    git(repo, "switch", "-q", "main")

    from_branch = create_worktree(repo, root, "b", base_ref="feature")
    assert from_branch.base_branch == "feature"
    assert from_branch.base_commit == head(repo, "feature")
    assert (from_branch.path / "feature.txt").is_file()

    from_tag = create_worktree(repo, root, "tag", base_ref="v1")
    assert (from_tag.base_branch, from_tag.base_commit) == (None, initial)

    from_commit = create_worktree(repo, root, "sha", base_ref=initial[:10])
    assert (from_commit.base_branch, from_commit.base_commit) == (None, initial)

    first = task_with(repo, root, "first", {"a.txt": "ONE\ntwo\nthree\n"})
    second = create_worktree(repo, root, "second", base_ref="codex-swarm/first")
    assert second.base_branch == "codex-swarm/first"
    assert second.base_commit == head(repo, first.branch)
    assert (second.path / "a.txt").read_text().startswith("ONE")

    git(repo, "switch", "-q", "--detach", "HEAD")
    detached = create_worktree(repo, root, "detached")
    assert (detached.base_branch, detached.base_commit) == (None, initial)


def test_create_from_inside_a_task_worktree(repo: Path, root: Path) -> None:
    first = task_with(repo, root, "first", {"new.txt": "x\n"})
    assert repo_root(first.path / "src") == first.path
    nested = create_worktree(first.path, root, "nested")
    assert nested.base_branch == first.branch
    assert (nested.path / "new.txt").is_file()
    assert nested.path.parent == first.path.parent  # same repository, same directory
    assert "codex-swarm/nested" in git(repo, "branch", "--list", "codex-swarm/*")


def test_create_errors(repo: Path, root: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"the base ref 'nope' is not a branch, tag or commit in"):
        create_worktree(repo, root, "t", base_ref="nope")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="is not inside a git repository"):
        create_worktree(plain, root, "t")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(GitError, match="has no commits yet; commit something first"):
        create_worktree(empty, root, "t")
    with pytest.raises(GitError, match="does not exist"):
        create_worktree(tmp_path / "missing", root, "t")
    with pytest.raises(GitError, match="cannot name a branch"):
        create_worktree(repo, root, "a b")
    create_worktree(repo, root, "dup")
    with pytest.raises(GitError, match="already exists"):
        create_worktree(repo, root, "dup")
    with pytest.raises(GitError, match="only from its HEAD"):
        create_worktree(repo, root, "t", base_ref="main", include_uncommitted=True)
    assert git(repo, "branch", "--list", "codex-swarm/t") == ""


def test_leading_dash_is_rejected_not_run(repo: Path, root: Path, tmp_path: Path) -> None:
    trap = tmp_path / "trap.txt"
    for task_id in ("-b", "--help", f"--output={trap}"):
        with pytest.raises(GitError, match="cannot name a branch"):
            create_worktree(repo, root, task_id)
    for base_ref in ("-h", "--all", f"--output={trap}"):
        with pytest.raises(GitError, match="must not be empty or start with '-'"):
            create_worktree(repo, root, "t", base_ref=base_ref)
    wt = task_with(repo, root, "t", {"x.txt": "x\n"})
    with pytest.raises(GitError, match="start with '-'"):
        outcome(repo, "--all", wt.base_commit, "main")
    with pytest.raises(GitError, match="start with '-'"):
        outcome(repo, wt.branch, wt.base_commit, "-main")
    with pytest.raises(GitError, match="start with '-'"):
        merge(repo, f"--output={trap}", target="main", message="m")
    with pytest.raises(GitError, match="start with '-'"):
        diff(repo, wt.base_commit, f"--output={trap}")
    with pytest.raises(GitError, match="start with '-'"):
        cleanup(repo, None, "-D", into="main")
    # A path that looks like an option is only ever a path.
    assert diff(repo, wt.base_commit, wt.branch, paths=["--output=x"]).patch == ""
    assert not trap.exists()
    assert "codex-swarm/t" in git(repo, "branch", "--list")


def test_include_uncommitted_carries_changes_without_touching_caller(
    repo: Path, root: Path
) -> None:
    write(repo / "a.txt", "one\nTWO\nthree\n")  # modified, unstaged
    write(repo / "staged.txt", "staged\n")
    git(repo, "add", "staged.txt")  # new, staged
    write(repo / "new.txt", "untracked\n")  # untracked
    (repo / "src" / "app.py").unlink()  # deleted, unstaged
    write(repo / "debug.log", "ignored\n")  # ignored: stays behind
    before = snapshot(repo)

    wt = create_worktree(repo, root, "carry", include_uncommitted=True)

    assert snapshot(repo) == before
    assert git(repo, "stash", "list") == ""
    assert wt.carried_commit is not None and wt.base_commit == wt.carried_commit
    assert head(repo, f"{wt.carried_commit}^") == head(repo)
    subject = git(repo, "log", "-1", "--format=%s", wt.carried_commit).strip()
    assert subject == f"uncommitted changes carried from {repo.resolve()} into task carry"
    assert (wt.path / "a.txt").read_text() == "one\nTWO\nthree\n"
    assert (wt.path / "staged.txt").read_text() == "staged\n"
    assert (wt.path / "new.txt").read_text() == "untracked\n"
    assert not (wt.path / "src" / "app.py").exists()
    assert not (wt.path / "debug.log").exists()
    assert git(wt.path, "status", "--porcelain") == ""
    assert outcome(repo, wt.branch, wt.base_commit, "main").files == []  # only the agent's work

    write(wt.path / "agent.txt", "agent\n")
    commit_all(wt, "agent work")
    assert [f.path for f in outcome(repo, wt.branch, wt.base_commit, None).files] == ["agent.txt"]

    clean = make_repo(repo.parent / "clean")
    plain = create_worktree(clean, root, "nothing", include_uncommitted=True)
    assert plain.carried_commit is None and plain.base_commit == head(clean)


# --------------------------------------------------------------------------------------------
# Committing


def test_commit_all(repo: Path, root: Path) -> None:
    hooks = repo / ".git" / "hooks"
    write(hooks / "pre-commit", "#!/bin/sh\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    wt = create_worktree(repo, root, "c")
    assert commit_all(wt, "nothing") is None

    write(wt.path / "a.txt", "changed\n")
    write(wt.path / "new" / "file.txt", "new\n")
    (wt.path / "src" / "app.py").unlink()
    write(wt.path / "build.log", "ignored\n")
    commit = commit_all(wt, "agent changes")
    assert commit is not None and commit == head(repo, wt.branch)
    assert git(repo, "log", "-1", "--format=%s%n%an", commit).split("\n")[:2] == [
        "agent changes",
        "Test User",
    ]
    changed = git(repo, "show", "--name-status", "--format=", commit).split()
    assert changed == ["M", "a.txt", "A", "new/file.txt", "D", "src/app.py"]
    assert git(wt.path, "status", "--porcelain") == ""
    assert commit_all(wt, "again") is None

    # The agent committed by itself: nothing left, but the work is on the branch.
    write(wt.path / "b.txt", "b\n")
    git(wt.path, "add", "b.txt")
    git(wt.path, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "agent commit")
    agent_commit = head(wt.path)
    assert commit_all(wt, "final") is None
    result = outcome(repo, wt.branch, wt.base_commit, "main")
    assert result.committed and result.head_commit == agent_commit
    assert {f.path for f in result.files} == {"a.txt", "new/file.txt", "src/app.py", "b.txt"}

    # ...and left more behind: committed on top.
    write(wt.path / "c.txt", "c\n")
    last = commit_all(wt, "final")
    assert last is not None and head(repo, f"{last}^") == agent_commit


@pytest.mark.parametrize(
    ("operation", "marker"), [("merge", "MERGE_HEAD"), ("rebase", "rebase-merge")]
)
def test_commit_all_aborts_an_unfinished_operation(
    repo: Path, root: Path, operation: str, marker: str
) -> None:
    git(repo, "branch", "other")
    other = create_worktree(repo, root, "other-side", base_ref="other")
    write(other.path / "a.txt", "one\nOTHER\nthree\n")
    commit_all(other, "other side")
    wt = task_with(repo, root, "m", {"a.txt": "one\nMINE\nthree\n"})
    own = head(repo, wt.branch)
    proc = subprocess.run(
        ["git", operation, other.branch], cwd=wt.path, capture_output=True, text=True, check=False
    )
    state = wt.path / git(wt.path, "rev-parse", "--git-path", marker).strip()
    assert proc.returncode != 0 and state.exists()
    write(wt.path / "notes.txt", "notes\n")

    commit = commit_all(wt, "finish")

    assert commit is not None and head(repo, f"{commit}^") == own
    message = git(repo, "log", "-1", "--format=%B", commit)
    assert f"an unfinished {operation} was left in the worktree and was aborted" in message
    assert not state.exists()
    assert (wt.path / "a.txt").read_text() == "one\nMINE\nthree\n"
    assert git(repo, "show", "--name-only", "--format=", commit).split() == ["notes.txt"]
    assert git(wt.path, "status", "--porcelain") == ""
    assert git(wt.path, "symbolic-ref", "HEAD").strip() == f"refs/heads/{wt.branch}"


def test_commit_all_takes_back_a_detached_head(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "d")
    git(wt.path, "switch", "-q", "--detach")
    write(wt.path / "x.txt", "x\n")
    git(wt.path, "add", "x.txt")
    git(wt.path, "commit", "-qm", "detached work")
    detached = head(wt.path)
    write(wt.path / "y.txt", "y\n")
    commit = commit_all(wt, "rest")
    assert commit is not None and head(repo, f"{commit}^") == detached
    assert git(wt.path, "symbolic-ref", "HEAD").strip() == f"refs/heads/{wt.branch}"


def test_commit_all_uses_a_fallback_identity_only_when_none_is_configured(
    repo: Path, root: Path, git_config: Path
) -> None:
    wt = create_worktree(repo, root, "who")
    git_config.write_text("[user]\n\tuseConfigOnly = true\n")
    write(wt.path / "x.txt", "x\n")
    commit = commit_all(wt, "anonymous")
    assert commit is not None
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn", commit).strip() == (
        "codex-swarm <codex-swarm@localhost>|codex-swarm"
    )


# --------------------------------------------------------------------------------------------
# Outcome, diff, merge


def test_two_tasks_on_the_same_line(repo: Path, root: Path) -> None:
    first = task_with(repo, root, "first", {"a.txt": "one\nFIRST\nthree\n"})
    second = task_with(repo, root, "second", {"a.txt": "one\nSECOND\nthree\n"})

    predicted = outcome(repo, first.branch, first.base_commit, "main")
    assert predicted.merges_cleanly is True and predicted.conflicts == []
    assert (predicted.insertions, predicted.deletions) == (1, 1)
    assert predicted.files == [FileChange(path="a.txt", insertions=1, deletions=1)]

    done = merge(repo, first.branch, target="main", message="merge first")
    assert done.merged and done.commit == head(repo)
    assert git(repo, "log", "-1", "--format=%P%n%s").split("\n")[:2] == [
        f"{first.base_commit} {head(repo, first.branch)}",
        "merge first",
    ]
    assert (repo / "a.txt").read_text() == "one\nFIRST\nthree\n"
    assert git(repo, "status", "--porcelain") == ""
    assert is_merged(repo, first.branch, "main")

    predicted = outcome(repo, second.branch, second.base_commit, "main")
    assert predicted.merges_cleanly is False and predicted.conflicts == ["a.txt"]
    assert predicted.target_commit == head(repo)
    before = snapshot(repo)
    refused = merge(repo, second.branch, target="main", message="merge second")
    assert not refused.merged and refused.commit is None and refused.conflicts == ["a.txt"]
    assert "a.txt" in refused.message
    assert snapshot(repo) == before
    assert (repo / "a.txt").read_text() == "one\nFIRST\nthree\n"
    assert not is_merged(repo, second.branch, "main")
    assert unmerged_commits(repo, second.branch, "main") == [
        f"{head(repo, second.branch)[:12]} work of second"
    ]
    again = merge(repo, first.branch, target="main", message="again")
    assert again.merged and again.commit == head(repo) and "nothing to do" in again.message


def test_squash(repo: Path, root: Path) -> None:
    wt = task_with(repo, root, "sq", {"x.txt": "x\n"})
    write(wt.path / "y.txt", "y\n")
    commit_all(wt, "second commit")
    done = merge(repo, wt.branch, target="main", strategy="squash", message="squashed work")
    assert done.merged
    assert git(repo, "log", "-1", "--format=%P|%s").strip() == f"{wt.base_commit}|squashed work"
    assert (repo / "x.txt").is_file() and (repo / "y.txt").is_file()
    assert git(repo, "status", "--porcelain") == ""
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", wt.branch, "main"], cwd=repo)
    assert ancestor.returncode == 1  # not merged by ancestry...
    assert is_merged(repo, wt.branch, "main")  # ...but by content
    assert unmerged_commits(repo, wt.branch, "main") == []
    gone = cleanup(repo, wt.path, wt.branch, into="main")
    assert (gone.removed_worktree, gone.deleted_branch, gone.lost_commits) == (True, True, [])


def test_rebase(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "rb")
    write(wt.path / "x.txt", "x\n")
    git(wt.path, "add", "x.txt")
    agent = ("-c", "user.name=Agent", "-c", "user.email=agent@example.com")
    git(wt.path, *agent, "commit", "-qm", "x")
    write(wt.path / "a.txt", "one\ntwo\nthree\nfour\n")
    commit_all(wt, "append four")
    write(repo / "main.txt", "main moved on\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-qm", "main moves")
    main_before = head(repo)
    kept = cleanup(repo, wt.path, wt.branch, into="main")  # worktree goes, branch stays
    assert kept.removed_worktree and not kept.deleted_branch
    assert "not merged" in str(kept.kept_reason)

    done = merge(repo, wt.branch, target="main", strategy="rebase", message="unused")
    assert done.merged and done.commit == head(repo)
    log = git(repo, "log", "--format=%s|%an|%P", f"{main_before}..main").strip().splitlines()
    assert [line.split("|")[:2] for line in log] == [["append four", "Test User"], ["x", "Agent"]]
    assert all(len(line.split("|")[2].split()) == 1 for line in log)  # linear
    assert head(repo, "main~2") == main_before
    assert head(repo, wt.branch) == head(repo)  # the task branch moved to the rebased commits
    assert (repo / "a.txt").read_text().endswith("four\n") and (repo / "main.txt").is_file()
    assert git(repo, "status", "--porcelain") == ""
    assert is_merged(repo, wt.branch, "main")

    # Based on the current tip already: a plain fast-forward to the branch's own commits.
    ff = task_with(repo, root, "ff", {"z.txt": "z\n"})
    done = merge(repo, ff.branch, target="main", strategy="rebase", message="unused")
    assert done.merged and head(repo) == head(repo, ff.branch)


def test_rebased_with_worktree_still_counts_as_merged(repo: Path, root: Path) -> None:
    wt = task_with(repo, root, "rw", {"x.txt": "x\n"})
    write(repo / "main.txt", "m\n")
    git(repo, "add", "main.txt")
    git(repo, "commit", "-qm", "main moves")
    done = merge(repo, wt.branch, target="main", strategy="rebase", message="unused")
    assert done.merged and "still points at its original commits" in done.message
    assert head(repo, wt.branch) != head(repo)
    assert is_merged(repo, wt.branch, "main") and unmerged_commits(repo, wt.branch, "main") == []


def test_merge_refusals_leave_everything_alone(repo: Path, root: Path) -> None:
    wt = task_with(repo, root, "r", {"new.txt": "from task\n"})

    git(repo, "switch", "-q", "-c", "other")
    before = snapshot(repo)
    refused = merge(repo, wt.branch, target="main", message="m")
    assert not refused.merged and "'other' checked out, not 'main'" in refused.message
    assert snapshot(repo) == before
    git(repo, "switch", "-q", "--detach", "main")
    refused = merge(repo, wt.branch, target="main", message="m")
    assert not refused.merged and "detached HEAD" in refused.message
    git(repo, "switch", "-q", "main")

    write(repo / "a.txt", "dirty\n")
    write(repo / "src" / "app.py", "dirty\n")
    git(repo, "add", "src/app.py")
    before = snapshot(repo)
    refused = merge(repo, wt.branch, target="main", message="m")
    assert not refused.merged
    assert "uncommitted changes to tracked files: a.txt, src/app.py" in refused.message
    assert snapshot(repo) == before
    git(repo, "reset", "-q", "--hard")

    write(repo / "new.txt", "mine, untracked\n")
    before = snapshot(repo)
    refused = merge(repo, wt.branch, target="main", message="m")
    assert not refused.merged and refused.conflicts == ["new.txt"]
    assert "overwrite untracked" in refused.message
    assert snapshot(repo) == before and (repo / "new.txt").read_text() == "mine, untracked\n"

    with pytest.raises(GitError, match="strategy 'octopus' is unknown"):
        merge(repo, wt.branch, target="main", strategy="octopus", message="m")
    with pytest.raises(GitError, match="'nope' is not a branch"):
        merge(repo, wt.branch, target="nope", message="m")


def test_diff_caps_and_paths(repo: Path, root: Path) -> None:
    files = {f"f{i}.txt": "".join(f"line {n} of file {i}\n" for n in range(100)) for i in range(3)}
    wt = task_with(repo, root, "d", files)

    full = diff(repo, wt.base_commit, wt.branch, max_chars=10**9)
    assert full.patch is not None
    assert full.truncated is False and full.omitted_paths == []
    assert full.shown_chars == full.total_chars == len(full.patch)
    assert "f0.txt" in full.stat and "3 files changed" in full.stat

    cut = diff(repo, wt.base_commit, wt.branch, max_chars=3000)
    assert cut.patch is not None
    assert cut.truncated is True
    assert cut.total_chars == full.total_chars
    assert 0 < cut.shown_chars <= 3000 and cut.shown_chars == len(cut.patch)
    assert cut.patch.endswith("\n") and full.patch.startswith(cut.patch)
    assert len(full.patch.split("diff --git ")[1]) < 3000  # f0.txt fits, f1.txt does not
    assert cut.cut_in_path == "f1.txt"
    assert cut.omitted_paths == ["f1.txt", "f2.txt"]

    one = diff(repo, wt.base_commit, wt.branch, paths=["f1.txt"])
    assert one.patch is not None and "f1.txt" in one.patch and "f0.txt" not in one.patch
    assert "f0.txt" not in one.stat and one.truncated is False

    stat_only = diff(repo, wt.base_commit, wt.branch, stat_only=True)
    assert stat_only.patch is None and "f2.txt" in stat_only.stat
    assert stat_only.total_chars == full.total_chars


# --------------------------------------------------------------------------------------------
# Cleanup


def test_cleanup_never_loses_unmerged_work_without_force(repo: Path, root: Path) -> None:
    wt = task_with(repo, root, "keep", {"x.txt": "x\n"})
    write(wt.path / "draft.txt", "not committed\n")
    kept = cleanup(repo, wt.path, wt.branch, into="main")
    assert not kept.removed_worktree and not kept.deleted_branch
    assert "uncommitted changes (draft.txt)" in str(kept.kept_reason)
    assert "not merged into 'main'" in str(kept.kept_reason)
    assert wt.path.is_dir() and head(repo, wt.branch)

    commit_all(wt, "draft")
    kept = cleanup(repo, wt.path, wt.branch, into="main")
    assert kept.removed_worktree and not kept.deleted_branch and not wt.path.exists()
    assert "2 commit(s) are not merged" in str(kept.kept_reason)
    assert head(repo, wt.branch)
    kept = cleanup(repo, None, wt.branch, into=None)
    assert not kept.deleted_branch and "no target branch" in str(kept.kept_reason)

    forced = cleanup(repo, None, wt.branch, into="main", force=True)
    assert forced.deleted_branch and forced.kept_reason is None
    assert [line.split(" ", 1)[1] for line in forced.lost_commits] == ["work of keep", "draft"]
    assert git(repo, "branch", "--list", wt.branch) == ""


def test_cleanup_merged_and_odd_paths(repo: Path, root: Path, tmp_path: Path) -> None:
    wt = task_with(repo, root, "done", {"x.txt": "x\n"})
    assert merge(repo, wt.branch, target="main", message="merge done").merged
    gone = cleanup(repo, wt.path, wt.branch, into="main")
    assert gone == type(gone)(True, True, None, [])
    assert not wt.path.exists() and git(repo, "branch", "--list", wt.branch) == ""
    assert str(wt.path) not in git(repo, "worktree", "list")

    stranger = tmp_path / "stranger"
    write(stranger / "precious.txt", "mine\n")
    other = task_with(repo, root, "other", {"y.txt": "y\n"})
    result = cleanup(repo, stranger, other.branch, into="main", force=True)
    assert not result.removed_worktree and "not a worktree" in str(result.kept_reason)
    assert (stranger / "precious.txt").is_file()
    assert result.deleted_branch is False and "checked out in" in str(result.kept_reason)

    main = cleanup(repo, repo, "main", into="main", force=True)
    assert not main.removed_worktree and not main.deleted_branch
    assert "main checkout; it is never removed" in str(main.kept_reason)
    assert (repo / "a.txt").is_file() and head(repo, "main")


def test_prune(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "p")
    subprocess.run(["rm", "-rf", str(wt.path)], check=True)
    assert str(wt.path) in git(repo, "worktree", "list")
    prune(repo)
    assert str(wt.path) not in git(repo, "worktree", "list")


# --------------------------------------------------------------------------------------------
# Concurrency


def check_distinct_worktrees(repo: Path, paths: list[Path], ids: list[str]) -> None:
    assert len(set(paths)) == len(ids)
    for path, task_id in zip(paths, ids, strict=True):
        assert path.name == task_id
        assert git(path, "branch", "--show-current").strip() == f"codex-swarm/{task_id}"
        assert git(path, "status", "--porcelain") == ""
        assert (path / "a.txt").is_file()
    listed = git(repo, "worktree", "list", "--porcelain")
    assert all(f"worktree {path}" in listed for path in paths)


def test_ten_concurrent_creations_from_threads(repo: Path, root: Path) -> None:
    ids = [f"thread-{i}" for i in range(10)]
    barrier = threading.Barrier(len(ids))

    def create(task_id: str) -> Worktree:
        barrier.wait()
        return create_worktree(repo, root, task_id)

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        made = list(pool.map(create, ids))
    check_distinct_worktrees(repo, [wt.path for wt in made], ids)


CHILD = """
import pathlib, sys, time
from codex_mcp_swarm.git import create_worktree
repo, root, task_id, ready, go = sys.argv[1:]
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():
    time.sleep(0.002)
print(create_worktree(pathlib.Path(repo), pathlib.Path(root), task_id).path)
"""


def test_ten_concurrent_creations_from_processes(repo: Path, root: Path, tmp_path: Path) -> None:
    ids = [f"proc-{i}" for i in range(10)]
    signals = tmp_path / "signals"
    signals.mkdir()
    go = signals / "go"
    children = [
        subprocess.Popen(
            [
                *(sys.executable, "-c", CHILD, str(repo), str(root), task_id),
                *(str(signals / f"ready-{task_id}"), str(go)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for task_id in ids
    ]
    try:
        deadline = time.monotonic() + 20
        while len(list(signals.glob("ready-*"))) < len(ids):
            assert time.monotonic() < deadline, "children did not start"
            assert all(child.poll() is None for child in children), "a child died early"
            time.sleep(0.005)
        go.touch()
        outputs = [child.communicate(timeout=30) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    check_distinct_worktrees(repo, [Path(out.strip()) for out, _ in outputs], ids)
