"""Process facts the engine and the runner share: identity checks and killing whole trees.

Owns: "is this pid still the process we started?" (guarding against PID reuse with the start
time), the child-subreaper switch and the parent-death signal on Linux, and the stop sequence
for a set of processes.

Must not: know about tasks, the store or Codex. Portable: psutil covers Linux and macOS; the
subreaper is a Linux-only extra (on macOS the runner tracks descendants itself, see ``runner``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable

import psutil

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
CTIME_TOLERANCE = 0.05  # seconds; psutil start times are rounded differently per call on some OSes


_LIBC: list[ctypes.CDLL | None] = []  # resolved once per process (a fork inherits it)
_SETPRIV: list[str | None] = []  # a setpriv proven to set the parent-death signal, once checked


def _libc() -> ctypes.CDLL | None:
    if _LIBC:
        return _LIBC[0]
    libc = None
    if sys.platform.startswith("linux"):
        # The running program's own symbols include libc's prctl: no library search
        # (ctypes.util costs every runner ~4 ms of start-up).
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL(None, use_errno=True)
    _LIBC.append(libc)
    return libc


def preload() -> None:
    """Resolve now what a process forked from this one needs later (the fork server calls it
    before it forks runners): libc's ``prctl`` and a working ``setpriv``. Each child then
    starts Codex without a Python ``preexec_fn``: ``subprocess`` can use ``vfork`` instead of
    copying the runner's page tables (about 3 ms of a runner's start-up)."""
    _libc()
    if _SETPRIV or not sys.platform.startswith("linux"):
        return
    found = shutil.which("setpriv")
    if found is not None:
        try:
            check = subprocess.run(
                [found, "--pdeathsig", "INT", "--", "true"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=5,
                check=False,
            )
            if check.returncode != 0:  # util-linux before 2.33 has no --pdeathsig
                found = None
        except (OSError, subprocess.SubprocessError):
            found = None
    _SETPRIV.append(found)


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux). False where unsupported."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def parent_death_signal(sig: int = signal.SIGINT) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies (Linux; None
    elsewhere). ``prctl`` is looked up here, in the parent, before any thread starts: between
    fork and exec the child only makes the call (no library loading, no allocation by ctypes
    setup while another thread may hold a lock)."""
    libc = _libc()
    if libc is None:
        return None
    prctl = libc.prctl
    option, value, zero = (
        ctypes.c_int(_PR_SET_PDEATHSIG),
        ctypes.c_ulong(int(sig)),
        ctypes.c_ulong(0),
    )

    def preexec() -> None:
        prctl(option, value, zero, zero, zero)

    return preexec


def parent_death_launch(sig: int = signal.SIGINT) -> tuple[list[str], Callable[[], None] | None]:
    """How to start a child that receives ``sig`` when its parent (thread) dies: a prefix for
    its argv and a ``preexec_fn`` for ``subprocess.Popen``. With a ``setpriv`` that
    :func:`preload` proved, the child runs under ``setpriv --pdeathsig`` (which execs it: same
    pid) and there is no ``preexec_fn``; otherwise the ``preexec_fn`` sets it (Linux), or
    neither exists (macOS)."""
    if _SETPRIV and _SETPRIV[0] is not None:
        return [_SETPRIV[0], "--pdeathsig", signal.Signals(sig).name[3:], "--"], None
    return [], parent_death_signal(sig)


def create_time(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch, as psutil says it); None if it is gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            return _linux_create_time(pid)
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def _linux_create_time(pid: int) -> float | None:
    """psutil's formula (start ticks / clock ticks + boot time) read straight from /proc:
    a runner records its Codex's start time as it starts, and psutil's first call in a fresh
    process costs it about 0.6 ms."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    ticks = int(stat.rpartition(b")")[2].split()[19])  # field 22, starttime
    with open("/proc/stat", "rb") as f:
        boot = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
    return ticks / os.sysconf("SC_CLK_TCK") + boot


def same_process(pid: int | None, ctime: float | None) -> psutil.Process | None:
    """The live process ``pid`` if it is the one that started at ``ctime`` (not a reused pid)."""
    if not pid or ctime is None:
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - ctime) > CTIME_TOLERANCE:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.Error, OSError):
        return None


def _child_pids(pid: int) -> list[int] | None:
    """The pids of ``pid``'s children from /proc/PID/task/*/children (Linux): a read per
    thread instead of psutil's walk over every process on the machine. None where the kernel
    does not offer those files."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []  # gone
    except OSError:
        return None
    kids: list[int] = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            if tid == str(pid) and os.path.exists(f"/proc/{pid}/task/{tid}"):
                return None  # the thread is there but the file is not: no CONFIG_PROC_CHILDREN
        except (OSError, ValueError):
            return None
    return kids


def _descendants_from_proc(root: int) -> list[psutil.Process] | None:
    found: list[psutil.Process] = []
    todo = [root]
    seen = {root}
    while todo:
        kids = _child_pids(todo.pop())
        if kids is None:
            return None
        for kid in kids:
            if kid in seen:
                continue
            seen.add(kid)
            todo.append(kid)
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(kid))
    return found


def descendants(pid: int | None = None) -> list[psutil.Process]:
    """Every live descendant of ``pid`` (default: this process). A process that exits while
    the table is walked makes psutil raise: walk again rather than answer with nothing."""
    root = pid or os.getpid()
    if sys.platform.startswith("linux"):
        fast = _descendants_from_proc(root)
        if fast is not None:
            return fast
    for _ in range(5):
        try:
            return list(psutil.Process(root).children(recursive=True))
        except psutil.NoSuchProcess as exc:
            if exc.pid == root:
                return []
        except (psutil.Error, OSError):
            pass
    return []


def signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            proc.send_signal(sig)


def kill_all(procs: Iterable[psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left. Returns the survivors
    (normally none). Children of the caller are reaped by the wait."""
    procs = [p for p in procs if p.is_running()]
    if not procs:
        return []
    signal_all(procs, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        signal_all(alive, signal.SIGKILL)
        _gone, alive = psutil.wait_procs(alive, timeout=5)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
