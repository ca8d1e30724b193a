"""The runner's pieces on their own: splitting Codex's output into lines, the capped stderr log,
the transient-failure rule, the parent-death signal that stops Codex when its runner dies, and
a runner's own threads (none outlive the attempt that started them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from codex_mcp_swarm.engine import procs
from codex_mcp_swarm.engine.lines import Lines
from codex_mcp_swarm.engine.rehearsal import rehearsal
from codex_mcp_swarm.engine.retry import MAX_DELAY, is_transient, retry_delay
from codex_mcp_swarm.engine.taskfiles import STDERR_CAP, StderrLog


def test_lines_join_chunks_and_split_at_newlines() -> None:
    lines = Lines(cap=64)
    assert lines.feed(b'{"a":') == []
    assert lines.feed(b'1}\n{"b":2}\n{"c"') == [(b'{"a":1}\n', 0), (b'{"b":2}\n', 0)]
    assert lines.feed(b":3}\n") == [(b'{"c":3}\n', 0)]
    assert lines.end() == []


def test_a_last_line_without_newline_is_given_at_the_end() -> None:
    lines = Lines(cap=64)
    assert lines.feed(b"tail") == []
    assert lines.end() == [(b"tail", 0)]
    assert lines.end() == []


def test_an_over_long_line_is_passed_through_in_pieces_and_never_parsed() -> None:
    lines = Lines(cap=8)
    first = lines.feed(b"0123456789")  # no newline within 8 bytes
    assert first == [(b"0123456789", -1)]
    assert lines.feed(b"abc") == []  # held (less than cap) until its newline or cap
    # Its end carries the whole line's size; the next line is an ordinary one again.
    assert lines.feed(b"defgh\nok\n") == [(b"abcdefgh\n", 10 + 9), (b"ok\n", 0)]
    assert lines.feed(b"0123456789") == [(b"0123456789", -1)]
    assert lines.end() == [(b"", 10)]


def test_the_stderr_log_keeps_at_most_its_cap(tmp_path: Path) -> None:
    log = StderrLog(tmp_path / "stderr.log")
    log.write(b"x" * (STDERR_CAP - 3))
    log.write(b"abcdef")
    log.write(b"more")  # read and dropped: Codex never sees a failed write
    log.close()
    data = (tmp_path / "stderr.log").read_bytes()
    assert len(data) == STDERR_CAP and data.endswith(b"xabc")
    assert (tmp_path / "stderr.log").stat().st_mode & 0o777 == 0o600


def test_a_stderr_log_that_cannot_be_opened_still_takes_writes(tmp_path: Path) -> None:
    log = StderrLog(tmp_path / "missing" / "stderr.log")
    log.write(b"dropped")
    log.close()


def test_transient_failures_are_retried_with_a_doubling_capped_delay() -> None:
    assert is_transient("stream disconnected before completion: Too Many Requests")
    assert is_transient("exceeded retry limit, last status: 429")
    assert not is_transient("invalid_request_error: unsupported model")
    assert [retry_delay(n, 2.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_delay(30, 2.0) == MAX_DELAY


@pytest.mark.parametrize("obeys_sigint", [True, False])
def test_a_stopped_runner_feeds_a_large_prompt_and_leaves_no_thread(
    tmp_path: Path, obeys_sigint: bool
) -> None:
    """A prompt far larger than a pipe goes to Codex whole (written as the pipe takes it, from
    the runner's one thread). A cancel sends SIGINT and arms the hard-kill timer: a Codex that
    ignores SIGINT is killed by it; one that stops at once leaves the timer unfired, with a grace
    period longer than the test. Either way, once the end is recorded no thread of the runner is
    left: the attempt disarmed its timer."""
    fake = tmp_path / "codex.py"
    on_sigint = "lambda *_: os._exit(0)" if obeys_sigint else "signal.SIG_IGN"
    fake.write_text(
        textwrap.dedent(
            f"""
            import os, signal, sys, time
            signal.signal(signal.SIGINT, {on_sigint})
            data = sys.stdin.buffer.read()
            with open(sys.argv[1], "w") as f:
                f.write(str(len(data)))
            print('{{"type": "thread.started", "thread_id": "t1"}}', flush=True)
            os.kill(os.getppid(), signal.SIGTERM)  # the runner's cancel
            while True:
                time.sleep(60)
            """
        )
    )
    grace = 600.0 if obeys_sigint else 0.2
    script = textwrap.dedent(
        f"""
        import json, sys, threading
        from pathlib import Path
        from codex_mcp_swarm.engine.plan import LaunchPlan
        from codex_mcp_swarm.engine.store import Store
        from codex_mcp_swarm.engine.supervisor import run_task

        task_dir, fake, got = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
        prompt = "p" * 3_000_000
        plan = LaunchPlan(
            argv=(sys.executable, fake, got), cwd=str(task_dir), prompt=prompt, grace={grace}
        )
        store = Store(task_dir)
        spec = {{"task": {{"prompt": prompt}}, "launch": plan.to_dict()}}
        store.create("a0b1c2d3e4f5", spec=spec, cwd=str(task_dir), title="", owner="")
        code = run_task(task_dir, "a0b1c2d3e4f5")
        row = store.get("a0b1c2d3e4f5")
        threads = [t.name for t in threading.enumerate()]
        print(json.dumps([code, row.phase, row.exit_signal, threads]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(fake), str(tmp_path / "got")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    code, phase, exit_signal, threads = json.loads(done.stdout)
    assert (tmp_path / "got").read_text() == str(3_000_000)
    assert (code, phase) == (0, "cancelled")
    assert exit_signal == (None if obeys_sigint else signal.SIGKILL)
    assert threads == ["MainThread"]


def test_the_fork_servers_rehearsal_runs_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    rehearsal()  # raises if a step of a runner's start broke
    assert list(tmp_path.iterdir()) == []


# allowed: the parent-death signal exists only on Linux (CI runs Linux, so it always runs there)
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("preloaded", [True, False])
def test_a_child_gets_sigint_when_its_parent_dies(tmp_path: Path, preloaded: bool) -> None:
    """Both ways of setting it (``setpriv`` once proven, or a ``preexec_fn``) reach a child
    whose parent is killed outright."""
    script = textwrap.dedent(
        f"""
        import signal, subprocess, sys, time
        from codex_mcp_swarm.engine import procs
        if {preloaded!r}:
            procs.preload()
        prefix, preexec = procs.parent_death_launch(signal.SIGINT)
        child = subprocess.Popen(
            [*prefix, sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=preexec
        )
        print(child.pid, bool(prefix), flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert parent.stdout is not None
    pid_text, used_setpriv = parent.stdout.readline().split()
    child = psutil.Process(int(pid_text))
    try:
        assert used_setpriv == str(preloaded)
        # setpriv sets the signal, then execs the command in the same process: wait for that.
        deadline = time.monotonic() + 10
        while child.cmdline()[:2] != [sys.executable, "-c"] and time.monotonic() < deadline:
            time.sleep(0.01)  # (the command line reads empty for a moment during an exec)
        assert child.cmdline()[:2] == [sys.executable, "-c"]
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        child.wait(timeout=10)  # it got SIGINT: Python stops with KeyboardInterrupt
    finally:
        if child.is_running():
            child.kill()


def test_descendants_read_from_proc_match_psutils_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The /proc/PID/task/*/children reading (Linux) and psutil's whole-table walk (elsewhere,
    or a kernel without those files) find the same tree."""
    shells = [
        subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30"], start_new_session=True)
        for _ in range(2)
    ]
    try:
        # Only the shells' trees: this process may have other children (an xdist worker does).
        def walk() -> set[int]:
            return {p.pid for s in shells for p in psutil.Process(s.pid).children(recursive=True)}

        expected = walk()
        deadline = time.monotonic() + 10
        while len(expected) < 4 and time.monotonic() < deadline:  # each sh has two sleeps
            time.sleep(0.02)
            expected = walk()
        for reading in ("proc", "psutil"):
            if reading == "psutil":
                monkeypatch.setattr(procs, "_child_pids", lambda _pid: None)
            found = {p.pid for s in shells for p in procs.descendants(s.pid)}
            assert found == expected, reading
        assert procs.descendants(2**22 + 1) == []  # no such process
    finally:
        for shell in shells:
            for proc in psutil.Process(shell.pid).children(recursive=True):
                proc.kill()
            shell.kill()
            shell.wait()


def test_create_time_is_psutils_value() -> None:
    """Start times are compared with psutil's elsewhere (pid reuse checks): the /proc reading
    (Linux) must give the same number."""
    child = subprocess.Popen(["sleep", "5"])
    try:
        for pid in (os.getpid(), child.pid):
            assert procs.create_time(pid) == pytest.approx(psutil.Process(pid).create_time())
    finally:
        child.kill()
        child.wait()
    assert procs.create_time(2**22 + 1) is None
