"""The engine against a stub Codex: launch, queue, wait, cancel, several engines on one task dir.

Fast (seconds): no model, no MCP. The real Codex CLI is exercised by the end-to-end tests.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from stub_codex import write_stub

from codex_mcp_swarm.codex.command import TaskSpec
from codex_mcp_swarm.engine import procs
from codex_mcp_swarm.engine.backends.base import Backend
from codex_mcp_swarm.engine.plan import LaunchPlan
from codex_mcp_swarm.engine.store import Store, TaskRow
from codex_mcp_swarm.engine.tasks import Engine, TaskError
from codex_mcp_swarm.mcp.words import said as mcp_said
from codex_mcp_swarm.settings import Settings

pytestmark = pytest.mark.anyio


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    stub = write_stub(tmp_path / "bin")
    values: dict[str, object] = {
        "task_dir": tmp_path / "tasks",
        "worktree_dir": tmp_path / "worktrees",
        "codex_bin": str(stub),
        "skip_git_repo_check": True,
        "max_parallel": 16,
        "cancel_grace": 2.0,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def spec(tmp_path: Path, prompt: str = "hello") -> TaskSpec:
    return TaskSpec(prompt=prompt, cwd=str(tmp_path))


async def test_launch_and_wait(tmp_path: Path) -> None:
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path))
        rows, done = await engine.wait([row.id], timeout=60)
    assert done
    assert rows[0].phase == "completed", rows[0].error
    assert rows[0].result == "stub"
    assert rows[0].exit_code == 0


async def test_failed_turn_is_failed(tmp_path: Path) -> None:
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: fail"))
        rows, _ = await engine.wait([row.id], timeout=60)
    assert rows[0].phase == "failed"
    assert "stub failure" in (rows[0].error or "")


async def test_queue_holds_the_limit(tmp_path: Path) -> None:
    async with Engine(settings_for(tmp_path, max_parallel=2)) as engine:
        ids = [(await engine.launch(spec(tmp_path, f"t{i}\nSTUB: sleep 0.3"))).id for i in range(6)]
        peak = 0
        with anyio.fail_after(60):
            while True:
                rows = await engine.get_many(ids)
                peak = max(peak, sum(r.phase in ("starting", "running") for r in rows))
                if all(r.terminal for r in rows):
                    break
                await anyio.sleep(0.02)
    assert peak <= 2
    assert [r.phase for r in rows] == ["completed"] * 6


async def test_cancel_stops_the_whole_tree(tmp_path: Path) -> None:
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: sleep 300"))
        with anyio.fail_after(30):
            while (await engine.get(row.id)).phase != "running":
                await anyio.sleep(0.02)
        running = await engine.get(row.id)
        codex = procs.same_process(running.codex_pid, running.codex_ctime)
        assert codex is not None
        tree = [codex, *procs.descendants(codex.pid)]
        ended = await engine.cancel(row.id)
    assert ended.phase == "cancelled"
    _gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    # The runner records the end, then exits: it is gone moments after the end is recorded.
    runner = procs.same_process(running.runner_pid, running.runner_ctime)
    if runner is not None:
        _gone, alive = psutil.wait_procs([runner], timeout=10)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


async def test_cancel_a_queued_task(tmp_path: Path) -> None:
    async with Engine(settings_for(tmp_path, max_parallel=1)) as engine:
        first = await engine.launch(spec(tmp_path, "a\nSTUB: sleep 300"))
        queued = await engine.launch(spec(tmp_path, "b"))
        row = await engine.request_cancel(queued.id)
        assert row.phase == "cancelled"
        await engine.cancel(first.id)


async def test_runner_outlives_the_engine(tmp_path: Path) -> None:
    """Stopping the engine (the fork server goes with it) leaves the runner running; a new
    engine adopts the task and sees its real end."""
    settings = settings_for(tmp_path)
    async with Engine(settings) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: sleep 1"))
        with anyio.fail_after(30):
            while (await engine.get(row.id)).phase != "running":
                await anyio.sleep(0.02)
    running = Store(settings.task_dir).get(row.id)
    assert running is not None and not running.terminal
    assert procs.same_process(running.runner_pid, running.runner_ctime) is not None
    async with Engine(settings) as engine:
        rows, done = await engine.wait([row.id], timeout=60)
    assert done and rows[0].phase == "completed"


async def test_runner_is_not_a_child_of_the_server(tmp_path: Path) -> None:
    """A runner lives in its own session, detached from the server (and the fork server)."""
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: sleep 300"))
        try:
            with anyio.fail_after(30):
                while (await engine.get(row.id)).runner_pid is None:
                    await anyio.sleep(0.02)
            runner = psutil.Process((await engine.get(row.id)).runner_pid)
            assert os.getsid(runner.pid) != os.getsid(0)
            # The fork server's intermediate child exits right after it answers; from then on
            # the runner is nobody's child here (a moment before, it is that child's).
            with anyio.fail_after(30):
                while runner.pid in {p.pid for p in psutil.Process().children(recursive=True)}:
                    await anyio.sleep(0.02)
        finally:
            await engine.cancel(row.id)  # nothing of the test keeps running, pass or fail


@pytest.mark.parametrize("round_", range(2))
async def test_engines_sharing_a_task_dir_lose_nothing(tmp_path: Path, round_: int) -> None:
    """Hundreds of launches while other engines watch the same task dir: every task completes
    (none failed with EAGAIN on its lock, none marked lost by another engine)."""
    settings = settings_for(tmp_path, max_parallel=16)
    async with AsyncExitStack() as stack:
        engines = [
            await stack.enter_async_context(Engine(settings, Store(settings.task_dir)))
            for _ in range(4)
        ]
        launcher = engines[0]
        ids = [(await launcher.launch(spec(tmp_path, f"task {i}"))).id for i in range(150)]
        rows, done = await launcher.wait(ids, timeout=240)
    assert done
    bad = [(r.id, r.phase, r.error) for r in rows if r.phase != "completed"]
    assert bad == []


async def test_a_claimed_task_whose_server_died_is_started_again(tmp_path: Path) -> None:
    """A server claimed a task (phase 'starting') and died before its runner existed: nothing
    ran, so the next server puts it back in the queue and runs it (it is not 'lost')."""
    settings = settings_for(tmp_path)
    store = Store(settings.task_dir)
    async with Engine(settings, store) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: sleep 300"))
        await engine.cancel(row.id)  # the first engine only records tasks here
    orphan = Engine(settings, Store(settings.task_dir))
    claimed = await orphan.launch(spec(tmp_path, "orphaned claim"))
    await orphan.backend.stop()  # the server is gone, and its fork server with it
    assert store.claim_queued(16) == [claimed.id]
    with store._tx() as db:  # claimed long ago by a server that is gone
        db.execute("UPDATE tasks SET started_at = started_at - 60 WHERE id = ?", (claimed.id,))
    async with Engine(settings, Store(settings.task_dir)) as engine:
        rows, done = await engine.wait([claimed.id], timeout=60)
    assert done and rows[0].phase == "completed", rows[0].error


async def test_tasks_do_not_start_a_nested_swarm_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's Codex config lists this server (as the README says to): each task's Codex
    would start one of its own, so tasks disable it (only servers the config defines: Codex
    refuses to disable an unknown one)."""
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[mcp_servers.codex-swarm]\ncommand = "/opt/codex-mcp-swarm/scripts/start"\n'
        "required = true\n\n"
        '[mcp_servers.other]\ncommand = "npx"\nargs = ["some-server"]\n\n'
        '[mcp_servers.swarm2]\ncommand = "uvx"\nargs = ["codex-mcp-swarm"]\nenabled = false\n'
    )
    monkeypatch.setenv("CODEX_HOME", str(home))
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path))
        await engine.wait([row.id], timeout=60)
    argv = row.plan.argv
    assert "--config=mcp_servers.codex-swarm.enabled=false" in argv
    assert not [a for a in argv if "mcp_servers.other" in a or "mcp_servers.swarm2" in a]


async def test_a_lost_fork_server_answer_never_starts_a_second_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server forked the runner but its answer never came: the task must not get a
    second runner (it would run twice). Adoption finds the runner by its lock and reports
    its real end."""
    from codex_mcp_swarm.engine.backends import local
    from codex_mcp_swarm.engine.forkserver import ForkServer, ForkServerError

    real_spawn = ForkServer.spawn

    def spawn_then_lose_the_answer(self: ForkServer, *args: Any) -> int:
        real_spawn(self, *args)
        raise ForkServerError("no answer", maybe_started=True)

    monkeypatch.setattr(ForkServer, "spawn", spawn_then_lose_the_answer)
    monkeypatch.setattr(local, "STARTING_GRACE", 0.5)
    settings = settings_for(tmp_path)
    async with Engine(settings) as engine:
        if not sys.platform.startswith("linux"):  # allowed: macOS has no fork server by design
            pytest.skip("runners are spawned, not forked, on this platform")
        assert isinstance(engine.backend, local.LocalBackend) and engine.backend._forks is not None
        row = await engine.launch(spec(tmp_path, "once\nSTUB: sleep 1"))
        rows, done = await engine.wait([row.id], timeout=60)
    assert done and rows[0].phase == "completed", rows[0].error
    events = Store(settings.task_dir).events_path(row.id).read_text()
    assert events.count('"turn.completed"') == 1, "one runner ran the task"


class RecordingClusterBackend(Backend):
    """Named like the Ray backend; starts nothing, only records which tasks it was given."""

    name = "ray"

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings, lambda _task_id: None)
        self.launched: list[str] = []

    def launch(self, row: TaskRow, plan: LaunchPlan) -> None:
        self.launched.append(row.id)

    def adopt(self, rows: list[TaskRow]) -> None:
        return None

    def cancel(self, row: TaskRow) -> None:
        return None


async def test_an_engine_claims_only_the_queued_tasks_of_its_own_backend(tmp_path: Path) -> None:
    """A console command's local engine shares the task dir with a Ray server: it never runs
    the cluster's queued tasks here, and the cluster's tasks do not count against its limit
    (each backend has its own queue and limit)."""
    settings = settings_for(tmp_path, max_parallel=2)
    store = Store(settings.task_dir)
    backend = RecordingClusterBackend(store, settings)
    cluster = Engine(settings, store, backend)
    remote = [(await cluster.launch(spec(tmp_path, f"cluster {i}"))).id for i in range(3)]
    queued = store.get_many(remote)
    assert [store.queue_position(queued[r]) for r in remote] == [1, 2, 3]
    async with Engine(settings, Store(settings.task_dir)) as local:
        mine = [(await local.launch(spec(tmp_path, f"here {i}"))).id for i in range(3)]
        assert store.queue_position(await local.get(mine[2])) in (1, 2, 3)  # its own queue
        rows, done = await local.wait(mine, timeout=60)
        assert done and [r.phase for r in rows] == ["completed"] * 3
        assert {r.phase for r in store.get_many(remote).values()} == {"queued"}
        async with cluster:  # the cluster's engine claims its own, up to its limit
            with anyio.fail_after(30):
                while len(backend.launched) < 2:
                    await anyio.sleep(0.02)
            # Two cluster tasks hold the cluster's limit: local tasks still start here.
            late = await local.launch(spec(tmp_path, "here again"))
            rows, done = await local.wait([late.id], timeout=60)
            assert done and rows[0].phase == "completed", rows[0].error
    assert backend.launched == remote[:2]
    last = store.get(remote[2])
    assert last is not None and last.phase == "queued" and store.queue_position(last) == 1


async def test_a_reply_needs_the_backend_that_ran_its_thread(tmp_path: Path) -> None:
    """The thread's session files are where its backend ran it: a server of the other backend
    (sharing the task dir) refuses the reply and names the backend to use."""
    settings = settings_for(tmp_path)
    async with Engine(settings) as local:
        row = await local.launch(spec(tmp_path))
        rows, _ = await local.wait([row.id], timeout=60)
    thread = rows[0].thread_id
    assert thread
    store = Store(settings.task_dir)
    cluster = Engine(settings, store, RecordingClusterBackend(store, settings))
    reply, previous = cluster.reply_spec(thread, "again")
    with pytest.raises(TaskError, match="continue it from a server of the local backend") as other:
        await cluster.launch(reply, parent=previous)
    assert mcp_said(other.value).endswith("continue it from a server started with --backend local")


@pytest.mark.parametrize("forked", [True, False])
async def test_nothing_of_the_engine_runs_after_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    """Every thread the engine and its backend started has ended when stop() returns: the
    scheduler's group, the fork server's warm-up, the watcher of an ended task; a runner
    spawned as this process's child has been reaped (it has no thread of its own). What stays
    is the event loop's (anyio's idle worker threads), and the fork server process is gone."""
    monkeypatch.setenv("CODEX_SWARM_FORKSERVER", "1" if forked else "0")
    before = set(threading.enumerate())
    async with Engine(settings_for(tmp_path)) as engine:
        row = await engine.launch(spec(tmp_path))
        rows, done = await engine.wait([row.id], timeout=60)
        assert done and rows[0].phase == "completed", rows[0].error
        with anyio.fail_after(30):  # its watcher has seen the runner go (not abandoned)
            while row.id in engine.backend.watchers:
                await anyio.sleep(0.02)
        forks = getattr(engine.backend, "_forks", None)
    left = [
        t.name for t in threading.enumerate() if t not in before and t.name != "AnyIO worker thread"
    ]
    assert left == []
    children = psutil.Process().children()
    assert rows[0].runner_pid not in {c.pid for c in children}  # reaped, or never our child
    if forks is not None:
        assert forks._proc is None and not [
            c for c in children if "--forkserver-fd" in " ".join(c.cmdline())
        ]


class FailingAdoptionBackend(RecordingClusterBackend):
    """Starts and stops like a backend with watchers, then fails the engine's first scan."""

    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__(store, settings)
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    def adopt(self, rows: list[TaskRow]) -> None:
        raise OSError("the store went away")


async def test_a_failed_start_stops_what_it_started(tmp_path: Path) -> None:
    """start() enters what it starts into one exit stack: when a later step fails, the backend
    it had started is stopped again, and the engine is left unstarted (it can start again)."""
    settings = settings_for(tmp_path)
    store = Store(settings.task_dir)
    backend = FailingAdoptionBackend(store, settings)
    engine = Engine(settings, store, backend)
    with pytest.raises(OSError, match="the store went away"):
        await engine.start()
    assert backend.calls == ["start", "stop"]
    assert engine.users == 0
    await engine.stop()  # nothing to stop: no error, nothing called
    assert backend.calls == ["start", "stop"]


async def test_a_cancel_that_fails_at_shutdown_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With cancel_on_exit, a task whose cancel fails at shutdown is named in the log (the
    others are still cancelled); stop() itself completes."""
    settings = settings_for(tmp_path, cancel_on_exit=True)
    async with Engine(settings) as engine:
        row = await engine.launch(spec(tmp_path, "x\nSTUB: sleep 300"))
        with anyio.fail_after(30):
            while (await engine.get(row.id)).phase != "running":
                await anyio.sleep(0.02)

        async def failing_cancel(task_id: str) -> TaskRow:
            raise OSError("disk gone")

        monkeypatch.setattr(engine, "cancel", failing_cancel)
    assert f"task {row.id} was not cancelled at shutdown" in caplog.text
    async with Engine(settings) as engine:
        ended = await engine.cancel(row.id)
    assert ended.phase == "cancelled"
