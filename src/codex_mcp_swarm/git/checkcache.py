"""Check results remembered per tree and command, across landings and servers.

Owns: :class:`CheckCache`, a small JSON file in the repository's git common dir
(``codex-swarm-checks.json``) mapping (tree, check command) to the check's verdict, exit code
and output tail. A tree already checked green (or red) with a command is not checked again.
Writes go through a temporary file and ``os.replace`` under an ``flock``, so two landings of
one repository (other servers, the console) never tear it; the newest :data:`KEEP` entries
are kept.

Must not: run checks, or cache a verdict that says nothing about the tree (a check that timed
out or was stopped).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .lock import flock
from .run import GitError, common_dir

CACHE_FILE = "codex-swarm-checks.json"
KEEP = 2000  # entries kept (the newest)


@dataclass(frozen=True)
class CachedCheck:
    passed: bool
    exit_code: int | None
    seconds: float
    output_tail: str


def _key(tree: str, command: str) -> str:
    return hashlib.sha256(f"{tree}\0{command}".encode()).hexdigest()[:32]


class CheckCache:
    """Verdicts of one repository's checks. Safe to share between threads of one process."""

    def __init__(self, repo: Path) -> None:
        self.path = common_dir(Path(repo)) / CACHE_FILE
        self._lock = self.path.with_name(CACHE_FILE + ".lock")

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, tree: str, command: str) -> CachedCheck | None:
        entry = self._read().get(_key(tree, command))
        if not isinstance(entry, dict) or not isinstance(entry.get("passed"), bool):
            return None
        code = entry.get("exit_code")
        return CachedCheck(
            entry["passed"],
            code if isinstance(code, int) else None,
            float(entry.get("seconds") or 0.0),
            str(entry.get("output_tail") or ""),
        )

    def put(self, tree: str, command: str, verdict: CachedCheck) -> None:
        with contextlib.suppress(OSError, GitError), flock(self._lock, 30.0, "a landing"):
            data = self._read()
            data.pop(_key(tree, command), None)
            data[_key(tree, command)] = {
                "passed": verdict.passed,
                "exit_code": verdict.exit_code,
                "seconds": verdict.seconds,
                "output_tail": verdict.output_tail,
            }
            while len(data) > KEEP:  # dicts keep insertion order: the oldest go first
                data.pop(next(iter(data)))
            fd, tmp = tempfile.mkstemp(prefix=".checks-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out)
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
