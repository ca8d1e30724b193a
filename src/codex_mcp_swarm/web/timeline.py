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

from ..codex.events import cap, parse_line
from ..codex.shell import command_text

OUTPUT_TAIL = 4_000  # characters of a command's output kept in its entry (its end)


def _tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "… " + text[-limit:]


def _item_entry(kind: str, item: dict[str, Any]) -> dict[str, Any] | None:
    item_type = item.get("type")
    entry: dict[str, Any] = {"id": item.get("id"), "state": kind}
    if item_type == "command_execution":
        entry.update(
            kind="command",
            title=command_text(item.get("command")),
            body=_tail(str(item.get("aggregated_output") or "")),
            exit_code=item.get("exit_code"),
            status=item.get("status"),
        )
    elif item_type == "file_change":
        changes = item.get("changes") or []
        entry.update(
            kind="file_change",
            title=", ".join(
                f"{c.get('kind', 'update')} {c.get('path', '?')}"
                for c in changes
                if isinstance(c, dict)
            )
            or "file change",
            status=item.get("status"),
        )
    elif item_type == "reasoning":
        entry.update(kind="reasoning", title="", body=cap(str(item.get("text") or "")))
    elif item_type == "agent_message":
        entry.update(kind="message", title="", body=str(item.get("text") or ""))
    elif item_type == "todo_list":
        items = [i for i in item.get("items") or [] if isinstance(i, dict)]
        entry.update(
            kind="todo",
            title=f"plan {sum(1 for i in items if i.get('completed'))}/{len(items)}",
            body="\n".join(
                ("[x] " if i.get("completed") else "[ ] ") + str(i.get("text", "")) for i in items
            ),
        )
    elif item_type == "mcp_tool_call":
        entry.update(
            kind="tool",
            title=f"{item.get('server', '?')}.{item.get('tool', '?')}",
            status=item.get("status"),
        )
    elif item_type == "web_search":
        entry.update(kind="tool", title=f"web search: {item.get('query', '')}")
    elif item_type == "error":
        entry.update(kind="warning", title=str(item.get("message") or ""))
    else:
        entry.update(kind="other", title=str(item_type or "item"))
    if kind == "started" and entry["kind"] not in ("command", "file_change", "tool"):
        return None  # only work in progress is worth showing before it completes
    return entry


def entry_of(line: str) -> dict[str, Any] | None:
    """The timeline entry of one JSONL line, or ``None`` when the line is not worth a row."""
    event = parse_line(line)
    if event is None:
        return None
    if event.type in ("item.started", "item.updated", "item.completed"):
        state = "completed" if event.type == "item.completed" else "started"
        return _item_entry(state, event.item)
    if event.type == "thread.started":
        return {"kind": "thread", "title": str(event.data.get("thread_id", ""))}
    if event.type == "turn.completed":
        usage = event.data.get("usage") or {}
        return {
            "kind": "turn",
            "title": f"turn completed: {usage.get('input_tokens', 0)} tokens in, "
            f"{usage.get('output_tokens', 0)} out",
        }
    if event.type == "turn.failed":
        error = event.data.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else error
        return {"kind": "error", "title": "turn failed", "body": str(message or "")}
    if event.type == "error":
        return {"kind": "error", "title": "error", "body": str(event.data.get("message") or "")}
    if event.type == "invalid":
        return {"kind": "other", "title": "unreadable line"}
    return None


def entries(lines: list[str]) -> list[dict[str, Any]]:
    return [e for e in (entry_of(line) for line in lines) if e is not None]
