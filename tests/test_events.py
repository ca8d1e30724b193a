"""Codex's ``exec --json`` lines as typed records (``codex.events``) and their fold into a
TaskProgress (``codex.progress``).

``tests/data/{basic,failed,resume,mcp,reconnect}.jsonl`` are real Codex CLI 0.171.0 output
recorded against the fake model (or, for ``reconnect``, a port nothing listens on) by
``tests/data/record.py``; ``tests/data/todo.jsonl`` is hand-written (see there).
Thread ids and temp paths change on every recording, so the tests read them from the lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codex_mcp_swarm.codex.events import (
    TEXT_CAP,
    USAGE_KEYS,
    AgentMessage,
    CollabToolCall,
    CommandExecution,
    ErrorItem,
    FileChange,
    FileUpdate,
    Invalid,
    Item,
    ItemCompleted,
    ItemStarted,
    ItemUpdated,
    McpToolCall,
    Reasoning,
    ThreadError,
    ThreadStarted,
    TodoEntry,
    TodoList,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
    UnknownEvent,
    UnknownItem,
    Usage,
    WebSearch,
    parse_item,
    parse_line,
)
from codex_mcp_swarm.codex.progress import (
    MAX_WARNINGS,
    TaskProgress,
    ToolCall,
    describe_tool,
    fold,
    fold_lines,
    gave_up_text,
    reconnect_text,
    usage_delta,
)

DATA = Path(__file__).parent / "data"
RECORDED = ("basic", "failed", "resume", "mcp", "reconnect", "todo")


def lines(name: str) -> list[str]:
    return (DATA / f"{name}.jsonl").read_text().splitlines()


def records(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(name) if line.strip()]


def of_type(name: str, kind: str) -> list[dict[str, Any]]:
    return [r for r in records(name) if r["type"] == kind]


def item_line(event: str, item: dict[str, Any]) -> str:
    return json.dumps({"type": event, "item": item})


def tool_of(data: dict[str, Any], done: bool = False) -> ToolCall | None:
    return describe_tool(parse_item(data), done)


def fold_dicts(*objs: dict[str, Any]) -> TaskProgress:
    return fold_lines(json.dumps(o) for o in objs)


# --- the recorded runs ----------------------------------------------------------------------------


def test_basic_thread_id() -> None:
    (started,) = of_type("basic", "thread.started")
    progress = fold_lines(lines("basic"))
    assert progress.thread_id == started["thread_id"]
    assert progress.events == len(records("basic"))
    assert progress.turns_started == progress.turns_completed == 1
    assert progress.failure is None
    assert progress.unknown_types == []


def test_basic_counts_each_tool_call_once() -> None:
    tool_ids = {
        r["item"]["id"]
        for r in records("basic")
        if r["type"].startswith("item.")
        and r["item"]["type"] in ("command_execution", "file_change")
    }
    assert len(tool_ids) == 2  # echo hi, apply_patch
    # Each has both a started and a completed line, yet counts once.
    assert len(of_type("basic", "item.started")) == 2
    assert fold_lines(lines("basic")).tool_calls == 2


def test_basic_last_tool_is_the_file_change() -> None:
    tool = fold_lines(lines("basic")).last_tool
    assert tool is not None
    assert tool.kind == "file_change"
    assert tool.status == "completed"
    assert tool.summary.startswith("add ")
    assert tool.summary.endswith("hello.txt")
    assert tool.exit_code is None


def test_basic_command_summary_and_exit_code() -> None:
    all_lines = lines("basic")
    cut = next(i for i, line in enumerate(all_lines) if '"file_change"' in line)
    progress = fold_lines(all_lines[:cut])
    assert progress.last_tool == ToolCall(
        "command", "/bin/bash -lc 'echo hi'", status="completed", exit_code=0
    )
    # While it runs: in progress, no exit code yet.
    cut = next(i for i, line in enumerate(all_lines) if '"item.started"' in line)
    running = fold_lines(all_lines[: cut + 1])
    assert running.last_tool == ToolCall("command", "/bin/bash -lc 'echo hi'", "in_progress", None)
    assert running.tool_calls == 1


def test_basic_reasoning_and_final_message() -> None:
    progress = fold_lines(lines("basic"))
    assert progress.reasoning == "I should say hi, then add a file."
    assert progress.final_message == "Said hi and added hello.txt."
    assert progress.message == progress.final_message


def test_basic_usage_equals_turn_completed_usage() -> None:
    (completed,) = of_type("basic", "turn.completed")
    progress = fold_lines(lines("basic"))
    assert progress.usage == completed["usage"]
    assert set(progress.usage) == set(USAGE_KEYS)
    assert progress.usage["input_tokens"] > 0


def test_basic_warnings_include_the_error_item() -> None:
    items = [r["item"] for r in records("basic") if "item" in r]
    messages = [i["message"] for i in items if i["type"] == "error"]
    assert messages  # Codex warns that mock-model has no metadata
    assert fold_lines(lines("basic")).warnings == messages


def test_bytes_lines_fold_the_same() -> None:
    as_text = fold_lines(lines("basic")).to_dict()
    as_bytes = fold_lines((DATA / "basic.jsonl").read_bytes().splitlines(keepends=True))
    assert as_bytes.to_dict() == as_text


def test_failed_run() -> None:
    (failed,) = of_type("failed", "turn.failed")
    (error,) = of_type("failed", "error")
    progress = fold_lines(lines("failed"))
    assert progress.failure == failed["error"]["message"]
    assert progress.failure is not None and "fake model error 400" in progress.failure
    assert error["message"] in progress.warnings
    assert progress.turns_started == 1
    assert progress.turns_completed == 0
    assert progress.tool_calls == 0
    assert progress.final_message is None
    assert progress.usage == {}
    assert progress.thread_id == of_type("failed", "thread.started")[0]["thread_id"]


def test_todo_list() -> None:
    all_lines = lines("todo")
    assert fold_lines(all_lines[:3]).todo == "0/3"
    assert fold_lines(all_lines[:4]).todo == "1/3"
    progress = fold_lines(all_lines)
    assert (progress.todo_done, progress.todo_total) == (2, 3)
    assert progress.todo == "2/3"
    assert progress.tool_calls == 0  # a plan is not a tool call
    assert TaskProgress().todo is None


def test_resume_usage_is_cumulative_and_delta_gives_the_turn() -> None:
    first, second = (r["usage"] for r in of_type("resume", "turn.completed"))
    threads = {r["thread_id"] for r in of_type("resume", "thread.started")}
    assert len(threads) == 1  # the same thread, resumed
    all_lines = lines("resume")
    cut = next(i for i, line in enumerate(all_lines) if '"turn.completed"' in line) + 1
    run1 = fold_lines(all_lines[:cut])
    run2 = fold_lines(all_lines[cut:])
    assert run1.usage == first
    assert run2.usage == second
    assert run2.thread_id == run1.thread_id
    assert run2.final_message == "second turn done"
    # Codex reports thread totals, so the second run's own usage is the difference.
    delta = usage_delta(run2.usage, run1.usage)
    assert delta == {k: second[k] - first[k] for k in USAGE_KEYS}
    assert delta["input_tokens"] > 0
    assert all(second[k] >= first[k] for k in USAGE_KEYS)
    # Both runs folded into one progress: counts add up, usage is the latest total.
    both = fold_lines(all_lines)
    assert both.turns_completed == 2
    assert both.tool_calls == 1
    assert both.usage == second


def test_usage_delta() -> None:
    total = {"input_tokens": 300, "output_tokens": 30, "other": 9}
    assert usage_delta(total, None) == {
        "input_tokens": 300,
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "output_tokens": 30,
        "reasoning_output_tokens": 0,
    }
    delta = usage_delta(total, {"input_tokens": 100, "output_tokens": 50})
    assert delta["input_tokens"] == 200
    assert delta["output_tokens"] == 0  # never negative
    assert set(delta) == set(USAGE_KEYS)


# --- parse_line -----------------------------------------------------------------------------------


def test_parse_line_blank_and_invalid() -> None:
    assert parse_line("") is None
    assert parse_line("   \n") is None
    assert parse_line(b"\n") is None
    for junk in ["not json", "{", "[1, 2]", "42", '"text"', "null"]:
        assert parse_line(junk) == Invalid(junk)
        assert parse_line(junk).type == "invalid"  # type: ignore[union-attr]


def test_parse_line_caps_invalid_text() -> None:
    event = parse_line("x" * 10_000)
    assert isinstance(event, Invalid) and len(event.text) <= 200


def test_parse_line_non_string_type_is_invalid() -> None:
    assert parse_line('{"type": 5}') == Invalid('{"type": 5}')
    assert parse_line('{"no_type": 1}') == Invalid('{"no_type": 1}')


def test_parse_line_bad_utf8_bytes() -> None:
    event = parse_line(b'{"type": "error", "message": "bad \xff byte"}\n')
    assert event == ThreadError("bad \ufffd byte")


def test_item_of_an_item_event_that_is_not_an_object() -> None:
    event = parse_line('{"type": "item.completed", "item": [1]}')
    assert event == ItemCompleted(UnknownItem("item", "", {}))
    event = parse_line('{"type": "item.updated", "item": {"id": "a"}}')
    assert event == ItemUpdated(UnknownItem("item", "a", {"id": "a"}))


def test_every_recorded_line_parses_to_a_known_record() -> None:
    for name in RECORDED:
        for line in lines(name):
            event = parse_line(line)
            assert event is not None
            assert not isinstance(event, (Invalid, UnknownEvent)), line
            assert event.type == json.loads(line)["type"]
            if isinstance(event, (ItemStarted, ItemUpdated, ItemCompleted)):
                assert not isinstance(event.item, UnknownItem), line
                assert event.item.type == json.loads(line)["item"]["type"]
                assert event.item.id == json.loads(line)["item"]["id"]


def test_recorded_basic_run_as_records() -> None:
    events = [parse_line(line) for line in lines("basic")]
    (started,) = of_type("basic", "thread.started")
    assert events[0] == ThreadStarted(started["thread_id"])
    assert events[2] == TurnStarted()
    assert events[3] == ItemCompleted(Reasoning("item_1", "I should say hi, then add a file."))
    assert events[4] == ItemStarted(
        CommandExecution("item_2", "/bin/bash -lc 'echo hi'", "", None, "in_progress")
    )
    done = events[5]
    assert isinstance(done, ItemCompleted) and isinstance(done.item, CommandExecution)
    assert done.item.exit_code == 0 and done.item.status == "completed"
    assert done.item.aggregated_output.endswith("hi\n")
    change = events[7]
    assert isinstance(change, ItemCompleted) and isinstance(change.item, FileChange)
    (update,) = change.item.changes
    assert update.kind == "add" and update.path.endswith("/hello.txt")
    assert events[8] == ItemCompleted(AgentMessage("item_4", "Said hi and added hello.txt."))
    (completed,) = of_type("basic", "turn.completed")
    end = events[9]
    assert end == TurnCompleted(Usage(**completed["usage"]))
    assert isinstance(end, TurnCompleted) and end.usage is not None
    assert end.usage.to_dict() == completed["usage"]


def test_recorded_failed_run_as_records() -> None:
    (failed,) = of_type("failed", "turn.failed")
    (error,) = of_type("failed", "error")
    events = [parse_line(line) for line in lines("failed")]
    assert TurnFailed(failed["error"]["message"]) in events
    assert ThreadError(error["message"]) in events


def test_recorded_todo_list_as_records() -> None:
    event = parse_line(lines("todo")[3])
    assert event == ItemUpdated(
        TodoList(
            "item_0",
            (
                TodoEntry("Read the code", True),
                TodoEntry("Write the tests", False),
                TodoEntry("Run the tests", False),
            ),
        )
    )
    assert isinstance(event.item, TodoList) and event.item.done == 1


def test_every_item_type_parses() -> None:
    cases: list[tuple[dict[str, Any], Item]] = [
        ({"id": "a", "type": "agent_message", "text": "t"}, AgentMessage("a", "t")),
        ({"id": "r", "type": "reasoning", "text": "why"}, Reasoning("r", "why")),
        (
            {
                "id": "c",
                "type": "command_execution",
                "command": ["bash", "-lc", "echo 'a b'"],
                "aggregated_output": "a b\n",
                "exit_code": 2,
                "status": "failed",
            },
            CommandExecution("c", "bash -lc 'echo '\"'\"'a b'\"'\"''", "a b\n", 2, "failed"),
        ),
        (
            {"id": "f", "type": "file_change", "changes": [{"path": "x", "kind": "delete"}, 3]},
            FileChange("f", (FileUpdate("x", "delete"),), "in_progress"),
        ),
        (
            {
                "id": "m",
                "type": "mcp_tool_call",
                "server": "docs",
                "tool": "search",
                "arguments": {"q": 1},
                "result": {"content": []},
                "error": {"message": "no"},
                "status": "failed",
            },
            McpToolCall("m", "docs", "search", {"q": 1}, {"content": []}, "no", "failed"),
        ),
        (
            {
                "id": "k",
                "type": "collab_tool_call",
                "tool": "spawn_agent",
                "sender_thread_id": "t0",
                "receiver_thread_ids": ["t1"],
                "prompt": "go",
                "agents_states": {},
                "status": "completed",
            },
            CollabToolCall("k", "spawn_agent", "t0", ("t1",), "go", "completed"),
        ),
        (
            {"id": "w", "type": "web_search", "query": "q", "action": {"type": "search"}},
            WebSearch("w", "q"),
        ),
        (
            {"id": "t", "type": "todo_list", "items": [{"text": "a", "completed": True}, "x"]},
            TodoList("t", (TodoEntry("a", True),)),
        ),
        ({"id": "e", "type": "error", "message": "careful"}, ErrorItem("e", "careful")),
        (
            {"id": "h", "type": "hologram", "text": "?"},
            UnknownItem("hologram", "h", {"id": "h", "type": "hologram", "text": "?"}),
        ),
    ]
    for data, expected in cases:
        assert parse_item(data) == expected
        assert parse_item(data).type == data["type"]


def test_missing_fields_get_empty_values() -> None:
    assert parse_item({"type": "command_execution"}) == CommandExecution(
        "", "", "", None, "in_progress"
    )
    assert parse_item({"type": "command_execution", "exit_code": "0"}).exit_code is None  # type: ignore[union-attr]
    assert parse_item({"type": "command_execution", "exit_code": True}).exit_code is None  # type: ignore[union-attr]
    assert parse_item({"type": "mcp_tool_call"}) == McpToolCall(
        "", "?", "?", None, None, None, "in_progress"
    )
    assert parse_item({"type": "agent_message", "text": None}) == AgentMessage("", "")
    assert parse_item({"type": "reasoning", "text": 5}) == Reasoning("", "5")
    assert parse_line('{"type": "thread.started", "thread_id": 7}') == ThreadStarted(None)
    assert parse_line('{"type": "turn.completed"}') == TurnCompleted(None)
    assert parse_line('{"type": "turn.completed", "usage": {"input_tokens": true}}') == (
        TurnCompleted(Usage())
    )
    assert parse_line('{"type": "turn.failed", "error": "boom"}') == TurnFailed(None)
    assert parse_line('{"type": "error"}') == ThreadError("")


def test_unknown_event_is_kept() -> None:
    event = parse_line('{"type": "thread.renamed", "name": "x"}')
    assert event == UnknownEvent("thread.renamed", {"type": "thread.renamed", "name": "x"})
    assert event is not None and event.type == "thread.renamed"


def test_records_are_immutable() -> None:
    event = parse_line('{"type": "thread.started", "thread_id": "t"}')
    with pytest.raises(AttributeError):
        event.thread_id = "u"  # type: ignore[union-attr, misc]


def test_invalid_lines_are_counted_and_recorded() -> None:
    progress = fold_lines(["garbage", *lines("basic"), "{oops"])
    assert progress.events == len(records("basic")) + 2
    assert progress.unknown_types == ["invalid"]
    assert progress.final_message == "Said hi and added hello.txt."


def test_web_search_with_duplicate_id_key_parses() -> None:
    # Codex 0.169 flattens the search's own id next to the item id: the key "id" appears twice.
    line = (
        '{"type":"item.completed","item":{"id":"item_3","type":"web_search",'
        '"id":"ws_0123","query":"python tomllib","action":{"type":"search"}}}'
    )
    event = parse_line(line)
    assert event == ItemCompleted(WebSearch("ws_0123", "python tomllib"))
    progress = fold(TaskProgress(), event)
    assert progress.tool_calls == 1
    # Codex gives a search no status: its completion says it is done.
    assert progress.last_tool == ToolCall("web_search", "python tomllib", "completed")


# --- unknown things -------------------------------------------------------------------------------


def test_unknown_event_and_item_types_are_recorded() -> None:
    progress = fold_lines(
        [
            '{"type": "thread.renamed", "name": "x"}',
            '{"type": "thread.renamed"}',
            item_line("item.completed", {"id": "i1", "type": "hologram", "text": "?"}),
            item_line("item.started", {"id": "i2", "type": "hologram"}),
            *lines("basic"),
        ]
    )
    assert progress.unknown_types == ["thread.renamed", "hologram"]
    assert progress.events == 4 + len(records("basic"))
    assert progress.tool_calls == 2
    assert progress.final_message == "Said hi and added hello.txt."


def test_unknown_types_are_capped() -> None:
    progress = fold_lines(json.dumps({"type": f"t{i}"}) for i in range(50))
    assert progress.unknown_types == [f"t{i}" for i in range(10)]


def test_malformed_known_events_do_not_crash() -> None:
    progress = fold_dicts(
        {"type": "thread.started", "thread_id": 7},
        {"type": "turn.completed", "usage": "lots"},
        {"type": "turn.completed", "usage": {"input_tokens": True, "output_tokens": 4, "x": "1"}},
        {"type": "turn.failed", "error": "boom"},
        {"type": "item.completed"},
        {"type": "item.completed", "item": {"type": "agent_message"}},
        {"type": "item.completed", "item": {"type": "command_execution", "exit_code": "0"}},
        {"type": "error"},
    )
    assert progress.thread_id is None
    assert progress.turns_completed == 2
    assert progress.usage == {**dict.fromkeys(USAGE_KEYS, 0), "output_tokens": 4}
    assert progress.failure == "the turn failed"
    assert progress.unknown_types == ["item"]  # the item.completed without an item
    assert progress.final_message == ""
    assert progress.last_tool == ToolCall("command", "", "in_progress", None)
    assert progress.warnings == [""]


# --- tool calls -----------------------------------------------------------------------------------


def test_tool_call_counted_once_across_started_updated_completed() -> None:
    item = {"id": "item_1", "type": "mcp_tool_call", "server": "s", "tool": "t"}
    progress = fold_lines(
        [
            item_line("item.started", {**item, "status": "in_progress"}),
            item_line("item.updated", {**item, "status": "in_progress"}),
            item_line("item.completed", {**item, "status": "completed"}),
            # completed without a start (Codex does this for some items): counted on completion
            item_line("item.completed", {**item, "id": "item_2", "status": "completed"}),
            # an update alone does not count
            item_line("item.updated", {**item, "id": "item_3"}),
        ]
    )
    assert progress.tool_calls == 2


def test_item_ids_restart_after_a_turn() -> None:
    # Each `codex exec` run numbers its items from item_0 again; a started item that never
    # completed must not swallow the next run's item of the same id.
    cmd = {"id": "item_1", "type": "command_execution", "command": "sleep 9"}
    progress = fold_lines(
        [
            item_line("item.started", cmd),
            '{"type": "turn.failed", "error": {"message": "x"}}',
            item_line("item.completed", {**cmd, "status": "completed", "exit_code": 0}),
        ]
    )
    assert progress.tool_calls == 2


def test_mcp_tool_call_summary() -> None:
    tool = tool_of(
        {
            "id": "item_1",
            "type": "mcp_tool_call",
            "server": "docs",
            "tool": "search",
            "arguments": {"query": "héllo", "limit": 3},
            "status": "completed",
        }
    )
    assert tool == ToolCall(
        "mcp_tool_call", 'docs.search({"query": "héllo", "limit": 3})', "completed"
    )
    assert tool_of({"type": "mcp_tool_call"}) == ToolCall("mcp_tool_call", "?.?()")
    long = tool_of({"type": "mcp_tool_call", "server": "s", "tool": "t", "arguments": "x" * 5000})
    assert long is not None and len(long.summary) < 400


def test_collab_tool_call_summary() -> None:
    tool = tool_of(
        {
            "id": "item_2",
            "type": "collab_tool_call",
            "tool": "spawn_agent",
            "sender_thread_id": "t0",
            "receiver_thread_ids": ["t1", "t2"],
            "status": "in_progress",
        }
    )
    assert tool == ToolCall("collab_tool_call", "spawn_agent t1, t2", "in_progress")
    assert tool_of({"type": "collab_tool_call", "tool": "wait"}) == ToolCall(
        "collab_tool_call", "wait"
    )


def test_web_search_summary() -> None:
    assert tool_of({"type": "web_search", "query": "q"}) == ToolCall("web_search", "q")
    assert tool_of({"type": "web_search", "query": "q"}, done=True) == ToolCall(
        "web_search", "q", "completed"
    )
    tool = tool_of({"type": "web_search", "query": "q" * 10_000})
    assert tool is not None and len(tool.summary) <= 500


def test_file_change_summary() -> None:
    tool = tool_of(
        {
            "type": "file_change",
            "changes": [{"path": "a.py", "kind": "update"}, {"path": "b.py", "kind": "delete"}, 3],
            "status": "failed",
        }
    )
    assert tool == ToolCall("file_change", "update a.py, delete b.py", "failed")


def test_command_summary_is_capped() -> None:
    tool = tool_of({"type": "command_execution", "command": "x" * 10_000, "exit_code": 1})
    assert tool is not None and len(tool.summary) <= 500 and tool.exit_code == 1


@pytest.mark.parametrize(
    "kind", ["agent_message", "reasoning", "todo_list", "error", "other", None]
)
def test_describe_tool_ignores_non_tools(kind: str | None) -> None:
    assert tool_of({"type": kind}) is None


# --- bounds and serialisation --------------------------------------------------------------------


def test_memory_bound_over_many_large_commands() -> None:
    output = "o" * 10_240

    def stream() -> Any:
        yield '{"type": "thread.started", "thread_id": "t"}'
        yield '{"type": "turn.started"}'
        for i in range(10_000):
            item = {"id": f"item_{i}", "type": "command_execution", "command": f"cat big{i}"}
            yield item_line("item.started", {**item, "aggregated_output": "", "exit_code": None})
            yield item_line(
                "item.completed",
                {**item, "aggregated_output": output, "exit_code": 0, "status": "completed"},
            )
            if i % 100 == 0:
                yield item_line(
                    "item.completed", {"id": f"e{i}", "type": "error", "message": output}
                )
                yield item_line(
                    "item.completed", {"id": f"r{i}", "type": "reasoning", "text": output}
                )
        yield '{"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 2}}'

    progress = fold_lines(stream())
    assert progress.tool_calls == 10_000
    assert progress.last_tool == ToolCall("command", "cat big9999", "completed", 0)
    assert len(progress.warnings) == MAX_WARNINGS
    assert progress.reasoning is not None and len(progress.reasoning) <= TEXT_CAP
    assert progress._open_items == set()
    assert len(json.dumps(progress.to_dict())) < 20_000


def test_open_items_do_not_leak_into_to_dict() -> None:
    progress = fold_lines(
        item_line("item.started", {"id": f"i{i}", "type": "command_execution", "command": "x"})
        for i in range(1_000)
    )
    assert progress.tool_calls == 1_000
    assert "_open_items" not in progress.to_dict()
    assert len(json.dumps(progress.to_dict())) < 2_000


def test_message_capped_but_final_message_whole() -> None:
    text = "m" * (TEXT_CAP * 5)
    progress = fold_lines([item_line("item.completed", {"type": "agent_message", "text": text})])
    assert progress.final_message == text
    assert progress.message is not None and len(progress.message) <= TEXT_CAP
    assert "chars in all" in progress.message


@pytest.mark.parametrize("name", RECORDED)
def test_to_dict_from_dict_roundtrip(name: str) -> None:
    progress = fold_lines(lines(name))
    data = json.loads(json.dumps(progress.to_dict()))
    back = TaskProgress.from_dict(data)
    assert back == progress
    assert back.to_dict() == progress.to_dict()
    assert isinstance(back.last_tool, ToolCall) or back.last_tool is None


def test_from_dict_ignores_unknown_and_private_keys() -> None:
    progress = fold_lines(lines("basic"))
    data = {**progress.to_dict(), "todo": "1/2", "new_field": 1, "_open_items": ["x"]}
    assert TaskProgress.from_dict(data) == progress
    assert TaskProgress.from_dict({}) == TaskProgress()


def test_fold_returns_and_mutates_the_same_progress() -> None:
    progress = TaskProgress()
    event = parse_line('{"type": "turn.started"}')
    assert event is not None
    assert fold(progress, event) is progress
    assert fold_lines(['{"type": "turn.started"}'], progress) is progress
    assert progress.turns_started == 2


# --- a model out of reach -------------------------------------------------------------------------

RECONNECT = (
    '{"type":"error","message":"Reconnecting... waiting for network '
    '(Connection failed: error sending request)"}'
)


def test_reconnect_reason() -> None:
    reconnect = parse_line(RECONNECT)
    assert isinstance(reconnect, ThreadError)
    assert reconnect.reconnect_reason == "Connection failed: error sending request"
    older = ThreadError("Reconnecting... 2/5 (stream disconnected before completion: eof)")
    assert older.reconnect_reason == "stream disconnected before completion: eof"
    assert ThreadError("Reconnecting... 3/5").reconnect_reason == "the connection was lost"
    assert ThreadError("Reconnecting... waiting for network").reconnect_reason == (
        "waiting for network"
    )
    assert ThreadError("Model metadata not found").reconnect_reason is None
    assert ThreadError("").reconnect_reason is None


def test_reconnecting_is_counted_not_warned() -> None:
    head = lines("basic")[:3]  # thread.started, the metadata warning, turn.started
    progress = fold_lines([*head, RECONNECT, RECONNECT, RECONNECT])
    assert progress.reconnecting == "Connection failed: error sending request"
    assert progress.reconnect_attempts == 3
    assert len(progress.warnings) == 1  # only the metadata warning: no flood of reconnects
    assert reconnect_text(progress.reconnecting, progress.reconnect_attempts) == (
        "reconnecting to the model: Connection failed: error sending request, attempt 3"
    )
    back = TaskProgress.from_dict(json.loads(json.dumps(progress.to_dict())))
    assert (back.reconnecting, back.reconnect_attempts) == (progress.reconnecting, 3)


def test_reconnected_when_the_model_answers() -> None:
    all_lines = lines("basic")
    progress = fold_lines([*all_lines[:3], RECONNECT, RECONNECT, *all_lines[3:]])
    assert progress.reconnecting is None and progress.reconnect_attempts == 0
    assert progress.warnings[-1] == (
        "the model was out of reach for 2 tries (Connection failed: error sending request), "
        "then answered"
    )
    assert progress.final_message == "Said hi and added hello.txt."


def test_a_warning_item_is_no_answer_from_the_model() -> None:
    warning = item_line("item.completed", {"id": "w", "type": "error", "message": "careful"})
    progress = fold_lines([RECONNECT, warning, '{"type": "turn.started"}'])
    assert progress.reconnecting is not None and progress.reconnect_attempts == 1
    assert progress.warnings == ["careful"]


def test_a_failed_turn_ends_the_reconnecting() -> None:
    failed = '{"type": "turn.failed", "error": {"message": "stream disconnected"}}'
    progress = fold_lines([RECONNECT, failed])
    assert progress.reconnecting is None and progress.reconnect_attempts == 0
    assert progress.failure == "stream disconnected"
    assert progress.warnings == []


def test_gave_up_text() -> None:
    assert gave_up_text("Connection failed: x", 1) == (
        "Codex could not reach the model (1 try): Connection failed: x"
    )
    assert gave_up_text("r", 4) == "Codex could not reach the model (4 tries): r"


def test_recorded_reconnects() -> None:
    # Codex 0.171 against a port nothing listens on, stopped with SIGINT after two reconnects:
    # it printed nothing more, so the reconnecting is what the run ended in.
    events = [parse_line(line) for line in lines("reconnect")]
    reconnects = [e for e in events if isinstance(e, ThreadError)]
    assert len(reconnects) == 2
    assert {e.reconnect_reason for e in reconnects} == {"Connection failed: error sending request"}
    progress = fold_lines(lines("reconnect"))
    assert progress.reconnecting == "Connection failed: error sending request"
    assert progress.reconnect_attempts == 2
    assert progress.failure is None and progress.turns_completed == 0
    assert len(progress.warnings) == 1  # the model-metadata warning only


# --- MCP tool calls, recorded ---------------------------------------------------------------------


def test_recorded_mcp_tool_calls() -> None:
    events = [parse_line(line) for line in lines("mcp")]
    done = [
        e.item for e in events if isinstance(e, ItemCompleted) and isinstance(e.item, McpToolCall)
    ]
    listed, refused = done
    assert (listed.server, listed.tool, listed.arguments, listed.status) == (
        "swarm",
        "codex_list",
        {},
        "completed",
    )
    assert listed.result["structured_content"] == {"tasks": [], "total": 0}
    assert listed.error is None
    # A tool answer with isError: Codex marks the call failed and keeps the answer as result.
    assert (refused.tool, refused.status, refused.error) == ("codex_status", "failed", None)
    assert "task_ids" in refused.result["content"][0]["text"]
    progress = fold_lines(lines("mcp"))
    assert progress.tool_calls == 2
    assert progress.last_tool == ToolCall("mcp_tool_call", "swarm.codex_status({})", "failed")
    assert progress.final_message == "Listed the tasks."
