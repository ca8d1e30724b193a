"""A unified diff -> files of side-by-side rows, each side's code split into highlighted tokens.

Owns: reading ``git diff --patch`` output into files and hunks, pairing deleted and added lines
into side-by-side rows, and the syntax colouring (Pygments, chosen by file name; plain text when
it knows no lexer). Tokens are sent as ``[css_class, text]`` pairs: the page builds its elements
with ``textContent``, so nothing in a diff ever becomes markup.

Must not: run git or read tasks. It is a pure function of the patch text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
MAX_LINE = 2000  # characters of one diff line shown; longer lines are cut and marked


@dataclass
class _Hunk:
    header: str
    old_start: int
    new_start: int
    lines: list[tuple[str, str]] = field(default_factory=list)  # (' ' | '-' | '+', text)


@dataclass
class _File:
    path: str
    old_path: str | None = None
    status: str = "modified"  # added, deleted, modified, binary
    binary: bool = False
    hunks: list[_Hunk] = field(default_factory=list)


def _path_of(header: str) -> str:
    """``diff --git a/x b/x`` -> ``x`` (quoted names are kept as git wrote them)."""
    rest = header[len("diff --git ") :]
    if rest.startswith("a/") and " b/" in rest:
        half = rest[2:].split(" b/", 1)
        return half[1] if len(half) == 2 else half[0]
    return rest


def parse(patch: str) -> list[_File]:
    files: list[_File] = []
    current: _File | None = None
    hunk: _Hunk | None = None
    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            current = _File(path=_path_of(line))
            files.append(current)
            hunk = None
            continue
        if current is None:
            continue
        if hunk is None:
            if line.startswith("new file mode"):
                current.status = "added"
            elif line.startswith("deleted file mode"):
                current.status = "deleted"
            elif line.startswith("Binary files") or line.startswith("GIT binary patch"):
                current.binary, current.status = True, "binary"
            elif line.startswith("+++ ") and line[4:] != "/dev/null":
                current.path = line[4:].removeprefix("b/")
            elif line.startswith("--- ") and line[4:] != "/dev/null":
                current.old_path = line[4:].removeprefix("a/")
        match = _HUNK.match(line)
        if match:
            hunk = _Hunk(line, int(match.group(1)), int(match.group(3)))
            current.hunks.append(hunk)
            continue
        if hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.lines.append((line[:1], line[1:]))
        elif hunk is not None and line == "":
            continue
    return files


def _lexer(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


_KEPT_NAMES = frozenset({"nf", "nc", "nb", "bp", "nd", "nt", "na", "fm"})


def _css(token: _TokenType) -> str:
    """A short class for the page's stylesheet: the Pygments kind's first letter (k keyword,
    s string, c comment, m number, o operator), a few names kept whole, "" for the rest."""
    while token not in STANDARD_TYPES and token.parent is not None:
        token = token.parent
    name = str(STANDARD_TYPES.get(token, ""))
    if name in _KEPT_NAMES:
        return name
    return name[:1] if name[:1] in ("k", "s", "c", "m", "o", "g") else ""


Tokens = list[list[str]]  # [[css_class, text], ...]


def highlight_lines(lexer: Lexer, lines: list[str]) -> list[Tokens]:
    """Colour ``lines`` as one piece of code (so a string spanning lines stays a string)."""
    if not lines:
        return []
    out: list[Tokens] = [[]]
    for token, value in lexer.get_tokens("\n".join(lines)):
        parts = value.split("\n")
        for i, part in enumerate(parts):
            if i:
                out.append([])
            if part:
                cls = _css(token)
                row = out[-1]
                if row and row[-1][0] == cls:
                    row[-1][1] += part
                else:
                    row.append([cls, part])
    while len(out) < len(lines):
        out.append([])
    return out[: len(lines)]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + " … [line cut]"


def _rows(hunk: _Hunk, lexer: Lexer) -> list[dict[str, Any]]:
    """Pair each run of deletions with the additions that follow it, line for line."""
    old_lines = [_cut(t) for k, t in hunk.lines if k in (" ", "-")]
    new_lines = [_cut(t) for k, t in hunk.lines if k in (" ", "+")]
    old_tokens = highlight_lines(lexer, old_lines)
    new_tokens = highlight_lines(lexer, new_lines)
    rows: list[dict[str, Any]] = []
    oi = ni = 0
    old_no, new_no = hunk.old_start, hunk.new_start
    i = 0
    lines = hunk.lines
    while i < len(lines):
        kind = lines[i][0]
        if kind == " ":
            rows.append(
                {
                    "kind": "context",
                    "old": [old_no, old_tokens[oi]],
                    "new": [new_no, new_tokens[ni]],
                }
            )
            oi, ni, old_no, new_no, i = oi + 1, ni + 1, old_no + 1, new_no + 1, i + 1
            continue
        deleted: list[list[Any]] = []
        added: list[list[Any]] = []
        while i < len(lines) and lines[i][0] == "-":
            deleted.append([old_no, old_tokens[oi]])
            oi, old_no, i = oi + 1, old_no + 1, i + 1
        while i < len(lines) and lines[i][0] == "+":
            added.append([new_no, new_tokens[ni]])
            ni, new_no, i = ni + 1, new_no + 1, i + 1
        for j in range(max(len(deleted), len(added))):
            rows.append(
                {
                    "kind": "change",
                    "old": deleted[j] if j < len(deleted) else None,
                    "new": added[j] if j < len(added) else None,
                }
            )
    return rows


def side_by_side(patch: str) -> list[dict[str, Any]]:
    """Every file of ``patch``: path, status, counts, and hunks of side-by-side rows."""
    out: list[dict[str, Any]] = []
    for f in parse(patch):
        lexer = _lexer(f.path)
        hunks = [{"header": h.header, "rows": _rows(h, lexer)} for h in f.hunks]
        out.append(
            {
                "path": f.path,
                "old_path": f.old_path,
                "status": f.status,
                "binary": f.binary,
                "insertions": sum(1 for h in f.hunks for k, _ in h.lines if k == "+"),
                "deletions": sum(1 for h in f.hunks for k, _ in h.lines if k == "-"),
                "hunks": hunks,
            }
        )
    return out
