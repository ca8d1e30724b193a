"""Codex ``exec --json`` lines -> typed events -> a folded :class:`TaskProgress`.

Owns: the JSONL event schema of ``codex exec --json`` as this project understands it, and the fold
of a stream of events into the live view of one run (what it is doing now, what it said, tokens).

Must not: do I/O, know about tasks, processes, SQLite or MCP. Everything here is a pure function of
the lines it is given, so tests feed recorded lines and the runner feeds a live pipe alike.

Memory is bounded whatever the stream: texts kept for the live view are capped, warnings are a short
ring, and nothing retains whole command outputs (only the final agent message is kept whole, since
it is the task's result).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: Item types that count as a tool call in the live view.
TOOL_ITEM_TYPES = frozenset(
    {"command_execution", "file_change", "mcp_tool_call", "web_search", "collab_tool_call"}
)
#: Every item type the notes on Codex 0.169 describe.
KNOWN_ITEM_TYPES = TOOL_ITEM_TYPES | {"agent_message", "reasoning", "todo_list", "error"}
KNOWN_EVENT_TYPES = frozenset(
    {
        "thread.started",
        "turn.started",
        "turn.completed",
        "turn.failed",
        "item.started",
        "item.updated",
        "item.completed",
        "error",
    }
)

TEXT_CAP = 2_000  # characters kept of a reasoning summary, a live message or a tool argument
MAX_WARNINGS = 10
USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


def cap(text: str, limit: int = TEXT_CAP) -> str:
    """Shorten ``text`` to ``limit`` characters, saying that it was cut."""
    if len(text) <= limit:
        return text
    note = f"… [cut; {len(text)} chars in all]"
    return text[: max(0, limit - len(note))] + note


@dataclass(frozen=True)
class CodexEvent:
    """One line of ``codex exec --json`` output.

    ``type`` is the top-level event type; ``item`` the item of ``item.*`` events; ``data`` the whole
    decoded object. A line that is not a JSON object becomes type ``"invalid"``.
    """

    type: str
    data: dict[str, Any]

    @property
    def item(self) -> dict[str, Any]:
        item = self.data.get("item")
        return item if isinstance(item, dict) else {}


def parse_line(line: str | bytes) -> CodexEvent | None:
    """Decode one JSONL line: ``None`` for a blank line, an ``invalid`` event for junk."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return CodexEvent("invalid", {"text": cap(line, 200)})
    if not isinstance(data, dict):
        return CodexEvent("invalid", {"text": cap(line, 200)})
    kind = data.get("type")
    return CodexEvent(kind if isinstance(kind, str) else "invalid", data)


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


def describe_tool(item: dict[str, Any]) -> ToolCall | None:
    """A one-line description of a tool item, or ``None`` for items that are not tool calls."""
    kind = item.get("type")
    status = str(item.get("status") or "in_progress")
    if kind == "command_execution":
        code = item.get("exit_code")
        return ToolCall(
            "command",
            cap(str(item.get("command", "")), 500),
            status,
            code if isinstance(code, int) else None,
        )
    if kind == "file_change":
        changes = _as_list(item.get("changes"))
        parts = [
            f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes if isinstance(c, dict)
        ]
        return ToolCall("file_change", cap(", ".join(parts), 500), status)
    if kind == "mcp_tool_call":
        args = item.get("arguments")
        arg_text = json.dumps(args, ensure_ascii=False) if args is not None else ""
        summary = f"{item.get('server', '?')}.{item.get('tool', '?')}({cap(arg_text, 300)})"
        return ToolCall("mcp_tool_call", summary, status)
    if kind == "web_search":
        return ToolCall("web_search", cap(str(item.get("query", "")), 500), status)
    if kind == "collab_tool_call":
        receivers = ", ".join(str(r) for r in _as_list(item.get("receiver_thread_ids")))
        return ToolCall("collab_tool_call", f"{item.get('tool', '?')} {receivers}".strip(), status)
    return None


def _note_unknown(progress: TaskProgress, kind: str) -> None:
    name = cap(kind, 100)
    if name not in progress.unknown_types and len(progress.unknown_types) < 10:
        progress.unknown_types.append(name)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _add_warning(progress: TaskProgress, text: str) -> None:
    progress.warnings.append(cap(text, 500))
    del progress.warnings[:-MAX_WARNINGS]


def _fold_item(progress: TaskProgress, event_type: str, item: dict[str, Any]) -> None:
    kind = item.get("type")
    item_id = str(item.get("id", ""))
    if kind in TOOL_ITEM_TYPES:
        # Count each tool call once: on its first sighting (started, or completed without a start).
        if event_type == "item.started":
            progress.tool_calls += 1
            progress._open_items.add(item_id)
        elif item_id in progress._open_items:
            if event_type == "item.completed":
                progress._open_items.discard(item_id)
        elif event_type == "item.completed":
            progress.tool_calls += 1
        progress.last_tool = describe_tool(item)
    elif kind == "agent_message":
        text = str(item.get("text", ""))
        progress.final_message = text
        progress.message = cap(text)
    elif kind == "reasoning":
        progress.reasoning = cap(str(item.get("text", "")))
    elif kind == "todo_list":
        todo = [t for t in _as_list(item.get("items")) if isinstance(t, dict)]
        progress.todo_total = len(todo)
        progress.todo_done = sum(1 for t in todo if t.get("completed"))
    elif kind == "error":
        if event_type == "item.completed":
            _add_warning(progress, str(item.get("message", "")))
    elif isinstance(kind, str):
        _note_unknown(progress, kind)


def fold(progress: TaskProgress, event: CodexEvent) -> TaskProgress:
    """Apply one event to ``progress`` (in place) and return it."""
    progress.events += 1
    data = event.data
    kind = event.type
    if kind == "thread.started":
        tid = data.get("thread_id")
        if isinstance(tid, str):
            progress.thread_id = tid
    elif kind == "turn.started":
        progress.turns_started += 1
    elif kind == "turn.completed":
        progress.turns_completed += 1
        usage = data.get("usage")
        if isinstance(usage, dict):
            progress.usage = {
                k: int(v)
                for k, v in usage.items()
                if isinstance(v, int) and not isinstance(v, bool)
            }
        progress._open_items.clear()
    elif kind == "turn.failed":
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        progress.failure = cap(str(message or "the turn failed"), 4_000)
        progress._open_items.clear()
    elif kind in ("item.started", "item.updated", "item.completed"):
        _fold_item(progress, kind, event.item)
    elif kind == "error":
        _add_warning(progress, str(data.get("message", "")))
    else:
        _note_unknown(progress, kind)
    return progress


def fold_lines(lines: Any, progress: TaskProgress | None = None) -> TaskProgress:
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
