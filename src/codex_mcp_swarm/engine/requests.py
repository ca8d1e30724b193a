"""The rules that relate a launch's arguments to each other, said once for every face.

Owns: turning a face's worktree arguments into a :class:`WorktreeRequest` (or refusing them).

Must not: know which face asked: a refusal names the arguments as :class:`~.errors.Term` s,
which each face spells its own way (``base_ref`` over MCP, ``--base-ref`` in the shell).
"""

from __future__ import annotations

from ..git.refs import check_rev_text
from ..git.run import GitError
from .errors import TaskError
from .plan import WorktreeRequest


def worktree_request(
    worktree: bool, base_ref: str | None, include_uncommitted: bool
) -> WorktreeRequest | None:
    if worktree:
        if include_uncommitted and base_ref and base_ref != "HEAD":
            raise TaskError(
                "{INCLUDE_UNCOMMITTED} carries the changes of the checkout on top of its HEAD, "
                "so it only works from there: leave out {BASE_REF} (got {base_ref!r}) or drop "
                "{INCLUDE_UNCOMMITTED}",
                base_ref=base_ref,
            )
        if base_ref is not None:
            try:
                check_rev_text(base_ref, "base ref")  # git's rule, said in the face's words
            except GitError:
                raise TaskError(
                    "{BASE_REF} {base_ref!r} is not a valid git revision: give a branch, tag or "
                    "commit name (not empty, not starting with '-')",
                    base_ref=base_ref,
                ) from None
        return WorktreeRequest(base_ref=base_ref, include_uncommitted=include_uncommitted)
    if base_ref or include_uncommitted:
        raise TaskError("{BASE_REF} and {INCLUDE_UNCOMMITTED} only apply {WORKTREE}")
    return None
