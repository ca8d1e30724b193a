"""Framing Codex's stdout into JSONL lines.

Owns: :class:`Lines`, which cuts a byte stream into whole lines to parse and passes a line
longer than :data:`LINE_CAP` through in pieces (stored raw, never parsed, so one huge event
cannot make a runner hold it all in memory).

Must not: parse JSON, read or write files, or know what an event means.
"""

from __future__ import annotations

LINE_CAP = 8 * 1024 * 1024  # longer JSONL lines are stored raw but not parsed


class Lines:
    """Splits Codex's stdout into JSONL lines. :meth:`feed` and :meth:`end` give pieces to
    store, each with a size: 0 for a whole line to parse; -1 for the start of a line longer
    than ``cap`` (stored, never parsed); n > 0 for the last piece of such a line of n bytes."""

    def __init__(self, cap: int = LINE_CAP) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.long = 0  # bytes so far of an over-long line being passed through

    def feed(self, chunk: bytes) -> list[tuple[bytes, int]]:
        pieces: list[tuple[bytes, int]] = []
        buf = self.buf
        start, scan = 0, len(buf)  # only the new bytes can hold a newline not seen yet
        buf += chunk
        while (newline := buf.find(b"\n", scan)) >= 0:
            pieces.append(self._piece(bytes(buf[start : newline + 1])))
            start = scan = newline + 1
        del buf[:start]
        if len(buf) >= self.cap:  # no newline within cap bytes: store it, never parse it
            self.long += len(buf)
            pieces.append((bytes(buf), -1))
            buf.clear()
        return pieces

    def end(self) -> list[tuple[bytes, int]]:
        """What is left at the end of the stream (a last line without its newline)."""
        if not self.buf and not self.long:
            return []
        piece = bytes(self.buf)
        self.buf.clear()
        return [self._piece(piece)]

    def _piece(self, piece: bytes) -> tuple[bytes, int]:
        if not self.long:
            return piece, 0
        size, self.long = self.long + len(piece), 0
        return piece, size
