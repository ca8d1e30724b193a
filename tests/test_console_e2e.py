"""End to end: the command line against the real Codex CLI and the fake model.

Every command runs as ``python -m codex_mcp_swarm ...`` in a subprocess with the same environment
a server would have; the live views run in a pseudo-terminal (pexpect) and their screen is read.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import psutil
import pytest
from conftest import CODEX_VERSION, git, processes_matching, server_env, wait_until
from fake_model import script

from codex_mcp_swarm.engine.store import Store

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@pytest.fixture
def env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir, CODEX_SWARM_LOG_LEVEL="WARNING")


def cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp_swarm", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def tasks_json(env: dict[str, str], cwd: Path, *args: str) -> list[dict[str, Any]]:
    out = cli("tasks", "--json", *args, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def screen(text: str) -> str:
    return ANSI.sub("", text)


def expect_screen(child: pexpect.spawn[str], pattern: str, timeout: float = 30) -> str:
    """Read the terminal until ``pattern`` shows (escape codes removed); the text so far."""
    seen = ""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, screen(seen)):
        assert time.monotonic() < deadline, f"{pattern!r} never showed; screen: {screen(seen)}"
        with contextlib.suppress(pexpect.TIMEOUT):
            seen += child.read_nonblocking(65536, timeout=0.2)
    return screen(seen)


SLOW = script(
    {"shell": "sleep 30", "yield_ms": 60_000}, {"message": "slept"}, text="Sleep a long time"
)


def test_run_two_prompts_in_worktrees_then_tasks_show_and_watch(
    env: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    first = script(
        {"shell": "printf 'alpha\\n' > alpha.txt"},
        {"message": "Wrote alpha.\nIt has one line.\nThe end."},
        text="Write alpha",
    )
    second = script(
        {
            "reasoning": "Two files are needed.",
            "shell": "printf 'b\\n' > beta.txt && printf 'c\\n' > gamma.txt",
        },
        {"message": "Wrote beta and gamma."},
        text="Write beta and gamma",
    )
    run = cli("run", "--worktree", "-s", "workspace-write", first, second, env=env, cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr
    listed = tasks_json(env, repo)
    assert {t["title"] for t in listed} == {"Write alpha", "Write beta and gamma"}
    alpha = next(t for t in listed if t["title"] == "Write alpha")
    beta = next(t for t in listed if t["title"] != "Write alpha")
    for task in (alpha, beta):
        assert task["status"] == "completed"
        assert task["branch"] == f"codex-swarm/{task['task_id']}"
        # run printed each result with its branch and the progress lines before them
        assert f"Task {task['task_id']} completed" in run.stdout
        assert f"Branch codex-swarm/{task['task_id']}" in run.stdout
        assert re.search(rf"{task['task_id']}\s+completed", run.stdout)
    assert "Wrote alpha.\nIt has one line.\nThe end." in run.stdout
    assert "alpha.txt | 1 +" in run.stdout and "2 files changed, 2 insertions(+)" in run.stdout
    assert "2 prompt(s): 2 completed" in run.stdout
    assert git(repo, "show", f"{alpha['branch']}:alpha.txt") == "alpha"
    assert not (repo / "alpha.txt").exists(), "the work stays on its branch"

    table = cli("tasks", env=env, cwd=repo)
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "PHASE", "ELAPSED"] and "BRANCH" in header
    beta_row = next(line for line in rows if beta["task_id"] in line)
    assert "completed" in beta_row and beta["branch"] in beta_row
    assert "$ printf 'b\\n' > beta.txt && printf 'c\\n' > gamma.txt" in beta_row
    assert "200 in · 20 out" in beta_row and "Write beta and gamma" in beta_row
    assert "0 running · 0 queued · 2 done · 0 failed" in table.stdout
    assert [t["task_id"] for t in tasks_json(env, repo, "--repo", str(repo))] == [
        t["task_id"] for t in listed
    ]
    (tmp_path / "elsewhere").mkdir()
    assert tasks_json(env, repo, "--repo", str(tmp_path / "elsewhere")) == []

    show = cli("show", beta["task_id"], env=env, cwd=repo)
    assert show.returncode == 0
    assert f"Task {beta['task_id']} completed after" in show.stdout
    assert "Wrote beta and gamma." in show.stdout
    assert "beta.txt  | 1 +" in show.stdout and "gamma.txt | 1 +" in show.stdout
    assert "merges cleanly into main" in show.stdout
    shown = json.loads(cli("show", alpha["task_id"], "--json", env=env, cwd=repo).stdout)
    assert shown["content"] == "Wrote alpha.\nIt has one line.\nThe end."
    assert shown["worktree"]["files"] == [{"path": "alpha.txt", "insertions": 1, "deletions": 0}]
    assert "alpha.txt | 1 +" in shown["diffstat"]

    follow = cli("watch", beta["task_id"], env=env, cwd=repo)  # ended: prints all, then exits
    assert follow.returncode == 0
    lines = follow.stdout.splitlines()
    for expected in (
        "thinking: Two files are needed.",
        "$ printf 'b\\n' > beta.txt && printf 'c\\n' > gamma.txt -> exit 0",
        "message: Wrote beta and gamma.",
        f"Task {beta['task_id']} completed after",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, lines)


def test_run_reports_failures_and_unstartable_prompts_with_a_nonzero_exit(
    env: dict[str, str], repo: Path, tmp_path: Path
) -> None:
    fails = script({"error": 400}, text="Fail at once")
    good = script({"message": "fine"}, text="Succeed")
    run = cli("run", "--json", fails, good, env=env, cwd=repo)
    assert run.returncode == 1
    results = json.loads(run.stdout)  # stdout is only JSON; progress went to stderr
    assert [r["status"] for r in results] == ["failed", "completed"]
    assert results[1]["content"] == "fine" and results[0]["error"]
    assert "failed" in run.stderr

    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    refused = cli("run", "--worktree", "--cwd", str(plain), good, env=env, cwd=repo)
    assert refused.returncode == 1
    assert "Prompt 1 was not started: " in refused.stdout
    assert "is not inside a git repository" in refused.stdout


def test_doctor_on_a_good_setup(env: dict[str, str], repo: Path, codex: str) -> None:
    assert cli("run", "hello", env=env, cwd=repo).returncode == 0  # so there is a store
    text = cli("doctor", "-c", "model_reasoning_effort=high", env=env, cwd=repo)
    assert text.returncode == 0, text.stdout
    assert "Everything is ready." in text.stdout
    assert "✗" not in text.stdout and "fix:" not in text.stdout
    assert "claude mcp add codex-swarm" in text.stdout and "tool_timeout_sec = 1800" in text.stdout
    assert "test-key" not in text.stdout
    report = json.loads(cli("doctor", "--json", env=env, cwd=repo).stdout)
    assert report["ok"] is True
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "codex": "ok",
        "login": "ok",
        "codex config": "ok",
        "codex mcp": "ok",
        "git": "ok",
        "task dir": "ok",
        "store": "ok",
        "processes": "ok",
    }
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert codex in details["codex"] and "the tested version" in details["codex"]
    assert "MOCK_API_KEY (set)" in details["login"]
    assert "1 task(s) (1 completed); integrity ok" in details["store"]
    server = report["config"]["claude_code_json"]["mcpServers"]["codex-swarm"]
    assert server["command"] == sys.executable and server["args"] == ["-m", "codex_mcp_swarm"]
    assert server["env"]["CODEX_SWARM_TASK_DIR"] == env["CODEX_SWARM_TASK_DIR"]


def test_doctor_on_a_broken_setup_says_how_to_fix_each_problem(
    env: dict[str, str], task_dir: Path, tmp_path: Path
) -> None:
    task_dir.mkdir(parents=True, mode=0o700)
    (task_dir / "tasks.db").write_bytes(b"this is not a database" * 100)
    broken = {k: v for k, v in env.items() if k != "MOCK_API_KEY"}
    broken["CODEX_SWARM_CODEX_BIN"] = str(tmp_path / "no" / "codex")
    out = cli("doctor", env=broken, cwd=tmp_path)
    assert out.returncode == 1
    assert "3 problem(s) found" in out.stdout
    fixes = [line.split("fix: ", 1)[1] for line in out.stdout.splitlines() if "fix: " in line]
    assert fixes == [
        f"Install it with `npm install -g @openai/codex@{CODEX_VERSION}`, or name it with "
        "--codex-bin "
        "PATH (or CODEX_SWARM_CODEX_BIN).",
        "Set MOCK_API_KEY in the environment your MCP client starts the server with.",
        f"Move {task_dir / 'tasks.db'} (with any -wal and -shm files next to it) aside: the next "
        "server starts a fresh store, and the old file can still be read with the sqlite3 tool.",
    ]
    assert (task_dir / "tasks.db").read_bytes().startswith(b"this is not"), "doctor changes nothing"

    unwritable = {**env, "CODEX_SWARM_TASK_DIR": str(tmp_path / "a-file" / "tasks")}
    (tmp_path / "a-file").write_text("")
    report = json.loads(cli("doctor", "--json", env=unwritable, cwd=tmp_path).stdout)
    assert report["ok"] is False
    failed = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
    assert set(failed) == {"task dir"}
    assert failed["task dir"]["fix"] == (
        "Point CODEX_SWARM_TASK_DIR (or --task-dir) at a directory you can write."
    )


def test_doctor_finds_a_task_without_its_runner_and_cancel_records_it_lost(
    env: dict[str, str], task_dir: Path, tmp_path: Path
) -> None:
    store = Store(task_dir)
    store.create("orphan000001", spec={}, cwd=str(tmp_path), title="orphan", owner="gone")
    store.claim_queued(1)
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.set_runner("orphan000001", dead.pid, time.time() - 5)
    store.set_running("orphan000001", dead.pid, time.time() - 5)
    report = json.loads(cli("doctor", "--json", env=env, cwd=tmp_path).stdout)
    problem = next(c for c in report["checks"] if c["name"] == "processes")
    assert problem["status"] == "fail" and "orphan000001 is marked running" in problem["detail"]
    out = cli("cancel", "orphan000001", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Task orphan000001 was lost: the task's runner process vanished")
    report = json.loads(cli("doctor", "--json", env=env, cwd=tmp_path).stdout)
    assert report["ok"] is True


def _spawn(args: list[str], env: dict[str, str], cwd: Path) -> pexpect.spawn[str]:
    return pexpect.spawn(
        sys.executable,
        ["-m", "codex_mcp_swarm", *args],
        env=env,
        cwd=str(cwd),
        dimensions=(40, 160),
        encoding="utf-8",
        timeout=30,
    )


def _active_id(env: dict[str, str], cwd: Path) -> str:
    def find() -> str | None:
        active = [t for t in tasks_json(env, cwd, "--status", "running") if t["tool_calls"]]
        return active[0]["task_id"] if active else None

    return str(wait_until(find, timeout=30, every=0.2))


def test_watch_draws_the_board_in_a_terminal_and_quits_on_ctrl_c(
    env: dict[str, str], repo: Path
) -> None:
    # A task started by `run --cancel-on-exit` without a terminal: Ctrl-C there cancels it.
    runner = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "run", SLOW, "--cancel-on-exit"],
        env=env,
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        task_id = _active_id(env, repo)
        watch = _spawn(["watch"], env, repo)
        frame = expect_screen(watch, r"↳ running \$ sleep 30[\s\S]*1 running · 0 queued")
        frame = frame[frame.rindex("codex-swarm · ") :]
        assert "ID" in frame and "PHASE" in frame and "PROMPT" in frame
        row = next(line for line in frame.splitlines() if task_id in line)
        assert "running" in row and "Sleep a long time" in row
        assert "↳ running $ sleep 30" in frame
        watch.sendintr()
        watch.expect(pexpect.EOF)
        watch.close()
        assert watch.exitstatus == 0
    finally:
        runner.send_signal(signal.SIGINT)
        out, _ = runner.communicate(timeout=60)
    assert runner.returncode == 130
    assert f"Cancelling {task_id}" in out
    assert tasks_json(env, repo)[0]["status"] == "cancelled"


@pytest.mark.parametrize("flags", [[], ["--cancel-on-exit"]])
def test_ctrl_c_in_run_says_the_tasks_keep_running_unless_cancel_on_exit(
    env: dict[str, str], repo: Path, flags: list[str]
) -> None:
    child = _spawn(["run", SLOW, "--worktree", *flags], env, repo)
    expect_screen(child, r"↳ running \$ sleep 30")
    task_id = _active_id(env, repo)
    child.sendintr()
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert child.exitstatus == 130
    output = " ".join(screen(str(child.before)).split())
    status = tasks_json(env, repo)[0]
    if not flags:
        assert f"Interrupted: 1 task(s) keep running: {task_id}." in output
        assert f"Cancel them with `codex-mcp-swarm cancel {task_id}`" in output
        assert status["status"] == "running"
        stop = cli("cancel", task_id, env=env, cwd=repo)
        assert stop.returncode == 0 and stop.stdout.startswith(f"Task {task_id} cancelled after")
    else:
        assert f"Cancelling {task_id}" in output
        assert f"Task {task_id} cancelled after" in output
        assert status["status"] == "cancelled"
    shown = json.loads(cli("show", task_id, "--json", env=env, cwd=repo).stdout)
    assert shown["status"] == "cancelled" and shown["worktree"]["branch"].endswith(task_id)
    assert not [p for p in processes_matching("sleep 30") if _started_by(p, task_id)]


def _started_by(proc: psutil.Process, task_id: str) -> bool:
    try:
        return proc.environ().get("CODEX_SWARM_TASK_ID") == task_id
    except psutil.Error:
        return False


def test_run_without_credentials_says_so_at_once_and_starts_nothing(
    env: dict[str, str], repo: Path
) -> None:
    no_key = {**env, "MOCK_API_KEY": ""}  # the fake model's provider reads its key from it
    out = cli("run", "first", "second", env=no_key, cwd=repo, timeout=60)
    assert out.returncode == 1
    said = " ".join(out.stderr.split())
    assert "Codex has no credentials for its model" in said
    assert "needs the environment variable MOCK_API_KEY, which is not set" in said
    assert "Set MOCK_API_KEY in the environment" in said
    assert said.count("no credentials") == 1  # once, not per prompt
    assert tasks_json(env, repo) == []
    # The provider's own key, once set, is the credentials: the same run works.
    done = cli("run", "hello", env=env, cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr
