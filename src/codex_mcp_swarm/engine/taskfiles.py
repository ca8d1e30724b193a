"""The files a runner writes into its task's directory while Codex runs.

Owns: opening task files private to the user and for appending; the raw JSONL event log
(``events.jsonl``) with the disk reserve that lets the end be recorded on a full disk; the
capped copy of Codex's stderr (``stderr.log``); reading the end of that copy back for an error
message; the output schema Codex reads (``output-schema.json``).

Must not: parse events, touch the store, or let a failed write reach Codex or stop the task.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

STDERR_CAP = 10 * 1024 * 1024  # bytes of Codex's stderr kept per task; the rest is drained
RESERVE_BYTES = 1024 * 1024  # kept free in the task dir so the end can be recorded on a full disk


def private_fd(path: Path) -> int:
    """A task file opened for appending, private to the user."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def open_private(path: Path, mode: str, buffering: int = -1) -> IO[bytes]:
    return os.fdopen(private_fd(path), mode, buffering)


OUTPUT_SCHEMA_FILE = "output-schema.json"


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole (replacing what was there), private to the user."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)


class EventLog:
    """The raw JSONL file. A write that fails (disk full, quota, read-only) stops raw logging
    but never the task: the reserve file is released so the store can still record the end."""

    def __init__(self, path: Path, reserve: Path) -> None:
        # Unbuffered: each event line is on disk as it arrives, for readers of the raw log.
        self.file = open_private(path, "ab", buffering=0)
        self.reserve = reserve
        self.failure: str | None = None
        try:
            with open_private(reserve, "wb") as f:
                try:  # blocks reserved without writing them (Linux); else written
                    os.posix_fallocate(f.fileno(), 0, RESERVE_BYTES)
                except (AttributeError, OSError):
                    f.write(b"\0" * RESERVE_BYTES)
        except OSError:
            self.release()

    def write(self, data: bytes) -> None:
        if self.failure is None:
            try:
                view = memoryview(data)
                while view:  # an unbuffered write may take only part of the data
                    view = view[self.file.write(view) or 0 :]
            except OSError as exc:
                self._failed(exc)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self.file.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.failure = f"raw events are no longer stored: {exc.strerror or exc}"
        self.release()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.reserve.unlink()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        self.release()


class StderrLog:
    """Codex's stderr, copied into the task's stderr.log up to STDERR_CAP. Codex must never see
    a failed write on stderr (it panics): the caller reads everything, whatever the file does."""

    def __init__(self, path: Path) -> None:
        self.kept = 0
        try:
            self.fd: int | None = private_fd(path)
        except OSError:
            self.fd = None

    def write(self, chunk: bytes) -> None:
        if self.fd is None or self.kept >= STDERR_CAP:
            return
        view = memoryview(chunk)[: STDERR_CAP - self.kept]
        self.kept += len(view)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def stderr_since(path: Path, start: int, limit: int = 65536) -> str:
    """What a stderr log holds from byte ``start`` on: its last ``limit`` bytes ("" if none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(start, size - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def stderr_tail(path: Path, limit: int = 1500) -> str:
    """The last few meaningful lines of the last ``limit`` bytes of a stderr log ("" if none)."""
    text = stderr_since(path, 0, limit)
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and "could not create PATH aliases" not in line
    ]
    return "\n".join(lines[-8:])
