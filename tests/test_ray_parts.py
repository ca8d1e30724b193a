"""The Ray backend's parts that need no cluster: settings, import isolation, and the git round
trip of a worktree task through a remote (server side and worker side, on one machine)."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import free_port, git, start_refused

from codex_mcp_swarm import git as gw
from codex_mcp_swarm.console.words import said as console_said
from codex_mcp_swarm.engine.backends.base import BackendError
from codex_mcp_swarm.engine.plan import Checkout
from codex_mcp_swarm.engine.records import ActorPayload, Node, RemoteCode, TaskExtra
from codex_mcp_swarm.engine.store import Store
from codex_mcp_swarm.git import remote
from codex_mcp_swarm.mcp.words import said as mcp_said
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
    with pytest.raises(remote.NoRemote, match="no git remote named 'nosuch'") as missing:
        remote.resolve_remote(repo, "nosuch")
    assert (missing.value.repo, missing.value.name) == (repo, "nosuch")
    again = pickle.loads(pickle.dumps(missing.value))
    assert str(again) == str(missing.value) and again.name == "nosuch"
    with pytest.raises(gw.GitError, match="invalid task id"):
        remote.base_ref("../x")


def test_a_worktree_task_without_the_remote_is_refused_in_each_face_s_words(
    tmp_path: Path,
) -> None:
    from codex_mcp_swarm.engine.backends.ray import RayBackend
    from codex_mcp_swarm.engine.errors import Code, TaskError
    from codex_mcp_swarm.engine.plan import WorktreeRequest

    repo, _bare = _repo_with_remote(tmp_path)
    settings = Settings.build(
        task_dir=str(tmp_path / "tasks"), backend="ray", git_remote="nosuch", environ={}
    )
    backend = RayBackend(Store(settings.task_dir), settings, lambda _task_id: None)
    with pytest.raises(TaskError) as refused:
        backend.make_worktree(repo, "eeee11112222", WorktreeRequest())
    assert refused.value.code is Code.GIT
    assert "no git remote named 'nosuch'" in str(refused.value)
    assert "--git-remote" not in str(refused.value)
    assert mcp_said(refused.value).endswith(
        "start the server with --git-remote URL (or CODEX_SWARM_GIT_REMOTE)."
    )
    assert "--git-remote URL" in console_said(refused.value)
    # The branch made for it is gone again.
    assert git(repo, "branch", "--list", "codex-swarm/eeee11112222") == ""


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


def test_what_an_unplaced_task_waits_for() -> None:
    from codex_mcp_swarm.engine.backends.ray_collector import waiting_for

    stub = _StubRay(total=4, free=0)
    assert waiting_for(stub, None) == "a free codex slot on the Ray cluster (all 4 are in use)"
    stub.free = 1
    assert waiting_for(stub, None) is None  # a slot is free: its actor is being started
    stub.total = stub.free = 0
    assert "no node offers the codex resource" in (waiting_for(stub, None) or "")
    # A thread's node: its own free slots, read through the module handed over.
    stub.total, stub.free = 4, 2
    per_node = {"n1": {"codex": 0.0}, "n2": {"codex": 2.0}}
    state = types.SimpleNamespace(available_resources_per_node=lambda: per_node)
    stub._private = types.SimpleNamespace(state=state)  # type: ignore[attr-defined]
    assert (waiting_for(stub, "n1") or "").startswith("a free codex slot on node n1")
    assert waiting_for(stub, "n2") is None


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
    from codex_mcp_swarm.engine.records import as_data
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
        extra=TaskExtra(backend="ray"),
    )
    assert store.claim_queued(1, "ray") == ["abcd11112222"]
    store.update_extra("abcd11112222", lambda e: dataclasses.replace(e, waiting_for=why))
    row = store.get("abcd11112222")
    assert row is not None
    view = status_view(row, now=1.0)
    assert view.waiting_for == why
    assert answers.status_answer(answers.fit_views([view], 20_000)[0])["waiting_for"] == why
    assert f"starting (waiting for {why})" in render.status_text(view)
    # One wording of "doing now" for every face (the MCP one caps it at 80 characters).
    assert render.doing(view).startswith("waiting for a free codex slot")
    assert now_text(view) == f"waiting for {why}"
    row.phase = "running"
    assert "waiting_for" not in as_data(status_view(row, now=1.0))


def test_a_running_tasks_work_travels_to_the_server_and_a_look_is_detached(
    tmp_path: Path,
) -> None:
    """The worker hands over a running task's work so far (uncommitted and untracked changes as
    one commit, its checkout untouched); a task that only looks at work (a review) gets a
    detached checkout of it, which its release removes; no private ref stays behind."""
    import threading

    from codex_mcp_swarm.engine.backends.ray_worker import TaskActor

    repo, bare = _repo_with_remote(tmp_path)
    url = remote.resolve_remote(repo, None)
    cache, trees = tmp_path / "node" / "git", tmp_path / "node" / "worktrees"
    source, look = "aaaa33334444", "bbbb33334444"
    git(repo, "branch", f"codex-swarm/{source}")
    remote.push_base(repo, url, git(repo, "rev-parse", "HEAD"), source)
    path, base = remote.checkout_task(cache, url, source, trees)
    (path / "a.txt").write_text("a, edited\n")
    (path / "new.txt").write_text("new\n")
    before = git(path, "status", "--porcelain")
    actor = object.__new__(TaskActor)  # its methods only, without starting a task
    actor.task_id = actor.branch_id = source
    actor.payload = ActorPayload(
        task_id=source, spec={}, title="", worktree=RemoteCode(url, "", source)
    )
    actor.cache, actor.worktrees, actor._checkout = cache, trees, threading.Lock()
    commit = actor.snapshot_work("cccc33334444")
    assert commit is not None and commit != base
    assert git(path, "status", "--porcelain") == before
    assert git(path, "rev-parse", "HEAD") == base
    assert remote.fetch_snapshot(repo, url, "cccc33334444") == commit
    assert git(repo, "show", f"{commit}:new.txt") == "new"
    assert git(repo, "show", f"{commit}:a.txt") == "a, edited"
    assert git(repo, "for-each-ref", "refs/codex-swarm/") == ""
    assert git(bare, "for-each-ref", "refs/codex-swarm/snap/") == ""
    # A look at that work: detached, on no branch; removed with its private ref.
    remote.push_base(repo, url, commit, look)
    seen, at = remote.checkout_task(cache, url, look, trees, detached=True)
    assert at == commit and git(seen, "rev-parse", "HEAD") == commit
    assert git(seen, "branch", "--show-current") == ""
    assert (seen / "new.txt").read_text() == "new\n"
    remote.remove_task(cache, url, look, trees)
    assert not seen.exists()
    assert f"base/{look}" not in git(remote.cache_repo(cache, url), "for-each-ref")
    # Once the task's checkout is gone there is nothing to hand over: the server takes the
    # branch it fetched.
    remote.remove_task(cache, url, source, trees)
    assert actor.snapshot_work("dddd33334444") is None


class _StubNodes:
    def __init__(self) -> None:
        self.alive = True

    def nodes(self) -> list[dict[str, object]]:
        return [{"NodeID": "n1" * 28, "Alive": self.alive}, {"NodeID": "n2" * 28, "Alive": True}]


def test_a_thread_whose_node_left_the_cluster_is_refused_with_a_sentence(tmp_path: Path) -> None:
    from codex_mcp_swarm.engine.backends.ray import RayBackend

    settings = Settings.build(task_dir=str(tmp_path / "tasks"), backend="ray", environ={})
    store = Store(settings.task_dir)
    backend = RayBackend(store, settings, lambda _task_id: None)
    stub = _StubNodes()
    backend._ray = stub
    node = Node(node_id="n1" * 28, hostname="w1", address="10.0.0.7")
    store.create(
        "eeee33334444",
        spec={"task": {}},
        cwd="/tmp",
        title="t",
        owner="o",
        extra=TaskExtra(backend="ray", node=node),
    )
    source = store.get("eeee33334444")
    assert source is not None
    backend.check_thread(source)  # its node is there: nothing to say
    thread = "0199a7c4-0000-7000-8000-000000000001"
    store.create(
        "ffff33334444",
        spec={"task": {"fork_thread_id": thread}},
        cwd="/tmp",
        title="fork",
        owner="o",
        parent_id=source.id,
    )
    fork = store.get("ffff33334444")
    assert fork is not None
    assert backend.thread_node(fork) == node.node_id  # a fork runs where the thread is
    stub.alive = False
    with pytest.raises(BackendError, match="no longer in the cluster") as refused:
        backend.check_thread(source)
    assert "w1 10.0.0.7" in str(refused.value) and "start a new task" in str(refused.value)


def test_fork_and_review_of_a_worker_checkout_look_at_its_work(tmp_path: Path) -> None:
    """Engine rules for a backend whose worktrees and session files are on workers: a review
    (and a fork without a worktree) runs in a checkout of the task's work, made by the backend;
    a thread no task ran cannot be found; a server of the other backend refuses with the
    --backend to use."""
    import dataclasses
    import uuid

    from stub_codex import write_stub

    from codex_mcp_swarm.codex.command import TaskSpec
    from codex_mcp_swarm.engine import steering
    from codex_mcp_swarm.engine.backends.base import Backend
    from codex_mcp_swarm.engine.plan import LaunchPlan
    from codex_mcp_swarm.engine.store import TaskRow
    from codex_mcp_swarm.engine.tasks import Engine, TaskError

    class Workers(Backend):
        name = "ray"
        remote_worktrees = True
        remote_sessions = True

        def launch(self, row: TaskRow, plan: LaunchPlan) -> None:
            return None

        def adopt(self, rows: list[TaskRow]) -> None:
            return None

        def cancel(self, row: TaskRow) -> None:
            return None

    repo, _bare = _repo_with_remote(tmp_path)
    settings = Settings(
        task_dir=tmp_path / "tasks",
        worktree_dir=tmp_path / "worktrees",
        codex_bin=str(write_stub(tmp_path / "bin")),
        skip_git_repo_check=True,
    )
    store = Store(settings.task_dir)
    wt = gw.create_worktree(repo, settings.worktree_dir, "aaaa55556666")
    (wt.path / "work.txt").write_text("work\n")
    tip = gw.commit_all(wt, "work")
    thread = str(uuid.uuid4())
    source_spec = TaskSpec(prompt="p", cwd=str(wt.path), sandbox="workspace-write")
    store.create(
        "aaaa55556666",
        spec={
            "task": dataclasses.asdict(source_spec),
            "launch": LaunchPlan(argv=("codex",), cwd=str(wt.path), prompt="p").to_dict(),
        },
        cwd=str(wt.path),
        title="p",
        owner="o",
        thread_id=thread,
        extra=TaskExtra(backend="ray", worktree=wt, node=Node(node_id="n1")),
    )
    assert store.claim_queued(1, "ray") == ["aaaa55556666"]
    store.finish("aaaa55556666", phase="completed", result="done")
    engine = Engine(settings, store, Workers(store, settings, lambda _task_id: None))
    review = steering.review(engine, "aaaa55556666")
    assert tip is not None
    look = Checkout(repo=str(repo), commit=tip, subdir="", of_task="aaaa55556666")
    assert review.extra.checkout == look and review.extra.worktree is None
    assert review.cwd == str(repo)
    assert review.plan.argv[-2:] == ("review", f"--base={wt.base_commit}")
    (fork,) = steering.fork(engine, "look", task_id="aaaa55556666", worktree=False)
    assert fork.extra.checkout == look and fork.parent_id == "aaaa55556666"
    assert fork.spec["task"]["sandbox"] == "read-only"
    assert fork.spec["task"]["fork_thread_id"] == thread
    with pytest.raises(TaskError, match="no task of this server ran thread"):
        steering.fork(engine, "x", thread_id=str(uuid.uuid4()))
    local = Engine(settings, store)
    with pytest.raises(TaskError, match="review it from a server of the ray backend") as other:
        steering.review(local, "aaaa55556666")
    assert mcp_said(other.value).endswith("review it from a server started with --backend ray")
    with pytest.raises(TaskError, match="fork it from a server of the ray backend") as other:
        steering.fork(local, "x", task_id="aaaa55556666")
    assert console_said(other.value).endswith("fork it from a server started with --backend ray")
