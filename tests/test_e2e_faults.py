"""End to end: faults injected into real runs. Nothing may be lost and no process left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
import pytest
from conftest import (
    HttpServer,
    RawServer,
    SwarmFactory,
    data,
    launch,
    processes_matching,
    server_env,
    start_refused,
    status_until,
    text,
    wait_until,
)
from fake_model import script
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio


def marker() -> str:
    return str(uuid.uuid4().int % 10**6 + 2000000)


def task_row(task_dir: Path, task_id: str) -> sqlite3.Row:
    db = sqlite3.connect(task_dir / "tasks.db")
    db.row_factory = sqlite3.Row
    row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    db.close()
    assert isinstance(row, sqlite3.Row)
    return row


def native_codex(pid: int) -> psutil.Process:
    """The native codex under the npm shim (children come and go while it starts commands)."""
    shim = psutil.Process(pid)
    for _ in range(50):
        with contextlib.suppress(psutil.Error):  # a child may vanish mid-walk
            for child in shim.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if child.name() == "codex":
                        return child
        time.sleep(0.1)
    return shim


def assert_nothing_left(task_id: str, *markers: str) -> None:
    wait_until(lambda: not processes_matching(task_id), timeout=15)
    for mark in markers:
        assert processes_matching(mark) == [], f"a process with {mark!r} is still running"


async def wait_result(client: Client, task_id: str, timeout: float = 90) -> dict[str, Any]:
    out = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": timeout}))
    assert out["done"], out
    return dict(out["tasks"][0])


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"error": 500}, "high demand"),
        ({"error": 429}, "429"),
        ({"truncate": True}, "stream disconnected"),
    ],
)
async def test_model_faults_fail_the_task_with_codexs_reason(
    swarm: SwarmFactory, step: dict[str, Any], expected: str
) -> None:
    async with swarm() as client:
        task_id = await launch(client, script(step))
        out = await wait_result(client, task_id)
    assert out["status"] == "failed"
    assert expected in out["error"]
    assert out["exit_code"] == 1
    assert_nothing_left(task_id)


async def test_transient_failure_is_retried_when_asked(swarm: SwarmFactory) -> None:
    prompt = script({"error": 500, "fail_times": 1, "message": "second time lucky"})
    async with swarm() as client:
        task_id = await launch(client, prompt + f"\n{uuid.uuid4()}", retries=2)
        out = await wait_result(client, task_id)
    assert out["status"] == "completed", (out.get("error"), out.get("warnings", []))
    assert out["content"] == "second time lucky"
    assert any("attempt 1 failed" in w for w in out.get("warnings", []))


async def test_retry_is_off_by_default_and_never_for_a_bad_request(swarm: SwarmFactory) -> None:
    async with swarm("--retries", "3") as client:
        bad = await launch(client, script({"error": 400}))
        out = await wait_result(client, bad)
    assert out["status"] == "failed"
    assert not any("attempt" in w for w in out.get("warnings", []))


async def test_idle_model_times_out_with_a_clear_reason(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        task_id = await launch(client, script({"hang": 60}), idle_timeout=1.5)
        out = await wait_result(client, task_id)
    assert out["status"] == "failed"
    assert "idle timeout" in out["error"]
    assert_nothing_left(task_id)


async def test_a_long_command_is_not_idleness(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        task_id = await launch(
            client, script({"shell": "sleep 3"}, {"message": "patient"}), idle_timeout=1.5
        )
        out = await wait_result(client, task_id)
    assert out["status"] == "completed", (out.get("error"), out.get("warnings", []))


async def test_task_timeout_stops_everything(swarm: SwarmFactory) -> None:
    mark = marker()
    async with swarm() as client:
        task_id = await launch(
            client,
            script({"shell": f"sleep {mark}"}),
            timeout=2,
            sandbox="danger-full-access",
        )
        out = await wait_result(client, task_id)
    assert out["status"] == "failed"
    assert "timed out" in out["error"]
    assert_nothing_left(task_id, f"sleep {mark}")


async def test_codex_killed_is_failed_with_the_signal(swarm: SwarmFactory, task_dir: Path) -> None:
    async with swarm() as client:
        task_id = await launch(client, script({"shell": "sleep 20"}))
        await status_until(client, task_id, lambda v: v["status"] == "running")
        native_codex(task_row(task_dir, task_id)["codex_pid"]).send_signal(signal.SIGKILL)
        out = await wait_result(client, task_id)
    assert out["status"] == "failed"
    assert out.get("exit_signal") == signal.SIGKILL or "signal" in (out.get("error") or "")
    assert_nothing_left(task_id)


async def test_killed_runner_makes_the_task_lost_and_stops_its_codex(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    mark = marker()
    async with swarm() as client:
        task_id = await launch(
            client, script({"shell": f"sleep {mark}"}), sandbox="danger-full-access"
        )
        await status_until(
            client,
            task_id,
            lambda v: v.get("last_tool") and v["last_tool"]["status"] == "in_progress",
        )
        os.kill(task_row(task_dir, task_id)["runner_pid"], signal.SIGKILL)
        out = await wait_result(client, task_id)
        assert out["status"] == "lost"
        assert "vanished" in out["error"]
        view = data(await client.call_tool("codex_status", {"task_ids": [task_id]}))["tasks"][0]
        assert view["threadId"], "what was known before the loss is kept"
    # The runner's own Codex is stopped; the command under danger-full-access was in Codex's
    # care and is stopped with it (Codex cleans up on SIGINT).
    assert_nothing_left(task_id)
    wait_until(lambda: not processes_matching(f"sleep {mark}"), timeout=20)


async def test_cancel_on_exit_cancels_this_servers_tasks(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    async with swarm("--cancel-on-exit") as client:
        task_id = await launch(client, script({"shell": "sleep 30", "yield_ms": 60_000}))
        await status_until(client, task_id, lambda v: v["status"] == "running")
    wait_until(lambda: task_row(task_dir, task_id)["phase"] == "cancelled", timeout=30)
    assert_nothing_left(task_id)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_the_server_in_order(
    sig: signal.Signals, codex: str, codex_home: Path, task_dir: Path, tmp_path: Path
) -> None:
    """A signal stops the server as a closed stream does: `--cancel-on-exit` cancels its task,
    and it exits 0 (before, Ctrl-C ended in a backtrace and SIGTERM skipped the engine's stop)."""
    env = server_env(codex, codex_home, task_dir)
    with RawServer(env, tmp_path, flags=("--cancel-on-exit",)) as server:
        prompt = script({"shell": "sleep 30", "yield_ms": 60_000})
        task_id = server.call("codex_async", {"prompt": prompt, "cwd": str(tmp_path)})["task_id"]
        wait_until(
            lambda: (
                server.call("codex_status", {"task_ids": [task_id]})["tasks"][0]["status"]
                == "running"
            ),
            timeout=60,
        )
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=60) == 0
    assert task_row(task_dir, task_id)["phase"] == "cancelled"
    assert_nothing_left(task_id)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_the_http_server_stops_in_order_on_a_signal_too(
    sig: signal.Signals, codex: str, codex_home: Path, task_dir: Path, workdir: Path
) -> None:
    """Over HTTP uvicorn stops on the signal, the engine's stop runs (`--cancel-on-exit`
    cancels the task), and Ctrl-C ends without a backtrace (uvicorn raises it again after)."""
    server = HttpServer(server_env(codex, codex_home, task_dir), workdir, "--cancel-on-exit")
    try:
        http = httpx2.AsyncClient(timeout=60)
        async with Client(streamable_http_client(server.url, http_client=http)) as client:
            prompt = script({"shell": "sleep 30", "yield_ms": 60_000})
            task_id = await launch(client, prompt)
            await status_until(client, task_id, lambda v: v["status"] == "running")
        server.proc.send_signal(sig)
        assert server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
        assert server.proc.stderr is not None
        assert "Traceback" not in server.proc.stderr.read().decode()
    finally:
        server.stop()
    assert task_row(task_dir, task_id)["phase"] == "cancelled"
    assert_nothing_left(task_id)


async def test_normal_exit_leaves_tasks_running_for_the_next_server(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    async with swarm() as client:
        task_id = await launch(client, script({"delay": 2.0, "message": "still here"}))
        await status_until(client, task_id, lambda v: v["status"] == "running")
    assert task_row(task_dir, task_id)["phase"] == "running"
    async with swarm() as client:
        out = await wait_result(client, task_id)
    assert out["status"] == "completed"
    assert out["content"] == "still here"


async def test_two_servers_share_one_task_dir(swarm: SwarmFactory) -> None:
    async with swarm() as first, swarm() as second:
        task_id = await launch(first, script({"delay": 1.0, "message": "shared"}))
        status = data(await second.call_tool("codex_status", {"task_ids": [task_id]}))
        assert status["tasks"][0]["task_id"] == task_id
        others = [await launch(second, f"second server {i}") for i in range(3)]
        out = await wait_result(second, task_id)
        assert out["content"] == "shared"
        done = data(await first.call_tool("codex_wait", {"task_ids": others, "timeout": 60}))
        assert done["done"] and {t["status"] for t in done["tasks"]} == {"completed"}


async def test_queued_tasks_wait_for_a_free_slot(swarm: SwarmFactory) -> None:
    async with swarm("--max-parallel", "1") as client:
        first = await launch(client, script({"delay": 1.5, "message": "one"}))
        second = await launch(client, "two")
        view = data(await client.call_tool("codex_status", {"task_ids": [second]}))["tasks"][0]
        assert view["status"] == "queued"
        cancelled = await launch(client, "never runs")
        out = data(await client.call_tool("codex_cancel", {"task_id": cancelled}))
        assert out["status"] == "cancelled"
        done = data(
            await client.call_tool("codex_wait", {"task_ids": [first, second], "timeout": 60})
        )
    assert [t["status"] for t in done["tasks"]] == ["completed", "completed"]


async def test_allowed_roots_and_sandbox_ceiling(
    swarm: SwarmFactory, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    sneaky = workdir / "link-out"
    sneaky.symlink_to(outside)
    async with swarm(
        "--allowed-root", str(workdir), "--sandbox-ceiling", "workspace-write"
    ) as client:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"cwd": str(outside)}, "outside the directories"),
            ({"cwd": str(sneaky)}, "outside the directories"),
            ({"sandbox": "danger-full-access"}, "stronger than this server allows"),
            ({"config": {"sandbox_mode": "danger-full-access"}}, "stronger"),
            (
                {"config": {"sandbox_workspace_write.writable_roots": ["/"]}},
                "writable_roots",
            ),
        ]
        for args, expected in cases:
            result = await client.call_tool("codex_async", {"prompt": "x", **args})
            assert result.is_error, args
            assert expected in text(result), (args, text(result))
        ok = await client.call_tool(
            "codex", {"prompt": "inside", "cwd": str(workdir), "sandbox": "read-only"}
        )
        assert data(ok)["status"] == "completed"


async def test_nested_server_refuses_to_recurse(swarm: SwarmFactory) -> None:
    async with swarm(env={"CODEX_SWARM_DEPTH": "2"}) as client:
        result = await client.call_tool("codex_async", {"prompt": "x"})
    assert result.is_error
    assert "levels" in text(result)


def test_nesting_is_detected_from_process_ancestry() -> None:
    # A parent whose command line names the runner module counts as one level, even when the
    # environment variable did not make it through (Codex filters MCP servers' environments).
    code = (
        "import subprocess, sys; "
        "print(subprocess.run([sys.executable, '-c', "
        "'from codex_mcp_swarm.engine.tasks import nesting_depth; print(nesting_depth())'], "
        "capture_output=True, text=True, env={'PATH': ''}).stdout.strip())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "codex_mcp_swarm.engine.runner"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CODEX_SWARM_DEPTH"},
    )
    assert out.stdout.strip() == "1", out.stderr


def test_corrupt_store_is_a_clear_error_and_kept(tmp_path: Path) -> None:
    task_dir = tmp_path / "tasks"
    task_dir.mkdir()
    junk = b"this is not a database" * 100
    (task_dir / "tasks.db").write_bytes(junk)
    result = start_refused(task_dir)
    assert result.returncode == 1
    assert "cannot be opened" in result.stderr and "Nothing was changed" in result.stderr
    assert (task_dir / "tasks.db").read_bytes() == junk


async def test_cancel_during_start_is_not_lost(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        task_id = await launch(client, script({"shell": "sleep 30", "yield_ms": 60_000}))
        out = data(await client.call_tool("codex_cancel", {"task_id": task_id}))
        assert out["status"] == "cancelled"
        await anyio.sleep(0.5)
    assert_nothing_left(task_id)
    assert "cancel" in text(await _status_text(swarm, task_id))


async def _status_text(swarm: SwarmFactory, task_id: str):  # type: ignore[no-untyped-def]
    async with swarm() as client:
        return await client.call_tool("codex_status", {"task_ids": [task_id]})


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of our own (4 MB), for a task dir that can be filled or made read-only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")  # allowed: needs root
    mount = tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_read_only_task_dir_is_a_clear_error_at_start(tmpfs: Path) -> None:
    (tmpfs / "tasks").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = start_refused(tmpfs / "tasks")
    assert result.returncode == 1, result.stderr
    assert "cannot be" in result.stderr and "writable directory" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_full_task_dir_loses_raw_events_but_not_the_result(
    swarm: SwarmFactory, tmpfs: Path
) -> None:
    task_dir = tmpfs / "tasks"
    filler = tmpfs / "filler"
    async with swarm(env={"CODEX_SWARM_TASK_DIR": str(task_dir)}) as client:
        task_id = await launch(
            client, script({"delay": 2.0, "shell": "echo hi"}, {"message": "recorded anyway"})
        )
        await status_until(client, task_id, lambda v: v["status"] == "running")
        with open(filler, "wb") as f, contextlib.suppress(OSError):  # fill the disk now
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        out = await wait_result(client, task_id)
    assert out["status"] == "completed", (out.get("error"), out.get("warnings", []))
    assert out["content"] == "recorded anyway"
    assert any("no longer stored" in w for w in out.get("warnings", [])), out.get("warnings", [])
    assert_nothing_left(task_id)


async def test_queued_tasks_are_started_by_the_next_server(
    swarm: SwarmFactory, codex: str, codex_home: Path, task_dir: Path, workdir: Path
) -> None:
    env = server_env(codex, codex_home, task_dir)
    with RawServer(env, workdir, flags=("--max-parallel", "1")) as server:
        first = server.call("codex_async", {"prompt": script({"delay": 1.0, "message": "a"})})
        queued = server.call("codex_async", {"prompt": "b"})
        assert queued["status"] == "queued"
        server.kill()
    async with swarm() as client:
        out = data(
            await client.call_tool(
                "codex_wait", {"task_ids": [first["task_id"], queued["task_id"]], "timeout": 90}
            )
        )
    assert [t["status"] for t in out["tasks"]] == ["completed", "completed"]


async def test_the_parallel_limit_holds_across_servers(swarm: SwarmFactory) -> None:
    async with swarm("--max-parallel", "1") as first, swarm("--max-parallel", "1") as second:
        blocker = await launch(first, script({"delay": 1.5, "message": "one"}))
        await status_until(first, blocker, lambda v: v["status"] == "running")
        other = await launch(second, "two")
        await anyio.sleep(0.5)
        view = data(await second.call_tool("codex_status", {"task_ids": [other]}))["tasks"][0]
        assert view["status"] == "queued", "the other server must not start it yet"
        out = data(await second.call_tool("codex_wait", {"task_ids": [blocker, other]}))
    assert [t["status"] for t in out["tasks"]] == ["completed", "completed"]
