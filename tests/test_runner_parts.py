"""The runner's pieces on their own: splitting Codex's output into lines, the capped stderr log,
and the parent-death signal that stops Codex when its runner dies."""

from __future__ import annotations

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
from codex_mcp_swarm.engine.runner import STDERR_CAP, Lines, StderrLog, rehearsal


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
