"""Reading a task's raw Codex JSONL (``events.jsonl``) in pages, while it may still grow.

Owns: the paging rule: whole lines only, a page bounded in lines and bytes, a line longer than
the byte bound replaced by a marker, and the byte offset to read on from (a cursor that stays
valid as the runner appends).

Must not: write the file (the runner does) or parse events (``codex.events`` does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .records import EventPage


def read_page(path: Path, task_id: str, start: int, lines: int, max_bytes: int) -> EventPage:
    """A page of the JSONL at ``path`` from byte offset ``start``, and the next cursor."""
    out: list[str] = []
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(min(start, size))
            used = 0
            position = f.tell()
            while len(out) < lines and used < max_bytes:
                raw = f.readline(max_bytes + 1)
                if not raw:
                    break
                if not raw.endswith(b"\n") and len(raw) <= max_bytes:
                    break  # a line still being written: read it next time
                if len(raw) > max_bytes:
                    while raw and not raw.endswith(b"\n"):  # skip to the line's end
                        raw = f.readline(max_bytes)
                    out.append(json.dumps({"type": "oversized", "note": "line too long"}))
                else:
                    out.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                used += len(raw)
                position = f.tell()
    except FileNotFoundError:
        size, position = 0, 0
    return EventPage(
        task_id=task_id,
        cursor=start,
        next_cursor=position,
        more=position < size,
        size=size,
        lines=tuple(out),
    )
