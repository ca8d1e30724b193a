"""One lock per repository for everything that moves a branch or the checkout.

Owns: :func:`repository_lock`, an exclusive ``flock`` on a file inside the repository's git
common dir (``<common dir>/codex-swarm-merge.lock``), held by every merge, cleanup and landing
step while it reads the target's tip, moves refs and updates the checkout; and
:func:`landing_lock` (``codex-swarm-land.lock``), held for a whole landing so two landings into
one repository take turns. Keyed on the common dir, the lock is the same for every server,
console command and thread, whatever task dir or worktree root they use, and for every linked
worktree of the repository. The kernel drops a lock when its holder dies, so a killed server
never leaves one behind.

Also owns :func:`flock`, the one wait for an exclusive ``flock`` in this package (the worktree
creation lock and a node's cache-repository lock use it too): the descriptor is opened
close-on-exec (a child git never inherits the lock), the wait backs off briefly and gives up with
a :class:`GitError` after ``timeout`` seconds.

Must not: run git to change anything, or hold a lock across a caller's long work by accident
(the context managers release on every exit path).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .run import GitError, common_dir

MERGE_LOCK = "codex-swarm-merge.lock"
LAND_LOCK = "codex-swarm-land.lock"
LOCK_TIMEOUT = 300.0  # seconds to wait for the merge lock (its holders hold it briefly)
LAND_LOCK_TIMEOUT = 3600.0  # seconds to wait for another landing (it may run long checks)


@contextlib.contextmanager
def flock(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600), waiting up to ``timeout``
    seconds; ``busy`` names the holder in the error ("another landing")."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise GitError(f"cannot open the lock file {path}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitError(
                        f"{busy} has held {path} for over {timeout:.0f} s; try again later"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


@contextlib.contextmanager
def repository_lock(top: Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository's merge lock (blocking, up to ``timeout`` seconds)."""
    with flock(common_dir(Path(top)) / MERGE_LOCK, timeout, "another merge or cleanup"):
        yield


@contextlib.contextmanager
def landing_lock(top: Path, *, timeout: float = LAND_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository's landing lock: one landing at a time per repository."""
    with flock(common_dir(Path(top)) / LAND_LOCK, timeout, "another landing"):
        yield
