"""End to end: ``steer``, ``fork`` and ``review`` at the shell, with the real Codex CLI and the
fake model."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import git, processes_matching, server_env, wait_until
from fake_model import script
from test_console_e2e import cli, tasks_json


@pytest.fixture
def env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir, CODEX_SWARM_LOG_LEVEL="WARNING")


def run_json(env: dict[str, str], cwd: Path, *args: str) -> list[dict[str, Any]]:
    out = cli("run", "--json", *args, env=env, cwd=cwd, timeout=180)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def test_review_and_fork_a_worktree_task(env: dict[str, str], repo: Path) -> None:
    marker = str(uuid.uuid4().int % 10**6)
    prompt = script({"shell": f"printf 'x\\n' > made_{marker}.txt"}, text=f"console {marker}")
    (source,) = run_json(env, repo, prompt, "--worktree", "--sandbox", "workspace-write")
    assert source["status"] == "completed"

    review = cli("review", source["task_id"], "--json", env=env, cwd=repo, timeout=180)
    assert review.returncode == 0, review.stderr
    (found,) = json.loads(review.stdout)
    assert found["status"] == "completed" and f"made_{marker}.txt" in found["content"]

    fork = cli(
        "fork", source["task_id"], f"fork {marker}", "--count", "2", "--json",
        env=env, cwd=repo, timeout=180,
    )  # fmt: skip
    assert fork.returncode == 0, fork.stderr
    forks = json.loads(fork.stdout)
    assert len(forks) == 2
    for task in forks:
        assert task["status"] == "completed" and task["threadId"] != source["threadId"]
        assert git(repo, "show", f"{task['worktree']['branch']}:made_{marker}.txt") == "x"

    bad = cli("fork", source["task_id"], "x", "--count", "9", env=env, cwd=repo)
    assert bad.returncode == 1 and "count must be" in bad.stderr


def test_steer_a_running_task_and_refuse_a_finished_one(env: dict[str, str], repo: Path) -> None:
    marker = str(uuid.uuid4().int % 10**6 + 1_000_000)
    runner = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "run", "--json",
         script({"shell": f"sleep {marker}"}, text=f"long {marker}")],
        env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # (The run command's own command line holds the script: wait for the task's sleep.)
        wait_until(lambda: len(processes_matching(f"sleep {marker}")) > 1, timeout=60)
        (task,) = wait_until(lambda: tasks_json(env, repo, "--status", "running"), timeout=60)
        message = script({"message": f"redirected {marker}"}, text="go the other way")
        steer = cli("steer", task["task_id"], message, env=env, cwd=repo)
        assert steer.returncode == 0, steer.stderr
        assert "interrupted" in steer.stdout
        out, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, err
    (result,) = json.loads(out)
    assert result["content"] == f"redirected {marker}" and result["steered"]["count"] == 1
    again = cli("steer", result["task_id"], "more", env=env, cwd=repo)
    assert again.returncode == 1 and "already ended" in again.stderr
