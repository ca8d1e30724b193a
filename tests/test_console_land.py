"""End to end: ``land``, ``merge`` and ``cleanup`` at the shell, for what ``run --worktree``
produced (the real Codex CLI against the fake model, real git)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, server_env
from fake_model import script


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


def run_tasks(env: dict[str, str], repo: Path, *prompts: str) -> list[dict[str, Any]]:
    out = cli("run", "--worktree", "-s", "workspace-write", "--json", *prompts, env=env, cwd=repo)
    assert out.returncode == 0, out.stderr
    tasks = json.loads(out.stdout)
    return list(tasks if isinstance(tasks, list) else tasks["tasks"])


def writes(path: str, text: str) -> str:
    return script({"shell": f"printf '%s\\n' '{text}' > {path}"}, text=f"Write {path}")


def test_land_with_a_check_then_cleanup(env: dict[str, str], repo: Path) -> None:
    tasks = run_tasks(
        env, repo, writes("one.txt", "1"), writes("BROKEN", "x"), writes("two.txt", "2")
    )
    ids = [t["task_id"] for t in tasks]
    landed = cli("land", *ids, "--check", "test ! -e BROKEN", env=env, cwd=repo)
    assert landed.returncode == 1, landed.stderr  # one failed its check
    lines = landed.stdout.splitlines()
    assert lines[0].startswith("2 of 3 landed; main is at")
    assert f"check failed {ids[1]} (exit 1)" in landed.stdout
    assert (repo / "one.txt").exists() and (repo / "two.txt").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    again = cli("land", "--json", "--check", "test ! -e BROKEN", env=env, cwd=repo)
    out = json.loads(again.stdout)
    assert out["landed"] == [] and [c["task_id"] for c in out["check_failed"]] == [ids[1]]
    cleaned = cli("cleanup", "--all-merged", "--json", env=env, cwd=repo)
    assert cleaned.returncode == 0, cleaned.stderr
    assert {c["task_id"] for c in json.loads(cleaned.stdout)["cleaned"]} == {ids[0], ids[2]}
    kept = cli("cleanup", ids[1], env=env, cwd=repo)
    assert kept.returncode == 1 and "kept" in kept.stdout
    bad = cli("cleanup", ids[1], "--all-merged", env=env, cwd=repo)
    assert bad.returncode == 2 and "either" in bad.stderr


def test_merge_one_task(env: dict[str, str], repo: Path) -> None:
    [task] = run_tasks(env, repo, writes("m.txt", "merged"))
    out = cli("merge", task["task_id"], "--strategy", "squash", env=env, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert "merged" in out.stdout and (repo / "m.txt").read_text() == "merged\n"
    assert git(repo, "log", "--merges", "--format=%H") == ""
    unknown = cli("merge", "ffffffffffff", env=env, cwd=repo)
    assert unknown.returncode == 1 and "unknown task id" in unknown.stderr


def test_land_resolve_starts_the_resolving_task(env: dict[str, str], repo: Path) -> None:
    tasks = run_tasks(env, repo, writes("shared.txt", "first"), writes("shared.txt", "second"))
    out = cli("land", *[t["task_id"] for t in tasks], "--resolve", "--json", env=env, cwd=repo)
    assert out.returncode == 1, out.stderr  # one conflicted
    answer = json.loads(out.stdout)
    [item] = answer["resolving"]
    follow = item["follow_up"]
    deadline = time.monotonic() + 120
    while True:  # the resolving task runs under its own runner, with no server alive
        shown = cli("show", follow, "--json", env=env, cwd=repo)
        assert shown.returncode == 0, shown.stderr
        if json.loads(shown.stdout)["status"] in ("completed", "failed", "cancelled", "lost"):
            break
        assert time.monotonic() < deadline, shown.stdout
        time.sleep(0.5)
    assert json.loads(shown.stdout)["status"] == "completed"
