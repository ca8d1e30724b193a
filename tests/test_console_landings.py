"""End to end: ``land --async``, ``land --watch``, landings in ``tasks`` and ``cancel`` of a
landing at the shell, for what ``run --worktree`` produced (the real Codex CLI against the fake
model, real git, no server: the command runs the landing itself)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from conftest import git, server_env
from fake_model import script

pytestmark = pytest.mark.e2e  # the real Codex CLI, real git, the command as a person runs it


@pytest.fixture
def env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir, CODEX_SWARM_LOG_LEVEL="WARNING")


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp_swarm", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def run_task(env: dict[str, str], repo: Path, path: str, text: str) -> str:
    prompt = script({"shell": f"printf '%s\\n' '{text}' > {path}"}, text=f"Write {path}")
    out = cli("run", "--worktree", "-s", "workspace-write", "--json", prompt, env=env, cwd=repo)
    assert out.returncode == 0, out.stderr
    [task] = json.loads(out.stdout)
    return str(task["task_id"])


def read_until(stream: IO[str], wanted: str, seen: list[str]) -> str:
    """Lines of ``stream`` until one holds ``wanted`` (that line)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if wanted in line:
            return line
    raise AssertionError(f"{wanted!r} never came: {''.join(seen)}")


def test_land_async_with_no_server_lands_here(env: dict[str, str], repo: Path) -> None:
    task = run_task(env, repo, "async.txt", "queued")
    out = cli("land", task, "--async", env=env, cwd=repo)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("landing land") and "queued in" in first, out.stdout
    assert "No server has taken it: running it here" in out.stdout
    assert "1 of 1 landed" in out.stdout
    assert git(repo, "show", "main:async.txt") == "queued"
    bad = cli("land", "land00000000", "--async", env=env, cwd=repo)
    assert bad.returncode == 2 and "--watch" in bad.stderr


def test_land_watch_follows_shows_in_tasks_and_ctrl_c_leaves_it_queued(
    env: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    task = run_task(env, repo, "watched.txt", "watched")
    gate = tmp_path / "gate"
    check = f"while [ ! -e {gate} ]; do sleep 0.05; done"
    watching = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "land", task, "--watch", "--check", check],
        env=env,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seen: list[str] = []
    try:
        assert watching.stdout is not None
        landing = read_until(watching.stdout, "queued in", seen).split()[1]
        line = read_until(watching.stdout, f"checking {task}", seen)
        assert landing in line and "running" in line and "decided 0 of 1" in line
        # ``tasks`` shows a line per active landing.
        listed = cli("tasks", env=env, cwd=repo)
        assert listed.returncode == 0, listed.stderr
        [shown] = [x for x in listed.stdout.splitlines() if x.startswith(f"landing {landing}")]
        assert "running" in shown and f"checking {task}" in shown
        # So does ``watch`` (piped: the table once, then a line per change).
        board = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp_swarm", "watch"],
            env=env,
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert board.stdout is not None
            line = read_until(board.stdout, f"landing {landing}", [])
            assert f"checking {task}" in line
        finally:
            board.send_signal(signal.SIGINT)
            board.communicate(timeout=30)
        watching.send_signal(signal.SIGINT)
        _, err = watching.communicate(timeout=60)
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait()
    assert watching.returncode == 130, err
    assert "queued again" in err and f"codex-mcp-swarm cancel {landing}" in err
    listed = cli("tasks", env=env, cwd=repo)
    [shown] = [x for x in listed.stdout.splitlines() if x.startswith(f"landing {landing}")]
    assert "queued" in shown
    # Cancel it by its id; then watch a fresh landing of the task through to its end.
    cancelled = cli("cancel", landing, env=env, cwd=repo)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"landing {landing}" in cancelled.stdout and "cancelled" in cancelled.stdout
    gate.write_text("go")
    again = cli("land", task, "--watch", "--check", check, env=env, cwd=repo)
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stdout and "1 of 1 landed" in again.stdout
    assert git(repo, "show", "main:watched.txt") == "watched"
    listed = cli("tasks", env=env, cwd=repo)
    assert "landing land" not in listed.stdout  # none active any more
