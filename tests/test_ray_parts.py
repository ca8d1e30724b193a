"""The Ray backend's parts that need no cluster: settings, import isolation, and the git round
trip of a worktree task through a remote (server side and worker side, on one machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, git, start_refused

from codex_mcp_swarm import git as gw
from codex_mcp_swarm.engine.backends.base import BackendError
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.git import remote
from codex_mcp_swarm.settings import Settings


def test_backend_settings() -> None:
    assert Settings.build(environ={}).backend == "local"
    ray = Settings.build(
        backend="ray", ray_address="10.0.0.1:6379", git_remote="upstream", environ={}
    )
    assert (ray.backend, ray.ray_address, ray.git_remote) == ("ray", "10.0.0.1:6379", "upstream")
    from_env = Settings.build(environ={"CODEX_SWARM_BACKEND": "ray", "RAY_ADDRESS": "head:6379"})
    assert (from_env.backend, from_env.ray_address) == ("ray", "head:6379")
    with pytest.raises(ValueError, match="--backend must be one of"):
        Settings.build(backend="k8s", environ={})
    with pytest.raises(ValueError, match="need --backend ray"):
        Settings.build(ray_address="head:6379", environ={})
    with pytest.raises(ValueError, match="not an option"):
        Settings.build(backend="ray", git_remote="--upload-pack=x", environ={})


def test_the_package_never_imports_ray_for_the_local_backend() -> None:
    code = (
        "import sys\n"
        "import codex_mcp_swarm.cli, codex_mcp_swarm.engine.tasks, codex_mcp_swarm.mcp.server\n"
        "from codex_mcp_swarm.engine.backends import make_backend\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_missing_ray_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from codex_mcp_swarm.engine.backends import ray as backend

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BackendError, match=r"codex-mcp-swarm\[ray\]"):
        backend._import_ray()


def _repo_with_remote(tmp_path: Path) -> tuple[Path, Path]:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.com")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    git(repo, "remote", "add", "origin", str(bare))
    return repo, bare


def test_a_task_round_trip_through_the_remote(tmp_path: Path) -> None:
    repo, bare = _repo_with_remote(tmp_path)
    url = remote.resolve_remote(repo, None)
    assert url == str(bare)
    assert remote.resolve_remote(repo, "file:///x.git") == "file:///x.git"
    base = git(repo, "rev-parse", "HEAD")
    task = "abc123def456"
    remote.push_base(repo, url, base, task)
    assert git(bare, "for-each-ref", "--format=%(refname)") == f"refs/codex-swarm/base/{task}"
    # The worker: fetch into its cache, work in the worktree, commit, push the branch.
    cache, trees = tmp_path / "node" / "git", tmp_path / "node" / "worktrees"
    path, commit = remote.checkout_task(cache, url, task, trees)
    assert commit == base and (path / "a.txt").read_text() == "a\n"
    (path / "b.txt").write_text("b\n")
    wt = gw.Worktree(
        path=path,
        branch=f"codex-swarm/{task}",
        repo=remote.cache_repo(cache, url),
        base_ref=base,
        base_commit=base,
        base_branch=None,
        carried_commit=None,
        subdir="",
    )
    made = gw.commit_all(wt, "work")
    assert made is not None
    assert remote.push_task_branch(cache, url, task) == made
    remote.remove_task(cache, url, task, trees)
    assert not path.exists()
    # The server: fetch the branch; the private ref is dropped.
    assert remote.fetch_branch(repo, url, task) == made
    assert git(repo, "show", f"codex-swarm/{task}:b.txt") == "b"
    assert git(bare, "for-each-ref", "refs/codex-swarm/") == ""


def _worker_commit(cache: Path, url: str, path: Path, branch_id: str, name: str) -> str:
    (path / name).write_text(f"{name}\n")
    wt = gw.Worktree(
        path=path,
        branch=f"codex-swarm/{branch_id}",
        repo=remote.cache_repo(cache, url),
        base_ref="x",
        base_commit="x",
        base_branch=None,
        carried_commit=None,
        subdir="",
    )
    made = gw.commit_all(wt, name)
    assert made is not None
    return made


def test_a_reply_continues_the_branch_through_the_remote(tmp_path: Path) -> None:
    """A reply works on its thread's branch, in the same worker directory; the branch comes back
    as a fast-forward only; a leftover checkout is replaced only when it holds nothing new."""
    repo, bare = _repo_with_remote(tmp_path)
    url = remote.resolve_remote(repo, None)
    cache, trees = tmp_path / "node" / "git", tmp_path / "node" / "worktrees"
    first, reply, again = "aaaa11112222", "bbbb11112222", "cccc11112222"
    git(repo, "branch", f"codex-swarm/{first}")
    remote.push_base(repo, url, git(repo, "rev-parse", "HEAD"), first)
    path, _ = remote.checkout_task(cache, url, first, trees)
    _worker_commit(cache, url, path, first, "one.txt")
    remote.push_task_branch(cache, url, first)
    # The release failed: the first task's clean checkout is still on the node.
    assert remote.fetch_branch(repo, url, first) == git(repo, "rev-parse", f"codex-swarm/{first}")
    # The reply: the branch's tip here goes to the reply's private ref; same directory, branch.
    tip = remote.branch_commit(repo, first)
    remote.push_base(repo, url, tip, reply)
    again_path, base = remote.checkout_task(cache, url, reply, trees, first)
    assert again_path == path and base == tip and (path / "one.txt").exists()
    made = _worker_commit(cache, url, path, first, "two.txt")
    remote.push_task_branch(cache, url, first)
    remote.remove_task(cache, url, reply, trees, first)
    assert not path.exists()
    assert remote.fetch_branch(repo, url, reply, first) == made
    assert git(repo, "show", f"codex-swarm/{first}:two.txt") == "two.txt"
    assert git(bare, "for-each-ref", "refs/codex-swarm/") == ""
    # Work added to the branch here meanwhile is never overwritten by a reply's push.
    remote.push_base(repo, url, made, again)
    path, _ = remote.checkout_task(cache, url, again, trees, first)
    _worker_commit(cache, url, path, first, "three.txt")
    remote.push_task_branch(cache, url, first)
    (tmp_path / "side").mkdir()
    git(repo, "worktree", "add", "-q", str(tmp_path / "side"), f"codex-swarm/{first}")
    (tmp_path / "side" / "mine.txt").write_text("mine\n")
    git(tmp_path / "side", "add", "-A")
    git(tmp_path / "side", "commit", "-qm", "mine")
    git(repo, "worktree", "remove", str(tmp_path / "side"))
    mine = git(repo, "rev-parse", f"codex-swarm/{first}")
    with pytest.raises(gw.GitError):
        remote.fetch_branch(repo, url, again, first)
    assert git(repo, "rev-parse", f"codex-swarm/{first}") == mine
    # A leftover checkout holding uncommitted work is never replaced.
    (path / "unsaved.txt").write_text("unsaved\n")
    remote.push_base(repo, url, mine, "dddd11112222")
    with pytest.raises(gw.GitError, match="holds work that is not on the task's branch"):
        remote.checkout_task(cache, url, "dddd11112222", trees, first)
    assert (path / "unsaved.txt").exists()


def test_a_missing_remote_says_what_to_do(tmp_path: Path) -> None:
    repo, _bare = _repo_with_remote(tmp_path)
    with pytest.raises(gw.GitError, match="--git-remote"):
        remote.resolve_remote(repo, "nosuch")
    with pytest.raises(gw.GitError, match="invalid task id"):
        remote.base_ref("../x")


def test_an_unreachable_cluster_stops_the_server_with_a_sentence(tmp_path: Path) -> None:
    refused = start_refused(
        tmp_path / "tasks", "--backend", "ray", "--ray-address", f"127.0.0.1:{free_port()}"
    )
    assert refused.returncode == 1, refused.stderr
    assert "no Ray cluster answers at 127.0.0.1:" in refused.stderr
    assert "Traceback" not in refused.stderr


class _StubRay:
    """The few calls of the ``ray`` module the backend makes about slots and stopping."""

    def __init__(self, total: float, free: float) -> None:
        self.total, self.free = total, free
        self.killed: list[object] = []

    def cluster_resources(self) -> dict[str, float]:
        return {"codex": self.total} if self.total else {}

    def available_resources(self) -> dict[str, float]:
        return {"codex": self.free} if self.free else {}

    def kill(self, handle: object, no_restart: bool = False) -> None:
        self.killed.append(handle)


def _ray_backend(tmp_path: Path, stub: _StubRay) -> tuple[object, Store]:
    from codex_mcp_swarm.engine.backends.ray import RayBackend

    settings = Settings.build(task_dir=str(tmp_path / "tasks"), backend="ray", environ={})
    store = Store(settings.task_dir)
    backend = RayBackend(store, settings, lambda _task_id: None)
    backend._ray = stub
    return backend, store


def test_what_an_unplaced_task_waits_for(tmp_path: Path) -> None:
    stub = _StubRay(total=4, free=0)
    backend, store = _ray_backend(tmp_path, stub)
    store.create("eeee11112222", spec={"task": {}}, cwd="/tmp", title="t", owner="o")
    waiting_for = backend._waiting_for  # type: ignore[attr-defined]
    assert waiting_for("eeee11112222") == "a free codex slot on the Ray cluster (all 4 are in use)"
    stub.free = 1
    assert waiting_for("eeee11112222") is None  # a slot is free: its actor is being started
    stub.total = stub.free = 0
    assert "no node offers the codex resource" in waiting_for("eeee11112222")


def test_cancel_removes_an_unplaced_actor_at_once(tmp_path: Path) -> None:
    stub = _StubRay(total=4, free=0)
    backend, store = _ray_backend(tmp_path, stub)
    store.create("ffff11112222", spec={"task": {}}, cwd="/tmp", title="t", owner="o")
    assert store.claim_queued(1) == ["ffff11112222"]
    row = store.get("ffff11112222")
    assert row is not None
    handle = object()
    backend._unplaced[row.id] = handle  # type: ignore[attr-defined]
    store.set_running(row.id, 4242, 0.0)  # Codex runs (an adopted task): the actor stays
    running = store.get(row.id)
    assert running is not None
    backend.cancel(running)  # type: ignore[attr-defined]
    assert stub.killed == []
    backend.cancel(row)  # type: ignore[attr-defined]
    assert stub.killed == [handle] and row.id in backend._removed  # type: ignore[attr-defined]


def test_status_views_say_what_a_starting_task_waits_for(tmp_path: Path) -> None:
    from codex_mcp_swarm.console.table import now_text
    from codex_mcp_swarm.engine.views import status_view
    from codex_mcp_swarm.mcp import answers, render

    why = "a free codex slot on the Ray cluster (all 4 are in use)"
    store = Store(tmp_path)
    store.create(
        "abcd11112222",
        spec={"task": {}},
        cwd="/tmp",
        title="t",
        owner="o",
        extra={"backend": "ray"},
    )
    assert store.claim_queued(1, "ray") == ["abcd11112222"]
    store.set_extra("abcd11112222", waiting_for=why)
    row = store.get("abcd11112222")
    assert row is not None
    view = status_view(row, now=1.0)
    assert view["waiting_for"] == why
    assert answers.task_answer(view)["waiting_for"] == why
    assert f"starting (waiting for {why})" in render.status_text(view)
    assert render.doing(view).startswith("starting: waiting for a free codex slot")
    assert now_text(view) == f"waiting for {why}"
    row.phase = "running"
    assert "waiting_for" not in status_view(row, now=1.0)
