"""Codex ``exec --json`` lines -> typed events: one plain record per event and item type.

Owns: the JSONL schema of ``codex exec --json`` (Codex 0.171) as this project understands it, as
frozen dataclasses tagged by ``type`` like Codex's own ``exec_events.rs``, and :func:`parse_line`,
the one place that reads a line's JSON keys. Everything else (the fold into progress, the
console's ``watch``, the board's timeline) consumes these records.

Must not: do I/O, know about tasks, processes, SQLite or MCP, or fold events into anything
(``codex.progress`` does). Parsing never raises on what Codex writes: a line that is not JSON is
an :class:`Invalid` record, an event or item type this module does not know is kept as
:class:`UnknownEvent` / :class:`UnknownItem`, and a known type with a missing or mistyped field
gets that field's empty value.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

TEXT_CAP = 2_000  # characters kept of a reasoning summary, a live message or a tool argument


def cap(text: str, limit: int = TEXT_CAP) -> str:
    """Shorten ``text`` to ``limit`` characters, saying that it was cut."""
    if len(text) <= limit:
        return text
    note = f"… [cut; {len(text)} chars in all]"
    return text[: max(0, limit - len(note))] + note


# --- items ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentMessage:
    """What the agent said; the last one of a run is its result."""

    type: ClassVar[str] = "agent_message"
    id: str
    text: str


@dataclass(frozen=True)
class Reasoning:
    """A summary of the model's reasoning."""

    type: ClassVar[str] = "reasoning"
    id: str
    text: str


@dataclass(frozen=True)
class CommandExecution:
    """A shell command: ``exit_code`` is ``None`` while it runs. ``command`` is one string as
    Codex reports it (``/bin/bash -lc '...'``); an argv list is joined with shell quoting."""

    type: ClassVar[str] = "command_execution"
    id: str
    command: str
    aggregated_output: str
    exit_code: int | None
    status: str  # in_progress | completed | failed | declined


@dataclass(frozen=True)
class FileUpdate:
    path: str
    kind: str  # add | delete | update


@dataclass(frozen=True)
class FileChange:
    """A patch Codex applied: the files it touched."""

    type: ClassVar[str] = "file_change"
    id: str
    changes: tuple[FileUpdate, ...]
    status: str


@dataclass(frozen=True)
class McpToolCall:
    """A call of an MCP server's tool; ``arguments`` and ``result`` are JSON as Codex sent them."""

    type: ClassVar[str] = "mcp_tool_call"
    id: str
    server: str
    tool: str
    arguments: Any
    result: Any
    error: str | None
    status: str


@dataclass(frozen=True)
class CollabToolCall:
    """A call of Codex's own sub-agent tools (spawn, wait, send input...)."""

    type: ClassVar[str] = "collab_tool_call"
    id: str
    tool: str
    sender_thread_id: str | None
    receiver_thread_ids: tuple[str, ...]
    prompt: str | None
    status: str


@dataclass(frozen=True)
class WebSearch:
    """A web search. Codex gives it no status: it is done when its ``item.completed`` comes."""

    type: ClassVar[str] = "web_search"
    id: str
    query: str


@dataclass(frozen=True)
class TodoEntry:
    text: str
    completed: bool


@dataclass(frozen=True)
class TodoList:
    """The agent's plan (``update_plan``), whole on every update."""

    type: ClassVar[str] = "todo_list"
    id: str
    items: tuple[TodoEntry, ...]

    @property
    def done(self) -> int:
        return sum(1 for entry in self.items if entry.completed)


@dataclass(frozen=True)
class ErrorItem:
    """A warning Codex reports as an item (the run goes on)."""

    type: ClassVar[str] = "error"
    id: str
    message: str


@dataclass(frozen=True)
class UnknownItem:
    """An item of a type this module does not know, kept as Codex wrote it."""

    type: str
    id: str
    data: Mapping[str, Any]


ToolItem: TypeAlias = CommandExecution | FileChange | McpToolCall | CollabToolCall | WebSearch
Item: TypeAlias = AgentMessage | Reasoning | TodoList | ErrorItem | ToolItem | UnknownItem
TOOL_ITEMS = (CommandExecution, FileChange, McpToolCall, CollabToolCall, WebSearch)


# --- events --------------------------------------------------------------------------------------

USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


@dataclass(frozen=True)
class Usage:
    """Token counts of ``turn.completed``: cumulative for the thread, not for the turn."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in USAGE_KEYS}


@dataclass(frozen=True)
class ThreadStarted:
    """The first line of a run: the thread's id (the same one again for a resumed thread)."""

    type: ClassVar[str] = "thread.started"
    thread_id: str | None


@dataclass(frozen=True)
class TurnStarted:
    type: ClassVar[str] = "turn.started"


@dataclass(frozen=True)
class TurnCompleted:
    """The turn ended well; ``usage`` is ``None`` when the line carried none."""

    type: ClassVar[str] = "turn.completed"
    usage: Usage | None


@dataclass(frozen=True)
class TurnFailed:
    """The turn failed (terminal: Codex exits 1); ``message`` is ``None`` when none was given."""

    type: ClassVar[str] = "turn.failed"
    message: str | None


RECONNECTING = "Reconnecting..."


@dataclass(frozen=True)
class ThreadError:
    """A top-level ``error`` event: not fatal. Codex reports each retry of a lost connection to
    the model this way (``Reconnecting... waiting for network (Connection failed: ...)``)."""

    type: ClassVar[str] = "error"
    message: str

    @property
    def reconnect_reason(self) -> str | None:
        """Why Codex is reconnecting to the model, or ``None`` if this is another error:
        ``Connection failed: error sending request`` from the message above."""
        text = self.message.strip()
        if not text.startswith(RECONNECTING):
            return None
        rest = text[len(RECONNECTING) :].strip()
        if "(" in rest and rest.endswith(")"):
            inner = rest[rest.index("(") + 1 : -1].strip()
            if inner:
                return inner
        words = [w for w in rest.split() if not _is_count(w)]  # "2/5" in older versions
        return " ".join(words) or "the connection was lost"


def _is_count(word: str) -> bool:
    left, slash, right = word.partition("/")
    return bool(slash) and left.isdigit() and right.isdigit()


@dataclass(frozen=True)
class ItemStarted:
    type: ClassVar[str] = "item.started"
    item: Item


@dataclass(frozen=True)
class ItemUpdated:
    type: ClassVar[str] = "item.updated"
    item: Item


@dataclass(frozen=True)
class ItemCompleted:
    type: ClassVar[str] = "item.completed"
    item: Item


@dataclass(frozen=True)
class Invalid:
    """A line that is not a JSON object with a string ``type`` (its start, capped)."""

    type: ClassVar[str] = "invalid"
    text: str


@dataclass(frozen=True)
class UnknownEvent:
    """An event of a type this module does not know, kept as Codex wrote it."""

    type: str
    data: Mapping[str, Any]


ItemEvent: TypeAlias = ItemStarted | ItemUpdated | ItemCompleted
CodexEvent: TypeAlias = (
    ThreadStarted
    | TurnStarted
    | TurnCompleted
    | TurnFailed
    | ThreadError
    | ItemEvent
    | Invalid
    | UnknownEvent
)


# --- parsing -------------------------------------------------------------------------------------


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else "" if value is None else str(value)


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _command(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(word) for word in value)
    return "" if value is None else str(value)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    return Usage(**{key: _int(value.get(key)) or 0 for key in USAGE_KEYS})


def parse_item(data: Mapping[str, Any]) -> Item:
    """The typed item of an ``item.*`` event's ``item`` object."""
    kind = data.get("type")
    item_id = _str(data, "id")
    status = _str(data, "status") or "in_progress"
    if kind == "agent_message":
        return AgentMessage(item_id, _str(data, "text"))
    if kind == "reasoning":
        return Reasoning(item_id, _str(data, "text"))
    if kind == "command_execution":
        return CommandExecution(
            item_id,
            _command(data.get("command")),
            _str(data, "aggregated_output"),
            _int(data.get("exit_code")),
            status,
        )
    if kind == "file_change":
        changes = tuple(
            FileUpdate(_str(c, "path") or "?", _str(c, "kind") or "update")
            for c in _dicts(data.get("changes"))
        )
        return FileChange(item_id, changes, status)
    if kind == "mcp_tool_call":
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message", error)
        return McpToolCall(
            item_id,
            _str(data, "server") or "?",
            _str(data, "tool") or "?",
            data.get("arguments"),
            data.get("result"),
            None if error is None else str(error),
            status,
        )
    if kind == "collab_tool_call":
        receivers = data.get("receiver_thread_ids")
        return CollabToolCall(
            item_id,
            _str(data, "tool") or "?",
            _opt_str(data, "sender_thread_id"),
            tuple(str(r) for r in receivers) if isinstance(receivers, list) else (),
            _opt_str(data, "prompt"),
            status,
        )
    if kind == "web_search":
        return WebSearch(item_id, _str(data, "query"))
    if kind == "todo_list":
        entries = tuple(
            TodoEntry(_str(t, "text"), bool(t.get("completed"))) for t in _dicts(data.get("items"))
        )
        return TodoList(item_id, entries)
    if kind == "error":
        return ErrorItem(item_id, _str(data, "message"))
    return UnknownItem(kind if isinstance(kind, str) else "item", item_id, data)


_ITEM_EVENTS: dict[str, type[ItemStarted] | type[ItemUpdated] | type[ItemCompleted]] = {
    "item.started": ItemStarted,
    "item.updated": ItemUpdated,
    "item.completed": ItemCompleted,
}


def parse_event(data: Mapping[str, Any]) -> CodexEvent:
    """The typed event of one decoded line."""
    kind = data.get("type")
    if not isinstance(kind, str):
        return Invalid(cap(json.dumps(data, ensure_ascii=False), 200))
    if kind == "thread.started":
        return ThreadStarted(_opt_str(data, "thread_id"))
    if kind == "turn.started":
        return TurnStarted()
    if kind == "turn.completed":
        return TurnCompleted(_usage(data.get("usage")))
    if kind == "turn.failed":
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        return TurnFailed(None if message is None else str(message))
    if kind == "error":
        return ThreadError(_str(data, "message"))
    if kind in _ITEM_EVENTS:
        item = data.get("item")
        return _ITEM_EVENTS[kind](parse_item(item if isinstance(item, dict) else {}))
    return UnknownEvent(kind, data)


def parse_line(line: str | bytes) -> CodexEvent | None:
    """Decode one JSONL line: ``None`` for a blank line, :class:`Invalid` for junk."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return Invalid(cap(line, 200))
    if not isinstance(data, dict):
        return Invalid(cap(line, 200))
    return parse_event(data)
