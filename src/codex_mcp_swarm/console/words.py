"""The console's words for the engine's terms: its commands and their flags.

Owns: :data:`CONSOLE_WORDS` (each :class:`~..engine.errors.Term` as a person at a shell names it:
``codex-mcp-swarm tasks``, ``--worktree``; a setting of the server by its flag, ``--ephemeral``)
and :func:`said`, what an error says in them. The shell has no reply command: a reply is named
as the MCP tool that makes one.

Must not: word anything but the engine's terms.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine import Term, spelt

CONSOLE_WORDS: Mapping[Term, str] = {
    Term.REPLY: "a reply (codex_reply over MCP)",
    Term.LAUNCH: "a new task (`codex-mcp-swarm run`)",
    Term.LIST: "`codex-mcp-swarm tasks`",
    Term.DIFF: "`codex-mcp-swarm show ID`",
    Term.WAIT: "`codex-mcp-swarm watch ID`",
    Term.SETUP_CHECK: "`codex-mcp-swarm doctor`",
    Term.TASK_ID: "ID",
    Term.THREAD_ID: "thread id",
    Term.PROMPT: "PROMPT",
    Term.MESSAGE: "MESSAGE",
    Term.INSTRUCTIONS: "--instructions",
    Term.COUNT: "--count",
    Term.CWD: "--cwd",
    Term.SANDBOX: "--sandbox",
    Term.BASE_REF: "--base-ref",
    Term.INCLUDE_UNCOMMITTED: "--include-uncommitted",
    Term.CHECK: "--check",
    Term.STRATEGY: "--strategy",
    Term.TARGET: "--target",
    Term.WORKTREE: "with --worktree",
    Term.WORKTREE_FROM: "with --worktree --base-ref {branch}",
    Term.EPHEMERAL: "--ephemeral",
    Term.BACKEND: "a server started with --backend {backend}",
    Term.CODEX_BIN: "--codex-bin PATH (or CODEX_SWARM_CODEX_BIN)",
    Term.RAY_ADDRESS: "--ray-address (or RAY_ADDRESS)",
    Term.GIT_REMOTE: "--git-remote URL (or CODEX_SWARM_GIT_REMOTE)",
    Term.TASK_DIR: "CODEX_SWARM_TASK_DIR (or --task-dir)",
}


def said(exc: BaseException) -> str:
    """What ``exc`` says, in this face's words."""
    return spelt(exc, CONSOLE_WORDS)
