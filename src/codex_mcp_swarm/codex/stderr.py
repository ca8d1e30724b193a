"""What Codex says on stderr when it stops: its own ``Error:`` sentence, without the noise.

Owns: reading the reason out of the stderr of a Codex process that exited non-zero. Codex (a Rust
program using ``anyhow``) prints ``Error: <sentence>``, then optionally ``Caused by:`` with
numbered causes, then a ``Stack backtrace:`` of frames that read ``<unknown>`` in release builds.
The sentence (and its causes) is the reason; the frames are noise.

Must not: do I/O (the caller reads the file) or know about tasks.
"""

from __future__ import annotations

import re

_ERROR = "Error: "
_CAUSE = re.compile(r"\s+(?:\d+:\s*)?(.*\S)")  # "    0: cause" or "    cause"
MAX_CHARS = 1_500


def codex_error(stderr: str) -> str | None:
    """Codex's last ``Error:`` sentence in ``stderr`` with its causes joined by ``: ``, or
    ``None`` when it printed none."""
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(_ERROR)]
    if not starts:
        return None
    first = starts[-1]
    parts = [lines[first][len(_ERROR) :].strip()]
    rest = lines[first + 1 :]
    # The sentence may go on over several lines until a blank line.
    while rest and rest[0].strip():
        parts[0] += " " + rest.pop(0).strip()
    while rest and not rest[0].strip():
        rest.pop(0)
    if rest and rest[0].strip() == "Caused by:":
        for line in rest[1:]:
            cause = _CAUSE.fullmatch(line)
            if cause is None:
                break
            parts.append(cause.group(1))
    text = ": ".join(part for part in parts if part)
    if not text:
        return None
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
