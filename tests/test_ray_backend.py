"""End to end: the swarm's tasks on a real local Ray cluster (``--backend ray``).

One cluster per module (see ``ray_cluster``): a head without CPUs or ``codex``, two worker
nodes offering ``codex: 2`` each (their own Codex home, Codex binary and node-local swarm
directory), and a node without the ``codex`` resource, all in a network namespace with only
loopback, together with the fake model and the server under test. A bare repository is the only
way code travels between the server's checkout and the workers.

The node-kill test comes last: it takes a worker away from the module's cluster.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import (
    RawServer,
    data,
    full_result,
    git,
    processes_matching,
    server_env,
    status_until,
    text,
    wait_until,
    write_codex_home,
)
from fake_model import script
from mcp import Client, StdioServerParameters
from ray_cluster import RayCluster

# One cluster for the module: under pytest-xdist every test of it runs in the same worker.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600), pytest.mark.xdist_group("ray")]

WORKERS = ("w1", "w2")


class RayEnv:
    def __init__(self, root: Path, cluster: RayCluster, codex: str) -> None:
        self.root = root
        self.cluster = cluster
        self.codex = codex
        self.worker_dirs = {name: root / f"{name}-swarm" for name in (*WORKERS, "plain")}

    def tasks_on(self, name: str) -> set[str]:
        tasks = self.worker_dirs[name] / "tasks" / "tasks"
        return {p.name for p in tasks.iterdir()} if tasks.is_dir() else set()

    def node_of(self, task_id: str) -> str | None:
        return next((n for n in self.worker_dirs if task_id in self.tasks_on(n)), None)


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory, codex: str) -> Iterator[RayEnv]:
    if os.geteuid() != 0:
        pytest.fail("the Ray tests run their cluster in a network namespace: run them as root")
    root = tmp_path_factory.mktemp("ray")
    cluster = RayCluster(root)
    env = RayEnv(root, cluster, codex)
    try:
        cluster.start_namespace()
        model_url = cluster.start_model()
        cluster.start_head()
        for name, slots in (("w1", 2), ("w2", 2), ("plain", None)):
            home = root / f"{name}-home"
            home.mkdir()
            cluster.add_worker(
                name,
                codex=slots,
                env={
                    "HOME": str(home),
                    "CODEX_HOME": str(write_codex_home(root / f"{name}-codex-home", model_url)),
                    "CODEX_SWARM_CODEX_BIN": codex,
                    "CODEX_SWARM_WORKER_DIR": str(env.worker_dirs[name]),
                    "MOCK_API_KEY": "test-key",
                },
            )
        yield env
    finally:
        cluster.stop()


@pytest.fixture
def origin_repo(tmp_path: Path) -> tuple[Path, Path]:
    """The user's checkout and the bare repository that is its ``origin``."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    (path / "shared.txt").write_text("line one\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    git(path, "remote", "add", "origin", str(bare))
    git(path, "push", "-q", "origin", "main")
    return path, bare


def server_argv(env: RayEnv, *flags: str) -> list[str]:
    return [
        *env.cluster.prefix(),
        sys.executable,
        "-m",
        "codex_mcp_swarm",
        "--skip-git-repo-check",
        "--backend",
        "ray",
        "--ray-address",
        env.cluster.address,
        "--max-parallel",
        "4",
        *flags,
    ]


def swarm_env(env: RayEnv, task_dir: Path) -> dict[str, str]:
    return {
        **server_env(env.codex, env.root / "w1-codex-home", task_dir),
        "RAY_USAGE_STATS_ENABLED": "0",
    }


@asynccontextmanager
async def ray_swarm(env: RayEnv, task_dir: Path, cwd: Path, *flags: str) -> AsyncIterator[Client]:
    argv = server_argv(env, *flags)
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env=swarm_env(env, task_dir), cwd=str(cwd)
    )
    async with Client(params, mode="auto") as client:
        yield client


async def start(client: Client, prompt: str, cwd: Path, **args: Any) -> str:
    result = await client.call_tool(
        "codex_async", {"prompt": prompt, "cwd": str(cwd), "sandbox": "workspace-write", **args}
    )
    assert not result.is_error, text(result)
    return str(data(result)["task_id"])


async def wait_full(client: Client, ids: list[str], timeout: float) -> dict[str, Any]:
    """codex_wait, then every task's whole record (the compact answer leaves details out)."""
    done = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": timeout}))
    return {"done": done["done"], "tasks": [await full_result(client, i) for i in ids]}


async def status(client: Client, task_id: str) -> dict[str, Any]:
    answer = data(await client.call_tool("codex_status", {"task_ids": [task_id]}))
    return dict(answer["tasks"][0])


async def until_running(client: Client, task_id: str, timeout: float = 180) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            view = await status(client, task_id)
            assert view["status"] in ("queued", "starting", "running"), view
            if view["status"] == "running" and view.get("node"):
                return view
            await anyio.sleep(0.3)


def gone(marker: str) -> bool:
    return not processes_matching(marker)


def write(path: str, content: str) -> dict[str, Any]:
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


async def test_worktree_tasks_spread_over_both_workers_and_merge(
    ray_env: RayEnv, origin_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, bare = origin_repo
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", repo) as client:
        ids = [
            await start(
                client,
                script(write(f"file{i}.txt", f"work {i}"), {"message": f"done {i}"}, text=f"T{i}"),
                repo,
                worktree=True,
            )
            for i in range(8)
        ]
        done = await wait_full(client, ids, 400)
        for i, task in enumerate(done["tasks"]):
            assert task["status"] == "completed", task
            assert task["content"] == f"done {i}"
            assert task["node"]["node_id"], task
            wt = task["worktree"]
            assert [f["path"] for f in wt["files"]] == [f"file{i}.txt"], wt
            assert wt["merges_cleanly"] is True
        # Spread over both codex workers; never on the node without the resource.
        assert ray_env.tasks_on("w1") & set(ids) and ray_env.tasks_on("w2") & set(ids)
        assert not ray_env.tasks_on("plain")
        assert len({t["node"]["node_id"] for t in done["tasks"]}) == 2
        result = await client.call_tool("codex_status", {"task_ids": ids[:1]})
        assert "node:" in text(result)
        # The work is on the user's machine: diff and merge work as locally.
        diff = data(await client.call_tool("codex_diff", {"task_id": ids[0]}))
        assert "work 0" in json.dumps(diff)
        for task_id in ids:
            merged = await client.call_tool("codex_merge", {"task_id": task_id})
            assert not merged.is_error, text(merged)
        for i in range(8):
            assert (repo / f"file{i}.txt").read_text() == f"work {i}\n"
        cleaned = await client.call_tool("codex_cleanup", {"task_id": ids[0]})
        assert not cleaned.is_error, text(cleaned)
        assert data(cleaned)["cleaned"][0]["deleted_branch"] is True, data(cleaned)
    # The private base refs are gone from the remote once the branches were fetched.
    assert git(bare, "for-each-ref", "refs/codex-swarm/") == ""


async def test_cancel_stops_codex_on_the_worker(ray_env: RayEnv, tmp_path: Path) -> None:
    """One task cancelled through the server (codex_cancel), one through the store's flag alone
    (the console's cancel, another process): both stop their whole tree on the worker."""
    markers = [f"ray-cancel-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    workdir = tmp_path / "shared"
    workdir.mkdir()
    task_dir = tmp_path / "state" / "tasks"
    async with ray_swarm(ray_env, task_dir, workdir) as client:
        ids = [
            await start(client, script({"shell": f"sleep 300 # {marker}"}), workdir)
            for marker in markers
        ]
        for task_id, marker in zip(ids, markers, strict=True):
            await until_running(client, task_id)
            wait_until(functools.partial(processes_matching, marker), timeout=120)
            # Progress reaches this server while the task runs on the worker.
            with anyio.fail_after(30):
                while marker not in json.dumps((await status(client, task_id)).get("last_tool")):
                    await anyio.sleep(0.3)
        result = await client.call_tool("codex_cancel", {"task_id": ids[0]})
        assert not result.is_error, text(result)
        console = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                [sys.executable, "-m", "codex_mcp_swarm", "cancel", ids[1]],
                env={**os.environ, **swarm_env(ray_env, task_dir)},
                capture_output=True,
                text=True,
                timeout=120,
            )
        )
        assert console.returncode == 0, console.stdout + console.stderr
        done = await wait_full(client, ids, 60)
        assert [t["status"] for t in done["tasks"]] == ["cancelled", "cancelled"], done
    for marker in markers:
        wait_until(functools.partial(gone, marker), timeout=30)


async def test_a_cwd_missing_on_the_workers_fails_with_the_reason(
    ray_env: RayEnv, tmp_path: Path
) -> None:
    here = tmp_path / "only-here"
    here.mkdir()
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", here) as client:
        task_id = await start(client, "hello", here)
        # The workers share this machine's filesystem: remove the directory to play a worker
        # that does not have it.
        here.rmdir()
        done = await wait_full(client, [task_id], 120)
        task = done["tasks"][0]
        assert task["status"] == "failed", task
        assert "does not exist on worker" in task["error"]


class NsRawServer(RawServer):
    """RawServer, started inside the cluster's network namespace with the Ray backend."""

    def __init__(self, env: RayEnv, task_dir: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            server_argv(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **swarm_env(env, task_dir)},
            cwd=cwd,
        )
        self.era = "2025-11-25"
        self.extensions = {}
        self.next_id = 1
        self.notifications = []
        self.initialize = self.request(
            "initialize",
            {
                "protocolVersion": self.era,
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


async def test_server_killed_mid_task_then_adopted(ray_env: RayEnv, tmp_path: Path) -> None:
    workdir = tmp_path / "shared"
    workdir.mkdir()
    task_dir = tmp_path / "state" / "tasks"
    with NsRawServer(ray_env, task_dir, workdir) as server:
        answer = server.call(
            "codex_async",
            {
                "prompt": script({"shell": "sleep 4"}, {"message": "finished while away"}),
                "cwd": str(workdir),
            },
        )
        task_id = answer["task_id"]
        with anyio.fail_after(180):
            while (
                server.call("codex_status", {"task_ids": [task_id]})["tasks"][0]["status"]
                != "running"
            ):
                await anyio.sleep(0.3)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
    async with ray_swarm(ray_env, task_dir, workdir) as client:
        done = await wait_full(client, [task_id], 120)
        task = done["tasks"][0]
        assert task["status"] == "completed", task
        assert task["content"] == "finished while away"
    # Every raw event reached this server's store.
    events = (task_dir / "tasks" / task_id / "events.jsonl").read_text()
    assert "turn.completed" in events, events


async def test_a_reply_runs_on_the_node_that_holds_the_thread(
    ray_env: RayEnv, tmp_path: Path
) -> None:
    workdir = tmp_path / "shared"
    workdir.mkdir()
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", workdir) as client:
        first = await start(client, script({"message": "first answer"}), workdir)
        done = await wait_full(client, [first], 120)
        task = done["tasks"][0]
        assert task["status"] == "completed", task
        thread, node = task["threadId"], task["node"]["node_id"]
        for i in range(2):  # Codex resumes from session files only that node has
            reply = await client.call_tool(
                "codex_reply", {"threadId": thread, "prompt": f"again {i}", "async": True}
            )
            assert not reply.is_error, text(reply)
            task_id = data(reply)["task_id"]
            done = await wait_full(client, [task_id], 120)
            task = done["tasks"][0]
            assert task["status"] == "completed", task
            assert task["threadId"] == thread and task["node"]["node_id"] == node


async def test_uncommitted_changes_travel_and_a_reply_continues_the_branch(
    ray_env: RayEnv, origin_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    """include_uncommitted: the snapshot of this checkout's uncommitted changes reaches the
    worker's worktree and the task's branch (the diff shows only the agent's work; the checkout
    is untouched). Then, as locally, a reply continues the thread in the same worktree directory
    (on the node that holds the thread) and on the same branch, starting from the branch as it
    is here (with a commit added meanwhile), and its work comes back on that branch."""
    repo, bare = origin_repo
    (repo / "pkg").mkdir()
    (repo / "pkg" / "keep.txt").write_text("keep\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pkg")
    (repo / "pkg" / "keep.txt").write_text("keep\nedited, not committed\n")
    (repo / "pkg" / "new.txt").write_text("untracked\n")
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", repo) as client:
        first_id = await start(
            client,
            script(
                {"shell": "pwd > where1.txt; cat keep.txt new.txt > seen1.txt"},
                {"message": "first"},
                text="F",
            ),
            repo / "pkg",
            worktree=True,
            include_uncommitted=True,
        )
        first = (await wait_full(client, [first_id], 120))["tasks"][0]
        assert first["status"] == "completed", first
        wt = first["worktree"]
        branch = wt["branch"]
        assert wt["carried_commit"] and wt["base_commit"] == wt["carried_commit"], wt
        assert {f["path"] for f in wt["files"]} == {"pkg/where1.txt", "pkg/seen1.txt"}, wt
        seen = "keep\nedited, not committed\nuntracked"
        assert git(repo, "show", f"{branch}:pkg/seen1.txt") == seen
        assert git(repo, "status", "--porcelain") == "M pkg/keep.txt\n?? pkg/new.txt"
        # Meanwhile someone adds a commit to the task's branch on this machine.
        side = tmp_path / "side"
        git(repo, "worktree", "add", "-q", str(side), branch)
        (side / "pkg" / "mine.txt").write_text("mine\n")
        git(side, "add", "-A")
        git(side, "commit", "-qm", "mine")
        git(repo, "worktree", "remove", str(side))
        mine = git(repo, "rev-parse", branch)
        reply = await client.call_tool(
            "codex_reply",
            {
                "threadId": first["threadId"],
                "prompt": script(
                    {"shell": "pwd > where2.txt; cat mine.txt > seen2.txt"},
                    {"message": "second"},
                    text="S",
                ),
                "async": True,
            },
        )
        assert not reply.is_error, text(reply)
        reply_id = data(reply)["task_id"]
        second = (await wait_full(client, [reply_id], 120))["tasks"][0]
        assert second["status"] == "completed", second
        assert second["content"] == "second"
        assert second["threadId"] == first["threadId"]
        assert second["node"]["node_id"] == first["node"]["node_id"]
        assert second["worktree"]["branch"] == branch
        files = {f["path"] for f in second["worktree"]["files"]}
        assert files == {f"pkg/{n}.txt" for n in ("where1", "seen1", "mine", "where2", "seen2")}
        # The branch here moved forward: the commit added meanwhile is kept, under the reply's.
        git(repo, "merge-base", "--is-ancestor", mine, branch)
        assert git(repo, "show", f"{branch}:pkg/seen2.txt") == "mine"
        where = git(repo, "show", f"{branch}:pkg/where1.txt")
        assert git(repo, "show", f"{branch}:pkg/where2.txt") == where
        node = ray_env.node_of(first_id)
        assert node is not None and where.startswith(str(ray_env.worker_dirs[node]))
        assert reply_id in ray_env.tasks_on(node)
        diff = data(await client.call_tool("codex_diff", {"task_id": reply_id}))
        assert "pkg/seen2.txt" in json.dumps(diff)
        git(repo, "stash", "-u", "-q")  # a clean checkout to merge into
        merged = await client.call_tool("codex_merge", {"task_id": reply_id})
        assert not merged.is_error, text(merged)
    assert (repo / "pkg" / "seen2.txt").read_text() == "mine\n"
    assert git(bare, "for-each-ref", "refs/codex-swarm/base/") == ""


async def test_fork_and_review_of_a_running_worktree_task_on_the_cluster(
    ray_env: RayEnv, origin_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    """As locally: a fork of a running worktree task continues a copy of its thread on the node
    that holds it, on its own branch starting from the source's work so far (snapshotted on the
    worker, the source undisturbed), measured from the source's base; a review of the running
    task and one of the finished fork see each one's diff against its base, in checkouts made on
    a worker, and answer as locally. A thread no task ran is refused with a sentence."""
    repo, bare = origin_repo
    marker = f"ray-fork-{uuid.uuid4().hex[:8]}"
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", repo) as client:
        source_id = await start(
            client,
            script(
                {"shell": "printf 'source\\n' > source.txt"},
                {"shell": f"sleep 300 # {marker}"},
                {"delay": 300},  # Codex yields a long command after a while: keep the turn
                text="SOURCE",
            ),
            repo,
            worktree=True,
        )
        await until_running(client, source_id)
        with anyio.fail_after(60):  # source.txt is written, not committed: the sleep runs
            while marker not in json.dumps((await status(client, source_id)).get("last_tool")):
                await anyio.sleep(0.3)
        forked = await client.call_tool(
            "codex_fork",
            {
                "task_id": source_id,
                "prompt": script(
                    {"shell": "cat source.txt > fork.txt"}, {"message": "forked"}, text="FORK"
                ),
            },
        )
        assert not forked.is_error, text(forked)
        fork_id = data(forked)["tasks"][0]["task_id"]
        reviewing = await client.call_tool("codex_review", {"task_id": source_id, "async": True})
        assert not reviewing.is_error, text(reviewing)
        review_id = data(reviewing)["task_id"]
        done = await wait_full(client, [fork_id, review_id], 120)
        fork, review = done["tasks"]
        source = await status(client, source_id)
        assert source["status"] == "running", source  # undisturbed
        assert fork["status"] == "completed" and fork["content"] == "forked", fork
        assert fork["threadId"] and fork["threadId"] != source["threadId"]
        assert fork["node"]["node_id"] == source["node"]["node_id"]
        wt = fork["worktree"]
        assert wt["branch"] == f"codex-swarm/{fork_id}"
        assert sorted(f["path"] for f in wt["files"]) == ["fork.txt", "source.txt"], wt
        assert git(repo, "show", f"{wt['branch']}:fork.txt") == "source"
        assert git(repo, "rev-parse", f"codex-swarm/{source_id}") == git(repo, "rev-parse", "main")
        assert review["status"] == "completed", review
        assert "[P2] Check source.txt" in review["content"], review["content"]
        assert review["worktree"] is None and review["node"]
        cancelled = await client.call_tool("codex_cancel", {"task_id": source_id})
        assert not cancelled.is_error, text(cancelled)
        # A review of the finished fork answers as locally (it waits for the findings).
        answer = await client.call_tool("codex_review", {"task_id": fork_id})
        assert not answer.is_error, text(answer)
        out = data(answer)
        assert out["task_id"] not in (fork_id, review_id) and out["status"] == "completed"
        assert "[P2] Check fork.txt" in out["content"], out["content"]
        assert "[P2] Check source.txt" in out["content"], out["content"]
        unknown = await client.call_tool(
            "codex_fork", {"threadId": str(uuid.uuid4()), "prompt": "x"}
        )
        assert unknown.is_error and "no task of this server ran thread" in text(unknown)
    for task_id in (review_id, out["task_id"]):  # their checkouts went with them
        node = ray_env.node_of(task_id)
        assert node is not None
        assert not (ray_env.worker_dirs[node] / "worktrees" / task_id).exists()
    assert git(bare, "for-each-ref", "refs/codex-swarm/") == ""
    wait_until(functools.partial(gone, marker), timeout=30)


def console(
    env: RayEnv, task_dir: Path, cwd: Path, *words: str, ray: bool = True
) -> subprocess.CompletedProcess[str]:
    """A console command in the cluster's namespace, on the Ray server's task dir (with
    ``ray``: as a Ray engine, ``--backend ray --ray-address ...``)."""
    flags = ["--backend", "ray", "--ray-address", env.cluster.address] if ray else []
    return subprocess.run(
        [*env.cluster.prefix(), sys.executable, "-m", "codex_mcp_swarm", *words, *flags],
        env={**os.environ, **swarm_env(env, task_dir)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_console_commands_with_the_ray_backend(
    ray_env: RayEnv, origin_repo: tuple[Path, Path], tmp_path: Path
) -> None:
    """Beside a Ray server on the same task dir: ``run --backend ray`` runs a prompt on the
    cluster from the shell (a worktree task: its branch comes back here); ``tasks`` and ``show``
    read the cluster's tasks with their node; ``cancel --backend ray`` stops a task the server
    started, on its worker."""
    repo, _bare = origin_repo
    marker = f"ray-console-{uuid.uuid4().hex[:8]}"
    task_dir = tmp_path / "state" / "tasks"
    async with ray_swarm(ray_env, task_dir, repo) as client:
        long_id = await start(
            client, script({"shell": f"sleep 300 # {marker}"}, {"delay": 300}), repo
        )
        prompt = script({"shell": "printf 'shell\\n' > shell.txt"}, {"message": "from the shell"})
        run = functools.partial(
            console,
            ray_env,
            task_dir,
            repo,
            "run",
            prompt,
            "--worktree",
            "--sandbox",
            "workspace-write",
            "--json",
        )
        ran = await anyio.to_thread.run_sync(run)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        (result,) = json.loads(ran.stdout)
        assert result["status"] == "completed" and result["content"] == "from the shell", result
        assert result["node"]["node_id"], result
        branch = result["worktree"]["branch"]
        assert git(repo, "show", f"{branch}:shell.txt") == "shell"
        assert "shell.txt" in result["diffstat"]
        run_id = result["task_id"]
        await until_running(client, long_id)
        shown = console(ray_env, task_dir, repo, "tasks", "--json", ray=False)
        assert shown.returncode == 0, shown.stderr
        listed = {t["task_id"]: t for t in json.loads(shown.stdout)}
        assert listed[run_id]["status"] == "completed" and listed[run_id]["node"]
        assert listed[long_id]["status"] == "running" and listed[long_id]["node"]
        shown = console(ray_env, task_dir, repo, "show", run_id, ray=False)
        assert shown.returncode == 0, shown.stderr
        assert "from the shell" in shown.stdout and branch in shown.stdout
        assert f"node      {result['node']['hostname']}" in shown.stdout, shown.stdout
        cancel = functools.partial(console, ray_env, task_dir, repo, "cancel", long_id)
        stopped = await anyio.to_thread.run_sync(cancel)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert (await status(client, long_id))["status"] == "cancelled"
    wait_until(functools.partial(gone, marker), timeout=30)


async def test_a_task_waiting_for_a_codex_slot_says_so_and_is_cancelled_at_once(
    ray_env: RayEnv, tmp_path: Path
) -> None:
    """Five tasks for the cluster's four codex slots: the fifth's actor waits to be placed. Its
    status says what it waits for; a cancel removes it at once, and it never runs, not even
    once the slots are free again."""
    marker = f"ray-slots-{uuid.uuid4().hex[:8]}"
    workdir = tmp_path / "shared"
    workdir.mkdir()
    async with ray_swarm(
        ray_env, tmp_path / "state" / "tasks", workdir, "--max-parallel", "5"
    ) as client:
        busy = [
            await start(client, script({"shell": f"sleep 300 # {marker}"}), workdir)
            for _ in range(4)
        ]
        for task_id in busy:
            await until_running(client, task_id)
        pending = await start(client, script({"message": "never"}), workdir)
        with anyio.fail_after(30):
            while not (view := await status(client, pending)).get("waiting_for"):
                assert view["status"] in ("queued", "starting"), view
                await anyio.sleep(0.3)
        assert view["status"] == "starting"
        assert view["waiting_for"] == "a free codex slot on the Ray cluster (all 4 are in use)"
        shown = await client.call_tool("codex_status", {"task_ids": [pending]})
        assert "starting (waiting for a free codex slot" in text(shown)
        with anyio.fail_after(5):  # at once: not when a slot frees up
            cancelled = await client.call_tool("codex_cancel", {"task_id": pending})
        assert not cancelled.is_error, text(cancelled)
        assert data(cancelled)["status"] == "cancelled", data(cancelled)
        async with anyio.create_task_group() as group:
            for task_id in busy:
                group.start_soon(client.call_tool, "codex_cancel", {"task_id": task_id})
        done = await wait_full(client, busy, 60)
        assert {t["status"] for t in done["tasks"]} == {"cancelled"}, done
        await anyio.sleep(3)  # free slots now: an actor still waiting would be placed
        view = await status(client, pending)
        assert view["status"] == "cancelled" and "waiting_for" not in view, view
        assert "before it started" in view["error"]
    assert ray_env.node_of(pending) is None  # no worker ever saw it
    wait_until(functools.partial(gone, marker), timeout=30)


async def test_a_killed_worker_node_loses_its_task_or_retries_it(
    ray_env: RayEnv, tmp_path: Path
) -> None:
    """Four tasks fill the four codex slots (two per node). Killing the node of the one without
    retries makes it lost, and the other task on that node (retries: 1) starts again on the
    surviving node once a slot is free there, and completes."""
    marker = f"ray-node-kill-{uuid.uuid4().hex[:8]}"
    workdir = tmp_path / "shared"
    workdir.mkdir()
    async with ray_swarm(ray_env, tmp_path / "state" / "tasks", workdir) as client:
        doomed = await start(client, script({"shell": f"sleep 300 # {marker}"}), workdir)
        others = [
            await start(
                client,
                script({"shell": "sleep 20"}, {"message": f"survived {i}"}, text=f"R{i}"),
                workdir,
                retries=1,
            )
            for i in range(3)
        ]
        for task_id in (doomed, *others):
            await until_running(client, task_id)
        wait_until(lambda: processes_matching(marker), timeout=120)
        # The thread id reaches this server with the worker's progress, up to a poll (about a
        # second) after Codex started the thread, possibly after the command above: the node
        # dies only once the server has it (a lost task keeps what it had, and a thread id is
        # never taken back).
        await status_until(client, doomed, lambda view: view.get("threadId"), timeout=60)
        node = ray_env.node_of(doomed)
        assert node in WORKERS, node
        neighbour = next(t for t in others if ray_env.node_of(t) == node)
        ray_env.cluster.kill_node(node)
        done = await wait_full(client, [doomed], 180)
        task = done["tasks"][0]
        assert task["status"] == "lost", task
        assert "Ray worker" in task["error"]
        wait_until(lambda: not processes_matching(marker), timeout=30)
        done = await wait_full(client, others, 300)
        for i, task in enumerate(done["tasks"]):
            assert task["status"] == "completed", task
            assert task["content"] == f"survived {i}"
        moved = next(t for t in done["tasks"] if t["task_id"] == neighbour)
        assert any("started again on another node" in w for w in moved["warnings"]), moved
        survivor = next(n for n in WORKERS if n != node)
        assert neighbour in ray_env.tasks_on(survivor)
        # Only the dead node had the lost task's session files: a fork or reply is refused.
        thread = (await full_result(client, doomed))["threadId"]
        assert thread
        forked = await client.call_tool("codex_fork", {"task_id": doomed, "prompt": "again"})
        assert forked.is_error and "no longer in the cluster" in text(forked), text(forked)
        reply = await client.call_tool("codex_reply", {"threadId": thread, "prompt": "again"})
        assert reply.is_error and "no longer in the cluster" in text(reply), text(reply)
