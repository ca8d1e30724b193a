"""Text for people: how a task's status and result read in a tool answer.

Owns: the human-readable text content of tool results and progress messages. The same facts go
out as ``structuredContent`` for programs; this module only words them.

Must not: read the store or decide anything. Input is the dict views of ``engine.views``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def tokens(usage: dict[str, Any]) -> str:
    turn = usage.get("turn") or {}
    if not turn:
        return ""
    text = f"{turn.get('input_tokens', 0)} in"
    if turn.get("cached_input_tokens"):
        text += f" ({turn['cached_input_tokens']} cached)"
    text += f", {turn.get('output_tokens', 0)} out"
    return text


def doing(view: dict[str, Any]) -> str:
    """What a task is doing now, in a few words."""
    status = view["status"]
    if status in ("queued", "starting"):
        return str(status)
    last = view.get("last_tool")
    if status == "running" and last and last.get("status") == "in_progress":
        return f"running `{_short(str(last['summary']), 80)}`"
    if status == "running":
        if view.get("reasoning"):
            return f"thinking: {_short(str(view['reasoning']), 80)}"
        return "running"
    return str(status)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_text(view: dict[str, Any]) -> str:
    """A finished (or still running) task's result, for a person."""
    head = f"Task {view['task_id']} {view['status']}"
    if view["status"] in ("completed", "failed", "cancelled", "lost"):
        head += f" after {duration(view['elapsed_s'])}"
    else:
        head += f" ({duration(view['elapsed_s'])} so far; not finished)"
    if view.get("threadId"):
        head += f" · thread {view['threadId']}"
    lines = [head]
    if view.get("error"):
        lines.append(f"Error: {view['error']}")
    if view.get("content"):
        lines += ["", view["content"]]
    facts = [f"{view.get('tool_calls', 0)} tool calls"]
    if tokens(view.get("usage") or {}):
        facts.append("tokens " + tokens(view["usage"]))
    if view.get("exit_code") is not None:
        facts.append(f"exit code {view['exit_code']}")
    if view.get("exit_signal") is not None:
        facts.append(f"signal {view['exit_signal']}")
    lines += ["", " · ".join(facts)]
    return "\n".join(lines)


def status_text(view: dict[str, Any]) -> str:
    """A running task's live view, for a person."""
    lines = [
        f"Task {view['task_id']}: {view['status']} for {duration(view['elapsed_s'])}"
        + (f" · thread {view['threadId']}" if view.get("threadId") else ""),
        f"  prompt: {_short(view.get('title') or '', 100)}",
    ]
    last = view.get("last_tool")
    if last:
        state = last["status"]
        if last.get("exit_code") is not None:
            state += f", exit {last['exit_code']}"
        lines.append(f"  last tool ({last['kind']}, {state}): {_short(last['summary'], 160)}")
    lines.append(f"  tool calls: {view.get('tool_calls', 0)}")
    if view.get("todo"):
        lines.append(f"  plan: {view['todo']} done")
    if view.get("reasoning"):
        lines.append(f"  reasoning: {_short(view['reasoning'], 200)}")
    if view.get("message"):
        lines.append(f"  message: {_short(view['message'], 200)}")
    if tokens(view.get("usage") or {}):
        lines.append(f"  tokens: {tokens(view['usage'])}")
    for warning in (view.get("warnings") or [])[-3:]:
        lines.append(f"  warning: {_short(warning, 160)}")
    if view.get("error"):
        lines.append(f"  error: {view['error']}")
    return "\n".join(lines)


def progress_line(views: Sequence[dict[str, Any]]) -> str:
    """One line for a progress notification: '1/3 done; abc123: running `pytest -q` (41 s)'."""
    done = [v for v in views if v["status"] in ("completed", "failed", "cancelled", "lost")]
    live = [v for v in views if v not in done]
    parts = []
    if len(views) > 1:
        parts.append(f"{len(done)}/{len(views)} done")
    for view in live[:3]:
        parts.append(f"{view['task_id']}: {doing(view)} ({duration(view['elapsed_s'])})")
    if len(live) > 3:
        parts.append(f"+{len(live) - 3} more running")
    return "; ".join(parts)
