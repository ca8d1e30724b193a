"""The rules that relate a launch's arguments to each other, said once for every face.

Owns: turning a face's worktree arguments into a :class:`WorktreeRequest` (or refusing them).

Must not: know which face asked: errors are sentences about the arguments, in the caller's
names (``names`` maps the rule's words to the face's spelling of each argument).
"""

from __future__ import annotations

from collections.abc import Mapping

from .tasks import TaskError, WorktreeRequest

MCP_NAMES = {
    "worktree": "worktree: true",
    "base_ref": "base_ref",
    "include_uncommitted": "include_uncommitted",
}


def worktree_request(
    worktree: bool,
    base_ref: str | None,
    include_uncommitted: bool,
    names: Mapping[str, str] = MCP_NAMES,
) -> WorktreeRequest | None:
    if worktree:
        return WorktreeRequest(base_ref=base_ref, include_uncommitted=include_uncommitted)
    if base_ref or include_uncommitted:
        raise TaskError(
            f"{names['base_ref']} and {names['include_uncommitted']} only apply with "
            f"{names['worktree']}"
        )
    return None
