"""The merge lock and landing at the git level, with plain repositories (fast, no Codex)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from codex_mcp_swarm.git import cleanup, commit_all, create_worktree, merge
from codex_mcp_swarm.git.landing import Scratch, conflicted_merge, land_branch
from codex_mcp_swarm.git.lock import repository_lock

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


def tip(cwd: Path, rev: str = "main") -> str:
    return git(cwd, "rev-parse", rev).strip()


def clean(repo: Path) -> bool:
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all") == ""


@pytest.fixture(autouse=True)
def git_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    write(path / "shared.txt", "".join(f"line {i}\n" for i in range(10)))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "state" / "worktrees"


def branch_with(repo: Path, root: Path, task_id: str, files: dict[str, str]) -> str:
    wt = create_worktree(repo, root, task_id)
    for name, text in files.items():
        write(wt.path / name, text)
    assert commit_all(wt, f"work of {task_id}") is not None
    return wt.branch


def shared_with(line3: str) -> str:
    return "".join((f"{line3}\n" if i == 3 else f"line {i}\n") for i in range(10))


# --------------------------------------------------------------------------------------------
# The merge lock


def test_concurrent_merges_from_threads_all_merge_and_leave_the_checkout_clean(
    repo: Path, root: Path
) -> None:
    branches = [branch_with(repo, root, f"t{i}", {f"f{i}.txt": f"{i}\n"}) for i in range(8)]
    before = tip(repo)
    barrier = threading.Barrier(len(branches))

    def one(branch: str) -> bool:
        barrier.wait()
        return merge(repo, branch, target="main", message=f"merge {branch}").merged

    with ThreadPoolExecutor(max_workers=len(branches)) as pool:
        results = list(pool.map(one, branches))
    assert results == [True] * len(branches)
    assert clean(repo)
    assert sorted(p.name for p in repo.glob("f*.txt")) == sorted(f"f{i}.txt" for i in range(8))
    merges = git(repo, "rev-list", "--merges", f"{before}..main").split()
    assert len(merges) == len(branches)  # each applied exactly once


CHILD = """
import pathlib, sys, time
from codex_mcp_swarm.git import cleanup, merge
repo, action, branch, go = sys.argv[1:]
print("ready", flush=True)
while not pathlib.Path(go).exists():
    time.sleep(0.002)
if action == "merge":
    r = merge(pathlib.Path(repo), branch, target="main", message="merge " + branch)
    print("merged" if r.merged else "refused", r.message)
else:
    r = cleanup(pathlib.Path(repo), None, branch, into="main")
    print("deleted" if r.deleted_branch else "kept", r.kept_reason)
"""


def test_concurrent_merges_and_cleanups_from_processes(
    repo: Path, root: Path, tmp_path: Path
) -> None:
    to_merge = [branch_with(repo, root, f"m{i}", {f"m{i}.txt": f"{i}\n"}) for i in range(6)]
    conflicting = [
        branch_with(repo, root, f"c{i}", {"shared.txt": shared_with(f"side {i}")}) for i in range(2)
    ]
    unmerged = branch_with(repo, root, "keep", {"keep.txt": "mine\n"})
    go = tmp_path / "go"
    jobs = [("merge", b) for b in [*to_merge, *conflicting]] + [("cleanup", unmerged)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(repo), action, branch, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for action, branch in jobs
    ]
    for child in children:  # all imported and waiting: they start together
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    go.touch()
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    said = {branch: out for (_, branch), (out, _) in zip(jobs, outputs, strict=True)}
    for branch in to_merge:
        assert said[branch].startswith("merged"), said[branch]
    # Exactly one of the two branches editing the same line merged; the other conflicts.
    verdicts = sorted(said[b].split()[0] for b in conflicting)
    assert verdicts == ["merged", "refused"], said
    refused = next(b for b in conflicting if said[b].startswith("refused"))
    assert "conflicts" in said[refused] and "shared.txt" in said[refused]
    assert said[unmerged].startswith("kept")  # never deletes unmerged work
    assert tip(repo, unmerged)
    assert clean(repo)
    for i in range(6):
        assert (repo / f"m{i}.txt").read_text() == f"{i}\n"


def test_repository_lock_is_shared_by_linked_worktrees(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "linked")
    entered = threading.Event()
    with repository_lock(repo):

        def other() -> None:
            with repository_lock(wt.path):
                entered.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.3)  # the same lock, whichever checkout names it
    thread.join(5)
    assert entered.is_set()


def test_a_refused_merge_leaves_the_checkout_byte_for_byte(repo: Path, root: Path) -> None:
    branch = branch_with(repo, root, "t", {"new.txt": "theirs\n"})
    write(repo / "new.txt", "mine, untracked\n")
    before = (
        git(repo, "status", "--porcelain=v1", "-uall"),
        (repo / ".git" / "index").read_bytes(),
    )
    result = merge(repo, branch, target="main", message="m")
    assert not result.merged and "untracked" in result.message and result.conflicts == ["new.txt"]
    after = (git(repo, "status", "--porcelain=v1", "-uall"), (repo / ".git" / "index").read_bytes())
    assert before == after
    assert (repo / "new.txt").read_text() == "mine, untracked\n"


# --------------------------------------------------------------------------------------------
# Landing


def test_land_lands_conflicts_and_checks(repo: Path, root: Path, tmp_path: Path) -> None:
    a = branch_with(repo, root, "a", {"a.txt": "a\n"})
    b1 = branch_with(repo, root, "b1", {"shared.txt": shared_with("first")})
    b2 = branch_with(repo, root, "b2", {"shared.txt": shared_with("second")})
    bad = branch_with(repo, root, "bad", {"BROKEN": "yes\n"})
    scratch = Scratch(repo, tmp_path / "scratch")
    check = "test ! -e BROKEN"
    try:
        steps = [
            land_branch(
                repo,
                b,
                target="main",
                strategy="merge",
                message=f"land {b}",
                check=check,
                scratch=scratch,
            )
            for b in (a, b1, b2, bad)
        ]
    finally:
        scratch.close()
    assert [s.status for s in steps] == ["landed", "landed", "conflicted", "check_failed"]
    assert steps[2].conflicts == ["shared.txt"]
    assert steps[3].check is not None and steps[3].check.exit_code == 1
    assert tip(repo) == steps[1].commit
    assert clean(repo)
    assert (repo / "a.txt").exists() and not (repo / "BROKEN").exists()
    assert "fast-forwarded" in (steps[0].checkout or "")
    assert not (tmp_path / "scratch").exists()
    # Landing again changes nothing: what landed is found in the target.
    again = land_branch(repo, a, target="main", strategy="merge", message="m")
    assert again.status == "already"


def test_land_moves_only_the_ref_when_the_checkout_is_elsewhere(repo: Path, root: Path) -> None:
    branch = branch_with(repo, root, "t", {"t.txt": "t\n"})
    git(repo, "switch", "-q", "-c", "elsewhere")
    step = land_branch(repo, branch, target="main", strategy="squash", message="squashed t")
    assert step.status == "landed"
    assert tip(repo, "main") == step.commit
    assert git(repo, "branch", "--show-current").strip() == "elsewhere"
    assert clean(repo) and not (repo / "t.txt").exists()
    assert "only the branch moved" in (step.checkout or "")


def test_land_skips_when_the_checkout_on_the_target_is_dirty(repo: Path, root: Path) -> None:
    branch = branch_with(repo, root, "t", {"t.txt": "t\n"})
    write(repo / "shared.txt", "my edit\n")
    before = tip(repo)
    step = land_branch(repo, branch, target="main", strategy="merge", message="m")
    assert step.status == "skipped" and "uncommitted changes" in (step.reason or "")
    assert tip(repo) == before
    assert (repo / "shared.txt").read_text() == "my edit\n"


def test_check_timeout_kills_the_check(repo: Path, root: Path, tmp_path: Path) -> None:
    branch = branch_with(repo, root, "t", {"t.txt": "t\n"})
    scratch = Scratch(repo, tmp_path / "scratch")
    try:
        step = land_branch(
            repo,
            branch,
            target="main",
            strategy="merge",
            message="m",
            check="echo started; sleep 30",
            check_timeout=0.5,
            scratch=scratch,
        )
    finally:
        scratch.close()
    assert step.status == "check_failed"
    assert step.check is not None and step.check.timed_out and "started" in step.check.output_tail


def test_conflicted_merge_holds_the_markers(repo: Path, root: Path) -> None:
    branch_with(repo, root, "b1", {"shared.txt": shared_with("first")})
    b2 = branch_with(repo, root, "b2", {"shared.txt": shared_with("second")})
    merge(repo, "codex-swarm/b1", target="main", message="m")
    commit, paths = conflicted_merge(repo, b2, "main", "conflicted")
    assert paths == ["shared.txt"]
    text = git(repo, "show", f"{commit}:shared.txt")
    assert "<<<<<<<" in text and "first" in text and "second" in text
    parents = git(repo, "rev-list", "--parents", "-n1", commit).split()[1:]
    assert parents == [tip(repo), tip(repo, b2)]


LANDER = """
import pathlib, sys
from codex_mcp_swarm.git.landing import Scratch, land_branch
from codex_mcp_swarm.git.lock import landing_lock
repo, scratch, check, *branches = sys.argv[1:]
repo = pathlib.Path(repo)
with landing_lock(repo):
    s = Scratch(repo, pathlib.Path(scratch))
    try:
        for b in branches:
            step = land_branch(repo, b, target="main", strategy="merge", message="land " + b,
                               check=check or None, scratch=s)
            print(b, step.status, flush=True)
    finally:
        s.close()
"""


def test_a_killed_landing_leaves_a_landed_boundary_and_the_next_carries_on(
    repo: Path, root: Path, tmp_path: Path
) -> None:
    branches = [branch_with(repo, root, f"k{i}", {f"k{i}.txt": f"{i}\n"}) for i in range(3)]
    started = tmp_path / "check-started"
    slow = f"if [ -e k1.txt ]; then touch {started}; sleep 60; fi"
    child = subprocess.Popen(
        [sys.executable, "-c", LANDER, str(repo), str(tmp_path / "s1"), slow, *branches],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    # The check died with the landing (its watchdog saw the landing process go).
    deadline = time.monotonic() + 30
    while any(
        str(started) in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
    ):
        assert time.monotonic() < deadline, "the killed landing's check is still running"
        time.sleep(0.05)
    # k0 landed, k1 was being checked: the target is exactly at k0's landing.
    assert (repo / "k0.txt").exists() and not (repo / "k1.txt").exists()
    assert clean(repo)
    assert git(repo, "merge-base", "--is-ancestor", branches[0], "main") == ""
    out = subprocess.run(
        [sys.executable, "-c", LANDER, str(repo), str(tmp_path / "s1"), "true", *branches],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split("\n")
    assert out[:3] == [f"{branches[0]} already", f"{branches[1]} landed", f"{branches[2]} landed"]
    assert clean(repo)
    assert len(git(repo, "rev-list", "--merges", "main").split()) == 3


def test_several_landers_at_once_apply_each_branch_once(
    repo: Path, root: Path, tmp_path: Path
) -> None:
    branches = [branch_with(repo, root, f"p{i}", {f"p{i}.txt": f"{i}\n"}) for i in range(5)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", LANDER, str(repo), str(tmp_path / f"s{n}"), "", *branches],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    statuses: dict[str, list[str]] = {b: [] for b in branches}
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        for line in out.splitlines():
            name, status = line.split()
            statuses[name].append(status)
    for branch in branches:
        assert sorted(statuses[branch]) == ["already", "already", "landed"], statuses
    assert len(git(repo, "rev-list", "--merges", "main").split()) == len(branches)
    assert clean(repo)


def test_cleanup_after_land_counts_the_branch_as_merged(repo: Path, root: Path) -> None:
    wt = create_worktree(repo, root, "c")
    write(wt.path / "c.txt", "c\n")
    commit_all(wt, "c")
    assert land_branch(repo, wt.branch, target="main", strategy="squash", message="c").status == (
        "landed"
    )
    result = cleanup(repo, wt.path, wt.branch, into="main")
    assert result.removed_worktree and result.deleted_branch and not result.lost_commits


def test_declared_paths_are_repository_relative_and_overlap_by_prefix(repo: Path) -> None:
    from codex_mcp_swarm.engine.outlook import _overlap, declare_paths

    (repo / "pkg").mkdir()
    key, paths = declare_paths(str(repo / "pkg"), ["mod.py", "./sub/", "../up.txt", "../../out"])
    assert key.endswith(".git")
    assert paths == ["pkg/mod.py", "pkg/sub", "up.txt"]  # outside the repository: dropped
    assert _overlap("pkg", "pkg/mod.py") and _overlap("pkg/mod.py", "pkg/mod.py")
    assert not _overlap("pkg/mod.py", "pkg/mod.pyc") and not _overlap("pk", "pkg")


# --------------------------------------------------------------------------------------------
# One lock helper, one conflict prediction


def _try_lock(path: Path) -> bool:
    """Whether another process can take an exclusive flock on ``path`` now."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, str(path)], check=False).returncode == 0


def test_the_flock_helper_waits_gives_up_and_is_not_inherited(tmp_path: Path) -> None:
    from codex_mcp_swarm.git import GitError
    from codex_mcp_swarm.git.lock import flock

    path = tmp_path / "x.lock"
    with flock(path, 5, "the first holder"):
        assert not _try_lock(path)
        with (
            pytest.raises(GitError, match=r"the first holder has held .* try again later"),
            flock(path, 0.05, "the first holder"),
        ):
            pass  # pragma: no cover - the lock is held
        # A child started while the lock is held, even one that keeps every descriptor it can,
        # does not inherit it (close-on-exec): the lock goes with its holder.
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(30)"], close_fds=False
        )
    try:
        assert _try_lock(path)
    finally:
        child.kill()
        child.wait()


def test_tools_and_board_predict_conflicts_the_same_cached_capped_way(
    repo: Path, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio

    from codex_mcp_swarm.engine import Engine, branches, outlook
    from codex_mcp_swarm.engine.records import Collision, TaskExtra
    from codex_mcp_swarm.engine.store import Store
    from codex_mcp_swarm.settings import Settings
    from codex_mcp_swarm.web import data

    store = Store(tmp_path / "tasks")
    work = {
        "aaaa11112222": {"shared.txt": shared_with("a")},
        "bbbb11112222": {"shared.txt": shared_with("b")},
        "cccc11112222": {"other.txt": "c\n"},
    }
    for task_id, files in work.items():
        wt = create_worktree(repo, root, task_id)
        for name, text in files.items():
            write(wt.path / name, text)
        store.create(
            task_id,
            spec={"task": {}},
            cwd=str(wt.path),
            title=task_id,
            owner="o",
            extra=TaskExtra(worktree=wt),
        )
        row = store.get(task_id)
        assert row is not None
        branches.finish_worktree(store, row, "completed")
        store.finish(task_id, phase="completed")
    rows = store.list()
    a, b = (store.get(task_id) for task_id in ("aaaa11112222", "bbbb11112222"))
    assert a is not None and b is not None
    pairs = outlook.conflicts_between(rows)
    assert [(sorted(p.tasks), p.paths) for p in pairs] == [
        (["aaaa11112222", "bbbb11112222"], ("shared.txt",))
    ]
    expected = [Collision(task_id=b.id, branch="codex-swarm/bbbb11112222", paths=("shared.txt",))]
    assert outlook.conflicts_with(a, rows) == expected
    hits = outlook._pair.cache_info().hits
    # The board asks the engine: the same answer, from the cache of the pair's heads.
    engine = Engine(Settings(task_dir=tmp_path / "tasks", worktree_dir=root), store)
    seen = [{"task_id": b.id, "branch": "codex-swarm/bbbb11112222", "paths": ["shared.txt"]}]
    assert anyio.run(data.conflicts, engine, a) == {"checked": True, "with": seen}
    assert outlook._pair.cache_info().hits > hits
    page = anyio.run(data.repository, engine, data.repo_of(a))
    assert page is not None
    conflicting = {t["task_id"]: t["conflicts_with"] for t in page["tasks"]}
    assert conflicting["aaaa11112222"] == [{"task_id": b.id, "branch": b.extra.branch}]
    assert conflicting["cccc11112222"] == []
    # Capped: only the first MAX_TASKS tasks of a repository are paired.
    monkeypatch.setattr(outlook, "MAX_TASKS", 1)
    assert outlook.conflicts_between(rows) == []


def test_a_resumed_landing_counts_what_its_own_run_recorded(
    repo: Path, root: Path, tmp_path: Path
) -> None:
    """A run killed after recording a task's landing but before its progress named it: the
    resumed run still reports that task as landed by this landing (the record names it), and
    another landing reports it as already merged."""
    from engine_stubs import add_task
    from stub_codex import write_stub

    from codex_mcp_swarm.engine.landing import land
    from codex_mcp_swarm.engine.records import LandRequest, TaskExtra
    from codex_mcp_swarm.engine.tasks import Engine
    from codex_mcp_swarm.settings import Settings

    settings = Settings(
        task_dir=tmp_path / "tasks",
        worktree_dir=root,
        codex_bin=str(write_stub(tmp_path / "bin")),
        skip_git_repo_check=True,
    )
    engine = Engine(settings)
    ids = ("a1a1a1a1a1a1", "b2b2b2b2b2b2")
    for n, task_id in enumerate(ids):
        wt = create_worktree(repo, root, task_id)
        write(wt.path / f"f{n}.txt", task_id)
        assert commit_all(wt, f"work of {task_id}") is not None
        add_task(engine.store, task_id, cwd=str(wt.path), extra=TaskExtra(worktree=wt))
        engine.store.finish(task_id, phase="completed", exit_code=0)
    request = LandRequest(task_ids=ids, cwd=str(repo), check_parallel=1)
    first = land(engine, request, landing_id="landfeed0001")
    assert [item.task_id for item in first.landed] == list(ids)
    # The rerun knows of neither through its progress (``landed_before`` is empty).
    again = land(engine, request, landing_id="landfeed0001")
    assert [item.task_id for item in again.landed] == list(ids) and not again.skipped
    other = land(engine, request, landing_id="landfeed0002")
    assert not other.landed
    assert [item.reason for item in other.skipped] == ["already merged into main"] * 2
    assert clean(repo)
