"""Codex JSONL lines -> the entries of a task's timeline on the board.

Owns: which events a person sees in a task's timeline and in what words: commands (with their exit
codes and the end of their output), file changes, reasoning summaries, agent messages, plan
updates, errors and turn ends. An item reported as started and then completed keeps its ``id`` so
the page replaces the first entry with the second.

Must not: read files or know tasks; it is a pure function of the lines. Texts stay plain text
(the page shows them with ``textContent``).
"""

from __future__ import annotations

from typing import Any

from ..codex.events import (
    AgentMessage,
    CommandExecution,
    ErrorItem,
    FileChange,
    Invalid,
    Item,
    ItemCompleted,
    ItemStarted,
    ItemUpdated,
    McpToolCall,
    Reasoning,
    ThreadError,
    ThreadStarted,
    TodoList,
    TurnCompleted,
    TurnFailed,
    Usage,
    WebSearch,
    cap,
    parse_line,
)
from ..codex.shell import command_text

OUTPUT_TAIL = 4_000  # characters of a command's output kept in its entry (its end)


def _tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "… " + text[-limit:]


def _item_entry(state: str, item: Item) -> dict[str, Any] | None:
    entry: dict[str, Any] = {"id": item.id, "state": state}
    if isinstance(item, CommandExecution):
        entry.update(
            kind="command",
            title=command_text(item.command),
            body=_tail(item.aggregated_output),
            exit_code=item.exit_code,
            status=item.status,
        )
    elif isinstance(item, FileChange):
        entry.update(
            kind="file_change",
            title=", ".join(f"{c.kind} {c.path}" for c in item.changes) or "file change",
            status=item.status,
        )
    elif isinstance(item, Reasoning):
        entry.update(kind="reasoning", title="", body=cap(item.text))
    elif isinstance(item, AgentMessage):
        entry.update(kind="message", title="", body=item.text)
    elif isinstance(item, TodoList):
        entry.update(
            kind="todo",
            title=f"plan {item.done}/{len(item.items)}",
            body="\n".join(("[x] " if t.completed else "[ ] ") + t.text for t in item.items),
        )
    elif isinstance(item, McpToolCall):
        entry.update(kind="tool", title=f"{item.server}.{item.tool}", status=item.status)
    elif isinstance(item, WebSearch):
        entry.update(kind="tool", title=f"web search: {item.query}")
    elif isinstance(item, ErrorItem):
        entry.update(kind="warning", title=item.message)
    else:
        entry.update(kind="other", title=item.type)
    if state == "started" and entry["kind"] not in ("command", "file_change", "tool"):
        return None  # only work in progress is worth showing before it completes
    return entry


def entry_of(line: str) -> dict[str, Any] | None:
    """The timeline entry of one JSONL line, or ``None`` when the line is not worth a row."""
    event = parse_line(line)
    if isinstance(event, (ItemStarted, ItemUpdated, ItemCompleted)):
        state = "completed" if isinstance(event, ItemCompleted) else "started"
        return _item_entry(state, event.item)
    if isinstance(event, ThreadStarted):
        return {"kind": "thread", "title": event.thread_id or ""}
    if isinstance(event, TurnCompleted):
        usage = event.usage or Usage()
        return {
            "kind": "turn",
            "title": f"turn completed: {usage.input_tokens} tokens in, {usage.output_tokens} out",
        }
    if isinstance(event, TurnFailed):
        return {"kind": "error", "title": "turn failed", "body": event.message or ""}
    if isinstance(event, ThreadError):
        reason = event.reconnect_reason
        if reason is not None:
            return {"kind": "warning", "title": "reconnecting to the model", "body": reason}
        return {"kind": "error", "title": "error", "body": event.message}
    if isinstance(event, Invalid):
        return {"kind": "other", "title": "unreadable line"}
    return None


def entries(lines: list[str]) -> list[dict[str, Any]]:
    return [e for e in (entry_of(line) for line in lines) if e is not None]
