"""Typed Codex events -> a folded :class:`TaskProgress`: the live view of one run.

Owns: the fold of a stream of :mod:`codex.events` records into what a run is doing now (its
latest tool call, reasoning, message, plan, tokens, warnings, and whether Codex is reconnecting
to its model), and :class:`TaskProgress`'s JSON form, which the store keeps.

Must not: do I/O, read JSON keys of Codex's lines (``codex.events`` does), or know about tasks,
processes, SQLite or MCP. Everything here is a pure function of the events it is given, so tests
feed recorded lines and the runner feeds a live pipe alike.

Memory is bounded whatever the stream: texts kept for the live view are capped, warnings are a short
ring, and nothing retains whole command outputs (only the final agent message is kept whole, since
it is the task's result).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .events import (
    USAGE_KEYS,
    AgentMessage,
    CodexEvent,
    CollabToolCall,
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
    TurnStarted,
    UnknownItem,
    WebSearch,
    cap,
    parse_line,
)

MAX_WARNINGS = 10


@dataclass
class ToolCall:
    """The latest tool call: what kind, its argument in one line, and how it is going."""

    kind: str
    summary: str
    status: str = "in_progress"
    exit_code: int | None = None


@dataclass
class TaskProgress:
    """The live view of one Codex run, folded from its events. JSON-serialisable via ``to_dict``."""

    thread_id: str | None = None
    events: int = 0
    turns_started: int = 0
    turns_completed: int = 0
    tool_calls: int = 0
    last_tool: ToolCall | None = None
    reasoning: str | None = None
    message: str | None = None  # latest agent message, capped (live view)
    final_message: str | None = None  # latest agent message, whole (the result)
    todo_done: int = 0
    todo_total: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # cumulative for the thread
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None  # message of turn.failed
    # Codex cannot reach its model: why (its words), and how many tries so far. Cleared by the
    # next sign that the model answers.
    reconnecting: str | None = None
    reconnect_attempts: int = 0
    unknown_types: list[str] = field(default_factory=list)  # distinct unknown types, capped
    _open_items: set[str] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_open_items", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskProgress:
        data = dict(data)
        data.pop("_open_items", None)
        tool = data.pop("last_tool", None)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        progress = cls(**known)
        if isinstance(tool, dict):
            progress.last_tool = ToolCall(**tool)
        return progress

    @property
    def todo(self) -> str | None:
        return f"{self.todo_done}/{self.todo_total}" if self.todo_total else None


def describe_tool(item: Item, done: bool = False) -> ToolCall | None:
    """A one-line description of a tool item, or ``None`` for items that are not tool calls.
    ``done``: the item comes from ``item.completed`` (for items that carry no status)."""
    if isinstance(item, CommandExecution):
        return ToolCall("command", cap(item.command, 500), item.status, item.exit_code)
    if isinstance(item, FileChange):
        parts = [f"{change.kind} {change.path}" for change in item.changes]
        return ToolCall("file_change", cap(", ".join(parts), 500), item.status)
    if isinstance(item, McpToolCall):
        args = item.arguments
        arg_text = json.dumps(args, ensure_ascii=False) if args is not None else ""
        summary = f"{item.server}.{item.tool}({cap(arg_text, 300)})"
        return ToolCall("mcp_tool_call", summary, item.status)
    if isinstance(item, WebSearch):
        status = "completed" if done else "in_progress"
        return ToolCall("web_search", cap(item.query, 500), status)
    if isinstance(item, CollabToolCall):
        summary = f"{item.tool} {', '.join(item.receiver_thread_ids)}".strip()
        return ToolCall("collab_tool_call", summary, item.status)
    return None


def reconnect_text(reason: str, attempt: int) -> str:
    """``reconnecting to the model: <reason>, attempt N``: what a run cut off from its model is
    doing, in the words every face shows."""
    return f"reconnecting to the model: {reason}, attempt {attempt}"


def gave_up_text(reason: str, attempts: int) -> str:
    """The error of a run that ended while Codex was still reconnecting to its model."""
    tries = "try" if attempts == 1 else "tries"
    return f"Codex could not reach the model ({attempts} {tries}): {reason}"


def _note_unknown(progress: TaskProgress, kind: str) -> None:
    name = cap(kind, 100)
    if name not in progress.unknown_types and len(progress.unknown_types) < 10:
        progress.unknown_types.append(name)


def _add_warning(progress: TaskProgress, text: str) -> None:
    progress.warnings.append(cap(text, 500))
    del progress.warnings[:-MAX_WARNINGS]


def _reconnected(progress: TaskProgress) -> None:
    """The model answered again: the reconnecting is over; a warning keeps that it happened."""
    if progress.reconnecting is None:
        return
    tries = progress.reconnect_attempts
    _add_warning(
        progress,
        f"the model was out of reach for {tries} {'try' if tries == 1 else 'tries'} "
        f"({progress.reconnecting}), then answered",
    )
    progress.reconnecting = None
    progress.reconnect_attempts = 0


def _count_tool(progress: TaskProgress, event: CodexEvent, item_id: str) -> None:
    """Count each tool call once: on its first sighting (started, or completed without a start)."""
    if isinstance(event, ItemStarted):
        progress.tool_calls += 1
        progress._open_items.add(item_id)
    elif item_id in progress._open_items:
        if isinstance(event, ItemCompleted):
            progress._open_items.discard(item_id)
    elif isinstance(event, ItemCompleted):
        progress.tool_calls += 1


def _fold_item(progress: TaskProgress, event: ItemStarted | ItemUpdated | ItemCompleted) -> None:
    item = event.item
    completed = isinstance(event, ItemCompleted)
    tool = describe_tool(item, done=completed)
    if tool is not None:
        _count_tool(progress, event, item.id)
        progress.last_tool = tool
    elif isinstance(item, AgentMessage):
        progress.final_message = item.text
        progress.message = cap(item.text)
    elif isinstance(item, Reasoning):
        progress.reasoning = cap(item.text)
    elif isinstance(item, TodoList):
        progress.todo_total = len(item.items)
        progress.todo_done = item.done
    elif isinstance(item, ErrorItem):
        if completed:
            _add_warning(progress, item.message)
    elif isinstance(item, UnknownItem):
        _note_unknown(progress, item.type)


def fold(progress: TaskProgress, event: CodexEvent) -> TaskProgress:
    """Apply one event to ``progress`` (in place) and return it."""
    progress.events += 1
    if isinstance(event, ThreadError):
        reason = event.reconnect_reason
        if reason is not None:
            progress.reconnecting = cap(reason, 500)
            progress.reconnect_attempts += 1
        else:
            _add_warning(progress, event.message)
        return progress
    if isinstance(event, TurnCompleted) or (
        isinstance(event, (ItemStarted, ItemUpdated, ItemCompleted))
        and not isinstance(event.item, (ErrorItem, UnknownItem))
    ):
        _reconnected(progress)  # a turn's end or the model's own item: the model answered
    if isinstance(event, ThreadStarted):
        if event.thread_id is not None:
            progress.thread_id = event.thread_id
    elif isinstance(event, TurnStarted):
        progress.turns_started += 1
    elif isinstance(event, TurnCompleted):
        progress.turns_completed += 1
        if event.usage is not None:
            progress.usage = event.usage.to_dict()
        progress._open_items.clear()
    elif isinstance(event, TurnFailed):
        # Whatever it was, the turn is over: its failure, not a reconnect, is what happened.
        progress.reconnecting, progress.reconnect_attempts = None, 0
        progress.failure = cap(event.message or "the turn failed", 4_000)
        progress._open_items.clear()
    elif isinstance(event, (ItemStarted, ItemUpdated, ItemCompleted)):
        _fold_item(progress, event)
    elif isinstance(event, Invalid):
        _note_unknown(progress, "invalid")
    else:
        _note_unknown(progress, event.type)
    return progress


def fold_lines(lines: Iterable[str | bytes], progress: TaskProgress | None = None) -> TaskProgress:
    """Fold an iterable of JSONL lines into a progress (a convenience for tests and replays)."""
    progress = progress or TaskProgress()
    for line in lines:
        event = parse_line(line)
        if event is not None:
            fold(progress, event)
    return progress


def usage_delta(total: dict[str, int], baseline: dict[str, int] | None) -> dict[str, int]:
    """Per-turn usage from Codex's cumulative thread totals: ``total - baseline`` key by key."""
    baseline = baseline or {}
    return {k: max(0, int(total.get(k, 0)) - int(baseline.get(k, 0))) for k in USAGE_KEYS}
