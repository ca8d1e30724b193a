"""The board's words for the engine's terms: its pages, fields and buttons.

Owns: :data:`BOARD_WORDS` (each :class:`~..engine.errors.Term` as a person at the board sees it:
the check field, the task page's diff; a setting of the server by the flag it was started with)
and :func:`said`, what an error says in them. What the board cannot do (reply, start a task)
keeps the engine's plain words.

Must not: word anything but the engine's terms.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..engine import ENGINE_WORDS, Term, spelt

BOARD_WORDS: Mapping[Term, str] = {
    **ENGINE_WORDS,
    Term.LIST: "the task list",
    Term.DIFF: "the diff on its task page",
    Term.WAIT: "its task page",
    Term.CHECK: "the check field",
    Term.SETUP_CHECK: "`codex-mcp-swarm doctor` (in a shell)",
    Term.EPHEMERAL: "--ephemeral",
    Term.BACKEND: "a server started with --backend {backend}",
    Term.CODEX_BIN: "--codex-bin PATH (or CODEX_SWARM_CODEX_BIN)",
    Term.RAY_ADDRESS: "--ray-address (or RAY_ADDRESS)",
    Term.GIT_REMOTE: "--git-remote URL (or CODEX_SWARM_GIT_REMOTE)",
    Term.TASK_DIR: "CODEX_SWARM_TASK_DIR (or --task-dir)",
}


def said(exc: BaseException) -> str:
    """What ``exc`` says, in this face's words."""
    return spelt(exc, BOARD_WORDS)
