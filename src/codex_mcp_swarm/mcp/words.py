"""The MCP face's words for the engine's terms: its tools and their arguments.

Owns: :data:`MCP_WORDS` (each :class:`~..engine.errors.Term` as a model calling these tools
names it: ``codex_reply``, ``threadId``, ``worktree: true``; a setting of the server by the
flag it was started with, ``--ephemeral``) and :func:`said`, what an error says in them. Every
tool answers an engine error through :func:`said`.

Must not: word anything but the engine's terms (answers and texts are ``answers``/``render``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine import Term, spelt

MCP_WORDS: Mapping[Term, str] = {
    Term.REPLY: "codex_reply",
    Term.LAUNCH: "a new task (codex or codex_async)",
    Term.LIST: "codex_list",
    Term.DIFF: "codex_diff",
    Term.WAIT: "codex_wait",
    Term.SETUP_CHECK: "`codex-mcp-swarm doctor` (in a shell)",
    Term.TASK_ID: "task_id",
    Term.THREAD_ID: "threadId",
    Term.PROMPT: "prompt",
    Term.MESSAGE: "message",
    Term.INSTRUCTIONS: "instructions",
    Term.COUNT: "count",
    Term.CWD: "cwd",
    Term.SANDBOX: "sandbox",
    Term.BASE_REF: "base_ref",
    Term.INCLUDE_UNCOMMITTED: "include_uncommitted",
    Term.CHECK: "check",
    Term.STRATEGY: "strategy",
    Term.TARGET: "target",
    Term.WORKTREE: "with worktree: true",
    Term.WORKTREE_FROM: "with worktree: true and base_ref {branch!r}",
    Term.EPHEMERAL: "--ephemeral",
    Term.BACKEND: "a server started with --backend {backend}",
    Term.CODEX_BIN: "--codex-bin PATH (or CODEX_SWARM_CODEX_BIN)",
    Term.RAY_ADDRESS: "--ray-address (or RAY_ADDRESS)",
    Term.GIT_REMOTE: "--git-remote URL (or CODEX_SWARM_GIT_REMOTE)",
    Term.TASK_DIR: "CODEX_SWARM_TASK_DIR (or --task-dir)",
}


def said(exc: BaseException) -> str:
    """What ``exc`` says, in this face's words."""
    return spelt(exc, MCP_WORDS)
