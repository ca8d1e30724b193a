"""What a task is doing now, said once for every face.

Owns: :func:`doing`, which reads a task's typed status view (:class:`.views.StatusView`) and says
what the task is doing now, or how it ended, as a :class:`Doing` (a state from :data:`STATES`
and its detail); :meth:`Doing.text`, the one line every face shows for it (the MCP progress
notifications, the console's tables and board, the web board's "last action"); and
:func:`tool_text`, a tool call in one line.

To add a state: name it in :data:`STATES` with its wording, and return it from :func:`doing`
where the view shows it (as ``reconnecting``: Codex cut off from the model, retrying).

Must not: read the store or know any face (no tool names, no terminal styles, no HTML).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codex.progress import reconnect_text
from ..codex.shell import command_text
from .phases import is_terminal
from .views import StatusView, ToolView

#: Every state :func:`doing` reports, with its wording (``{detail}`` is the state's detail).
STATES: dict[str, str] = {
    "queued": "queued",
    "waiting": "waiting for {detail}",  # not placed yet (the Ray backend: no free slot)
    "starting": "starting Codex",
    "cancelling": "cancelling",
    "reconnecting": "{detail}",  # cut off from the model: Codex retries (codex.progress words it)
    "tool": "running {detail}",  # a tool call in progress
    "thinking": "thinking: {detail}",
    "saying": "said: {detail}",
    "running": "running",
    "failed": "{detail}",  # ended with an error: its first line
    "done": "done: {detail}",  # completed, with its last message's first line
    "ended": "{detail}",  # ended otherwise: the phase
}

TOOL_LABELS = {"web_search": "search", "mcp_tool_call": "mcp", "collab_tool_call": "agents"}


@dataclass(frozen=True)
class Doing:
    """What a task is doing now: a state of :data:`STATES` and what it is about (one line)."""

    state: str
    detail: str = ""
    queue_position: int | None = None  # queued: its place in the queue
    plan: str | None = None  # running: how much of its plan is done ("2/5")

    def text(self, limit: int | None = None) -> str:
        """The state in one line; ``limit`` caps the detail (characters, with an ellipsis)."""
        text = STATES[self.state].format(detail=_cut(self.detail, limit))
        if self.queue_position:
            text += f" (#{self.queue_position} in the queue)"
        if self.plan:
            text += f" · plan {self.plan} done"
        return text


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def one_line(text: object) -> str:
    """The first non-blank line of ``text``, whitespace collapsed."""
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else ""


def tool_text(tool: ToolView, cwd: str | None = None) -> str:
    """A tool call in one line: ``$ pytest -q``, ``update src/a.py``, ``search: rich live``.
    Paths inside ``cwd`` are shown relative to it."""
    kind = tool.kind
    summary = tool.summary or ""
    if kind == "command":
        return "$ " + " ".join(command_text(summary).split())
    if kind == "file_change" and cwd:
        summary = summary.replace(cwd.rstrip("/") + "/", "")
    summary = " ".join(summary.split())
    if kind in TOOL_LABELS:
        return f"{TOOL_LABELS[kind]}: {summary}"
    return summary


def doing(view: StatusView) -> Doing:
    """What the task of ``view`` (from :func:`.views.status_view`) is doing now, or how it
    ended."""
    status = view.status
    if status == "queued":
        return Doing("queued", queue_position=view.queue_position or None)
    if status == "starting":
        if view.waiting_for:
            return Doing("waiting", one_line(view.waiting_for))
        return Doing("starting")
    if not is_terminal(status):
        if view.cancel_requested:
            return Doing("cancelling")
        plan = view.todo or None
        if cut_off := view.reconnecting:
            reason = one_line(cut_off.reason)
            attempt = cut_off.attempt or 1
            return Doing("reconnecting", reconnect_text(reason, attempt), plan=plan)
        last = view.last_tool
        if last and last.status == "in_progress":
            return Doing("tool", tool_text(last, view.cwd), plan=plan)
        if view.reasoning:
            return Doing("thinking", one_line(view.reasoning), plan=plan)
        if view.message:
            return Doing("saying", one_line(view.message), plan=plan)
        return Doing("running", plan=plan)
    if view.error and one_line(view.error):
        return Doing("failed", one_line(view.error))
    if status == "completed" and one_line(view.message):
        return Doing("done", one_line(view.message))
    return Doing("ended", status)
