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

from ..codex.events import (
    AgentMessage,
    CodexEvent,
    ErrorItem,
    Invalid,
    ItemCompleted,
    ItemEvent,
    ItemStarted,
    ItemUpdated,
    Reasoning,
    ThreadError,
    ThreadStarted,
    TodoList,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
    Usage,
    parse_line,
)
from ..codex.progress import describe_tool
from ..engine import Store, TaskRow, elapsed
from ..settings import Settings
from ..wording import duration
from .common import clean, command_text, first_line, load_task, make_console, phase_text
from .table import now_text, task_status
from .watch import sigterm_as_interrupt

POLL = 0.2  # seconds between reads of a file that did not grow
READ_CHUNK = 1 << 20


def _tool_line(event: ItemEvent) -> Text | None:
    tool = describe_tool(event.item, done=isinstance(event, ItemCompleted))
    if tool is None:
        return None
    summary = command_text(tool.summary) if tool.kind == "command" else clean(tool.summary)
    if tool.kind == "command":
        if isinstance(event, ItemStarted):
            return Text(f"$ {summary}", style="cyan")
        if not isinstance(event, ItemCompleted):
            return None
        code = tool.exit_code
        ok = tool.status == "completed" and code in (None, 0)
        outcome = f"exit {code}" if code is not None else tool.status
        return Text(f"$ {summary} -> {outcome}", style="green" if ok else "red")
    if not isinstance(event, ItemCompleted) and tool.kind == "file_change":
        return None
    label = {
        "file_change": "edit",
        "mcp_tool_call": "mcp",
        "web_search": "search",
        "collab_tool_call": "agents",
    }.get(tool.kind, tool.kind)
    state = "" if tool.status in ("completed", "in_progress") else f" ({tool.status})"
    return Text(f"{label}: {summary}{state}", style="yellow" if state else "")


def _item_line(event: ItemEvent) -> Text | None:
    item, completed = event.item, isinstance(event, ItemCompleted)
    if isinstance(item, AgentMessage) and completed:
        more = len([line for line in item.text.splitlines() if line.strip()]) - 1
        suffix = f" (+{more} more lines)" if more > 0 else ""
        return Text(f"message: {first_line(item.text)}{suffix}", style="bold")
    if isinstance(item, Reasoning) and completed:
        return Text(f"thinking: {first_line(item.text)}", style="dim italic")
    if isinstance(item, TodoList):
        upcoming = next((t for t in item.items if not t.completed), None)
        text = f"plan: {item.done}/{len(item.items)} done"
        if upcoming is not None:
            text += f"; next: {first_line(upcoming.text)}"
        return Text(text, style="blue")
    if isinstance(item, ErrorItem) and completed:
        return Text(f"warning: {first_line(item.message)}", style="yellow")
    return _tool_line(event)


def event_line(event: CodexEvent) -> Text | None:
    """One Codex event in one line, or ``None`` for events not worth a line (updates)."""
    if isinstance(event, ThreadStarted):
        return Text(f"thread {clean(event.thread_id)} started", style="dim")
    if isinstance(event, TurnStarted):
        return Text("turn started", style="dim")
    if isinstance(event, TurnCompleted):
        usage = event.usage or Usage()
        return Text(
            f"turn completed ({usage.input_tokens} tokens in, {usage.output_tokens} out)",
            style="dim",
        )
    if isinstance(event, TurnFailed):
        message = event.message or "no reason given"
        return Text(f"turn failed: {first_line(message)}", style="bold red")
    if isinstance(event, ThreadError):
        reason = event.reconnect_reason
        if reason is not None:
            return Text(f"reconnecting to the model: {first_line(reason)}", style="yellow")
        return Text(f"error: {first_line(event.message)}", style="red")
    if isinstance(event, (ItemStarted, ItemUpdated, ItemCompleted)):
        return _item_line(event)
    if isinstance(event, Invalid):
        return Text(f"(unreadable line: {clean(event.text, 80)})", style="dim")
    return Text(f"({clean(event.type, 60)} event)", style="dim")


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
    view = task_status(store, row)
    line = Text("now ", style="dim")
    line.append_text(phase_text(row.phase))
    line.append(f" {duration(view.elapsed_s)} · {now_text(view)}", style="dim")
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
