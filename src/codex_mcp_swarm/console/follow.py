"""``codex-mcp-swarm watch ID``: one task's events, one readable line each, as they are written.

Owns: tailing ``tasks/<id>/events.jsonl`` from its start while it grows (only whole lines are
read; a line still being written waits for the next read), the wording of each Codex event as one
line, and the end: once the store says the task ended and the file is read to its end.

Must not: write anything, or parse Codex output itself (``codex.events`` does).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..codex.events import CodexEvent, describe_tool, parse_line
from ..engine import Store, TaskRow, elapsed
from ..settings import Settings
from ..wording import duration
from .common import clean, command_text, first_line, load_task, make_console, phase_text
from .table import task_view
from .watch import sigterm_as_interrupt

POLL = 0.2  # seconds between reads of a file that did not grow
READ_CHUNK = 1 << 20


def _tool_line(event_type: str, item: dict[str, Any]) -> Text | None:
    tool = describe_tool(item)
    if tool is None:
        return None
    summary = command_text(tool.summary) if tool.kind == "command" else clean(tool.summary)
    if tool.kind == "command":
        if event_type == "item.started":
            return Text(f"$ {summary}", style="cyan")
        if event_type != "item.completed":
            return None
        code = tool.exit_code
        ok = tool.status == "completed" and code in (None, 0)
        outcome = f"exit {code}" if code is not None else tool.status
        return Text(f"$ {summary} -> {outcome}", style="green" if ok else "red")
    if event_type != "item.completed" and tool.kind == "file_change":
        return None
    label = {
        "file_change": "edit",
        "mcp_tool_call": "mcp",
        "web_search": "search",
        "collab_tool_call": "agents",
    }.get(tool.kind, tool.kind)
    state = "" if tool.status in ("completed", "in_progress") else f" ({tool.status})"
    return Text(f"{label}: {summary}{state}", style="yellow" if state else "")


def _item_line(event_type: str, item: dict[str, Any]) -> Text | None:
    kind = item.get("type")
    if kind == "agent_message" and event_type == "item.completed":
        text = str(item.get("text") or "")
        more = len([line for line in text.splitlines() if line.strip()]) - 1
        suffix = f" (+{more} more lines)" if more > 0 else ""
        return Text(f"message: {first_line(text)}{suffix}", style="bold")
    if kind == "reasoning" and event_type == "item.completed":
        return Text(f"thinking: {first_line(item.get('text'))}", style="dim italic")
    if kind == "todo_list":
        todo = [t for t in item.get("items") or [] if isinstance(t, dict)]
        done = sum(1 for t in todo if t.get("completed"))
        upcoming = next((t for t in todo if not t.get("completed")), None)
        text = f"plan: {done}/{len(todo)} done"
        if upcoming is not None:
            text += f"; next: {first_line(upcoming.get('text'))}"
        return Text(text, style="blue")
    if kind == "error" and event_type == "item.completed":
        return Text(f"warning: {first_line(item.get('message'))}", style="yellow")
    return _tool_line(event_type, item)


def event_line(event: CodexEvent) -> Text | None:
    """One Codex event in one line, or ``None`` for events not worth a line (updates)."""
    data = event.data
    kind = event.type
    if kind == "thread.started":
        return Text(f"thread {clean(data.get('thread_id'))} started", style="dim")
    if kind == "turn.started":
        return Text("turn started", style="dim")
    if kind == "turn.completed":
        found = data.get("usage")
        usage: dict[str, Any] = found if isinstance(found, dict) else {}
        return Text(
            f"turn completed ({usage.get('input_tokens', 0)} tokens in, "
            f"{usage.get('output_tokens', 0)} out)",
            style="dim",
        )
    if kind == "turn.failed":
        failure = data.get("error")
        message = failure.get("message") if isinstance(failure, dict) else None
        return Text(f"turn failed: {first_line(message or 'no reason given')}", style="bold red")
    if kind == "error":
        return Text(f"error: {first_line(data.get('message'))}", style="red")
    if kind in ("item.started", "item.updated", "item.completed"):
        return _item_line(kind, event.item)
    if kind == "invalid":
        return Text(f"(unreadable line: {clean(data.get('text'), 80)})", style="dim")
    return Text(f"({clean(kind, 60)} event)", style="dim")


def _end_line(row: TaskRow) -> Text:
    line = Text(f"Task {row.id} ")
    line.append_text(phase_text(row.phase))
    line.append(f" after {duration(elapsed(row))}")
    if row.exit_code is not None:
        line.append(f" · exit code {row.exit_code}")
    if row.error:
        line.append(f" · {first_line(row.error)}")
    line.append(f"\n`codex-mcp-swarm show {row.id}` prints its result.", style="dim")
    return line


class Tail:
    """Whole lines appended to a file since the last read."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.offset = 0
        self.pending = b""

    def read(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(READ_CHUNK)
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        return lines

    def rest(self) -> list[bytes]:
        """What is left once the writer is gone: the last line even without its newline."""
        lines, self.pending = [self.pending], b""
        return [line for line in lines if line]


def _print_events(console: Console, lines: list[bytes]) -> None:
    for raw in lines:
        event = parse_line(raw)
        text = event_line(event) if event is not None else None
        if text is not None:
            console.print(text, no_wrap=True, overflow="ellipsis")


def _footer(store: Store, row: TaskRow) -> Text:
    view = task_view(store, row)
    line = Text("now ", style="dim")
    line.append_text(phase_text(row.phase))
    line.append(f" {duration(view['elapsed_s'])} · {view['doing']}", style="dim")
    return line


def follow(console: Console, store: Store, row: TaskRow) -> None:
    """Print the task's events from the start, following the file until the task ends.

    The runner writes events in bursts; in a terminal a footer line, redrawn from the store's
    progress, says what the task is doing meanwhile."""
    header = Text(f"Task {row.id} ", style="bold")
    header.append_text(phase_text(row.phase))
    header.append(f" · {clean(row.title, 100)} · Ctrl-C stops following", style="")
    console.print(header, no_wrap=True, overflow="ellipsis")
    tail = Tail(store.events_path(row.id))
    footer: Live | None = None
    if console.is_terminal and not row.terminal:
        footer = Live(console=console, auto_refresh=False, transient=True)
        footer.start()
    try:
        while True:
            current = store.get(row.id) or row  # read before the file: an end means all is in
            lines = tail.read()
            _print_events(console, lines)
            if current.terminal and not lines:
                _print_events(console, tail.rest())
                break
            if footer is not None:
                footer.update(_footer(store, current), refresh=True)
            if not lines:
                time.sleep(POLL)
    finally:
        if footer is not None:
            footer.stop()
    console.print(_end_line(current))


def follow_command(settings: Settings, task_id: str) -> int:
    """``codex-mcp-swarm watch ID``."""
    loaded = load_task(settings, task_id)
    if isinstance(loaded, int):
        return loaded
    store, row = loaded
    console = make_console()
    try:
        with sigterm_as_interrupt():
            follow(console, store, row)
    except KeyboardInterrupt:
        pass
    return 0
