"""Git plumbing for tasks: one worktree and branch per task, and bringing the work back safely.

Owns: the package's public names, gathered from the modules that own them (import this package
as ``git`` and call ``git.create_worktree``, ``git.merge``, ``git.cleanup`` ...):

* :mod:`.run` running git safely (:class:`GitError`), :mod:`.refs` validating caller text;
* :mod:`.worktrees` creating and committing task worktrees;
* :mod:`.describe` a branch's outcome and diff;
* :mod:`.merging` in-memory merges and applying one safely; :mod:`.landing` one step of a
  merge queue (candidate, check in a scratch worktree, atomic move); :mod:`.lock` the
  per-repository lock every merge, cleanup and landing holds while it moves refs or the checkout;
* :mod:`.cleanup` merged-or-not and removing worktrees and branches.

Imported by their own names, not gathered here: :mod:`.batch` (many branches landed at once),
:mod:`.checkcache` (check verdicts per tree), :mod:`.snapshots` (a running task's work so far as
a commit) and :mod:`.remote` (code to and from Ray workers through a git remote).

Must not: know about the task store, task processes, or MCP. Safety rules kept throughout: caller
text never reaches git where it could be read as an option (refs are validated and follow
``--end-of-options``, paths follow ``--``); user hooks run as usual except for the commits
this package makes itself (``--no-verify``, or plumbing that runs no hooks); git never prompts
(``GIT_TERMINAL_PROMPT=0``); a fallback identity is used only when the repository has none.
"""

from .cleanup import Cleanup, cleanup, is_merged, unmerged_commits
from .describe import Diff, FileChange, Outcome, diff, outcome
from .merging import STRATEGIES, MergeResult, merge
from .refs import BRANCH_PREFIX
from .run import GitError
from .worktrees import Worktree, commit_all, create_worktree, prune, repo_root

__all__ = [
    "BRANCH_PREFIX",
    "STRATEGIES",
    "Cleanup",
    "Diff",
    "FileChange",
    "GitError",
    "MergeResult",
    "Outcome",
    "Worktree",
    "cleanup",
    "commit_all",
    "create_worktree",
    "diff",
    "is_merged",
    "merge",
    "outcome",
    "prune",
    "repo_root",
    "unmerged_commits",
]
