"""One vocabulary: each rule said once in the engine, each face wording it in its own terms."""

from __future__ import annotations

from typing import Any

from codex_mcp_swarm.codex.shell import command_text
from codex_mcp_swarm.console.table import now_text
from codex_mcp_swarm.engine.doing import STATES, Doing, doing
from codex_mcp_swarm.mcp import render


def view(status: str, **facts: Any) -> dict[str, Any]:
    return {"task_id": "abcd11112222", "status": status, "cwd": "/w", **facts}


TOOL = {"kind": "command", "summary": "/bin/bash -lc 'pytest -q'", "status": "in_progress"}


def test_doing_says_every_state_once_for_every_face() -> None:
    cases = [
        (view("queued", queue_position=3), "queued (#3 in the queue)"),
        (view("queued"), "queued"),
        (view("starting", waiting_for="a free codex slot"), "waiting for a free codex slot"),
        (view("starting"), "starting Codex"),
        (view("running", cancel_requested=True, last_tool=TOOL), "cancelling"),
        (
            view("running", last_tool=TOOL, reconnecting={"reason": "timed out", "attempt": 2}),
            "reconnecting to the model: timed out, attempt 2",
        ),
        (view("running", last_tool=TOOL, todo="1/3"), "running $ pytest -q · plan 1/3 done"),
        (
            view("running", last_tool={**TOOL, "status": "completed"}, reasoning="Hmm\nmore"),
            "thinking: Hmm",
        ),
        (view("running", message="  I will\tlook  "), "said: I will look"),
        (view("running"), "running"),
        (view("failed", error="\nboom\nstack"), "boom"),
        (view("completed", message="All done.\nDetails"), "done: All done."),
        (view("cancelled"), "cancelled"),
    ]
    for facts, said in cases:
        assert doing(facts).text() == said, facts
        # The MCP progress line and the console say the same thing.
        assert render.doing(facts) == said
        assert now_text(facts) == said
    assert {doing(facts).state for facts, _ in cases} == set(STATES)
    long = doing(view("running", reasoning="x" * 200))
    assert long.text(limit=10) == "thinking: " + "x" * 9 + "…"
    assert Doing("tool", "update a.py").text() == "running update a.py"


def test_file_changes_read_relative_to_the_task_directory() -> None:
    change = {"kind": "file_change", "summary": "update /w/src/a.py", "status": "in_progress"}
    assert doing(view("running", last_tool=change)).text() == "running update src/a.py"
    search = {"kind": "web_search", "summary": "rich  live", "status": "in_progress"}
    assert doing(view("running", last_tool=search)).text() == "running search: rich live"


def test_one_command_text_takes_every_shell_wrapper_off() -> None:
    assert command_text("/bin/bash -lc 'pytest -q tests'") == "pytest -q tests"
    assert command_text("/usr/bin/zsh -lc 'ls -la'") == "ls -la"
    assert command_text("bash -lc \"echo 'hi'\"") == "echo 'hi'"
    assert command_text(["/bin/bash", "-lc", "echo 'a b'"]) == "echo 'a b'"
    assert command_text(["git", "status"]) == "git status"
    assert command_text("bash -lc 'unclosed") == "bash -lc 'unclosed"
    assert command_text("bash -lc echo two") == "bash -lc echo two"  # not one shell word
    assert command_text(None) == ""
