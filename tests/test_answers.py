"""Answers sized for a model: compact task answers, and argument errors as sentences.

In-process (no Codex needed): the answers are built from the engine's typed views, and bad
arguments never reach a tool.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from codex_mcp_swarm.engine import codec
from codex_mcp_swarm.engine.records import (
    CheckFailed,
    Conflicted,
    Landed,
    LandReport,
    Resolving,
)
from codex_mcp_swarm.engine.views import FileView, MergedView, ResultView, UsageView, WorktreeView
from codex_mcp_swarm.mcp import answers
from codex_mcp_swarm.mcp.schemas import inline
from codex_mcp_swarm.mcp.server import build_server
from codex_mcp_swarm.settings import Settings

USAGE = UsageView(
    turn={"input_tokens": 200, "cached_input_tokens": 40, "output_tokens": 20},
    thread_total={"input_tokens": 900, "cached_input_tokens": 40, "output_tokens": 70},
)
pytestmark = pytest.mark.anyio
NOISE = "Model metadata for `mock-model` not found. Defaulting to fallback metadata."


def view(**extra: Any) -> ResultView:
    base: dict[str, Any] = {
        "task_id": "a1b2c3d4e5f6",
        "status": "completed",
        "thread_id": "01a22e80-0706-7b61-bc7b-a8bb6097e3b1",
        "content": "said hi",
        "error": None,
        "exit_code": 0,
        "exit_signal": None,
        "elapsed_s": 2.7612,
        "tool_calls": 1,
        "usage": USAGE,
        "warnings": (NOISE, "stream retried", "stream retried"),
        "cwd": "/home/me/proj",
        "worktree": None,
    }
    return ResultView(**{**base, **extra})


def fitted(*views: ResultView) -> list[answers.Fitted[ResultView]]:
    """Views as a wait answers them (each fits)."""
    return answers.fit_views(views, 1_000_000)


def size(answer: Any) -> int:
    return len(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))


def test_a_finished_task_answer_is_compact_and_complete() -> None:
    out = answers.task_answer(view())
    assert list(out)[:4] == ["task_id", "threadId", "content", "status"]
    assert out["tokens"] == 220
    assert out["warnings"] == ["stream retried"]  # once, and without Codex's model-metadata noise
    assert "exit_code" not in out and "error" not in out and "worktree" not in out
    assert out["elapsed_s"] == 2.8
    assert size(out) - len("said hi") < 200


def test_a_failed_task_says_why_and_what_next() -> None:
    out = answers.task_answer(view(status="failed", error="model said no", exit_code=1))
    assert out["error"] == "model said no" and out["exit_code"] == 1
    assert out["next"] == "codex_reply to continue the thread"


def test_a_running_task_has_no_content_yet() -> None:
    out = answers.task_answer(view(status="running", content="", usage=UsageView(), warnings=()))
    assert "content" not in out and out["next"] == "codex_wait"


def test_a_worktree_answer_keeps_branch_and_merge_outlook() -> None:
    wt = WorktreeView(
        path="/state/worktrees/proj-1/a1b2c3d4e5f6",
        branch="codex-swarm/a1b2c3d4e5f6",
        base_ref="HEAD",
        base_branch="main",
        base_commit="82c84a947b3f78adaa7fe619be50b52af4575c47",
        head_commit="7d761b351e88249fd3bfe522438710ffa54d7ed0",
        files=(FileView(path="notes.txt", insertions=1, deletions=0),),
        files_total=1,
        insertions=1,
        merges_cleanly=False,
        conflicts=("notes.txt",),
    )
    out = answers.task_answer(view(worktree=wt, cwd=wt.path))
    assert out["worktree"] == {
        "branch": "codex-swarm/a1b2c3d4e5f6",
        "path": wt.path,
        "base": "main",
        "files": 1,
        "insertions": 1,
        "merges_cleanly": False,
        "conflicts": ["notes.txt"],
    }
    assert "codex_merge" in out["next"] and "conflicts" in out["next"]
    assert "cwd" not in out
    assert size(out) - len("said hi") < 450


def test_wait_answer_says_what_is_still_running() -> None:
    done = answers.wait_answer(fitted(view()), True, [])
    assert set(done) == {"done", "tasks"}
    waiting = answers.wait_answer(fitted(view(status="running")), False, ["a1b2c3d4e5f6"])
    assert waiting["still_running"] == ["a1b2c3d4e5f6"] and "codex_wait" in waiting["next"]


def test_a_task_among_several_waiting_to_land_is_told_to_land() -> None:
    wt = WorktreeView(
        path="/state/worktrees/proj-1/a1b2c3d4e5f6",
        branch="codex-swarm/a1b2c3d4e5f6",
        base_ref="main",
        base_branch="main",
        base_commit="82c84a947b3f78adaa7fe619be50b52af4575c47",
        head_commit="7d761b351e88249fd3bfe522438710ffa54d7ed0",
        files_total=1,
        merges_cleanly=True,
    )
    alone = answers.task_answer(view(worktree=wt), waiting=1)
    assert alone["next"] == "codex_merge, or codex_diff first"
    three = answers.wait_answer(fitted(view(worktree=wt)), True, [], {"a1b2c3d4e5f6": 3})
    assert three["tasks"][0]["next"].startswith("codex_land: 3 tasks wait to land")
    conflicting = answers.task_answer(view(worktree=replace(wt, merges_cleanly=False)), waiting=3)
    assert conflicting["next"].startswith("codex_reply to resolve the conflicts")
    merged_into = MergedView(
        target="main", commit=None, strategy="merge", message="", conflicts=(), at=None
    )
    merged = answers.task_answer(view(worktree=replace(wt, merged=merged_into)), waiting=3)
    assert "next" not in merged


def land_report(**more: Any) -> LandReport:
    ids = [f"{n:012x}" for n in range(1, 7)]
    commit = "9f" * 20
    fields: dict[str, Any] = {
        "landed": tuple(
            Landed(i, f"codex-swarm/{i}", "main", commit, already=n == 3)
            for n, i in enumerate(ids[:4])
        ),
        "conflicted": (Conflicted(ids[4], ("shared.txt",), (ids[0],)),),
        "check_failed": (
            CheckFailed(
                ids[5], 1, False, 2.5, "\n".join(f"line {n}" for n in range(300)) + "\nE boom"
            ),
        ),
        "skipped": (),
        "resolving": (Resolving(ids[4], None, "the worktree directory is full"),),
        "target": "main",
        "new_tip": commit,
        "tips": {"main": commit},
        "checkout": "the checkout at /home/me/proj was fast-forwarded",
        "repository": "/home/me/proj",
        "strategy": "merge",
        "check": "pytest -q",
        "check_seconds": 12.5,
        "check_prepare_seconds": 0.25,
        "seconds": 13.0,
        "lines": ("4 of 6 landed",),
    }
    return LandReport(**{**fields, **more})


def test_a_landing_answer_is_each_task_once_in_short() -> None:
    out = answers.land_answer(land_report())
    assert out["landed"][0] == {"task_id": "000000000001", "commit": "9f" * 6}
    assert out["landed"][3] == {"task_id": "000000000004", "commit": "9f" * 6, "already": True}
    assert out["conflicted"] == [
        {
            "task_id": "000000000005",
            "paths": ["shared.txt"],
            "colliding_tasks": ["000000000001"],
            "follow_up_error": "the worktree directory is full",
        }
    ]
    [failed] = out["check_failed"]
    assert failed["exit_code"] == 1 and "timed_out" not in failed
    assert failed["tail"] == "…line 296\nline 297\nline 298\nline 299\nE boom"
    assert "skipped" not in out and "tips" not in out and "lines" not in out
    assert out["target"] == "main" and out["new_tip"] == "9f" * 6
    assert out["seconds"] == {"total": 13.0, "check": 12.5, "checkout": 0.25}
    assert size(out) < 120 * 6  # the issue measured 1,739 characters for 6 tasks
    # A whole long line is cut at its end, with the mark.
    long = answers.land_answer(
        land_report(check_failed=(CheckFailed("000000000006", None, True, 9.0, "x" * 5000),))
    )
    assert long["check_failed"][0] == {
        "task_id": "000000000006",
        "timed_out": True,
        "tail": "…" + "x" * answers.TAIL_CHARS,
    }


def test_a_landing_answer_counts_the_queues_checks() -> None:
    out = answers.land_answer(
        land_report(check_rounds=3, check_runs=7, check_speculative=1, git_seconds=0.4)
    )
    assert out["checks"] == {"rounds": 3, "runs": 7, "speculative": 1}
    assert out["seconds"]["git"] == 0.4
    assert size(out) < 120 * 6
    again = codec.report_from_json(codec.report_to_json(land_report(check_rounds=3)))
    assert again is not None and again.check_rounds == 3 and again.check_runs == 0


def test_a_landing_on_several_targets_names_them() -> None:
    one, two = "1a" * 20, "2b" * 20
    out = answers.land_answer(
        land_report(
            landed=(
                Landed("000000000001", "codex-swarm/000000000001", "main", one, False),
                Landed("000000000002", "codex-swarm/000000000002", "dev", two, False),
            ),
            target=None,
            new_tip=None,
            tips={"main": one, "dev": two},
        )
    )
    assert [t["target"] for t in out["landed"]] == ["main", "dev"]
    assert out["tips"] == {"main": one[:12], "dev": two[:12]}
    assert "target" not in out and "new_tip" not in out


def test_nothing_to_land_says_so() -> None:
    out = answers.land_answer(
        land_report(
            landed=(),
            conflicted=(),
            check_failed=(),
            resolving=(),
            target=None,
            new_tip=None,
            tips={},
            checkout=None,
            check_seconds=0.0,
            check_prepare_seconds=0.0,
        )
    )
    assert out == {"note": "nothing to land in /home/me/proj", "seconds": {"total": 13.0}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.build(task_dir=str(tmp_path / "tasks"))


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        (
            "codex_async",
            {"prompt": "x", "timeout": -1},
            "`timeout` must be greater than 0, not -1.",
        ),
        ("codex_async", {}, "`prompt` is required: add it."),
        (
            "codex_async",
            {"prompt": "x", "sandbox": "bogus"},
            "`sandbox` must be 'read-only', 'workspace-write' or 'danger-full-access', not "
            "'bogus'.",
        ),
        ("codex_wait", {"task_ids": "abc"}, "`task_ids` must be a valid list, not 'abc'."),
        ("codex_status", {"task_ids": ["a" * 65]}, "`task_ids[0]` must have at most 64 char"),
    ],
)
async def test_argument_errors_are_sentences(
    settings: Settings, tool: str, args: dict[str, Any], expected: str
) -> None:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool(tool, args)
    said = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error
    assert said.startswith(f"Invalid arguments for {tool}: ") and expected in said
    assert "pydantic" not in said and "validation error" not in said


async def test_every_tool_has_an_output_schema_and_a_searchable_first_sentence(
    settings: Settings,
) -> None:
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    words = ("Codex", "agent", "parallel", "background", "worktree", "merge")
    for tool in tools:
        assert tool.output_schema, tool.name
        first = (tool.description or "").split(". ")[0]
        assert any(w.lower() in first.lower() for w in words), (tool.name, first)


async def test_unknown_arguments_are_refused_on_every_tool_with_the_nearest_name(
    settings: Settings,
) -> None:
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("codex_async", {"prompt": "x", "worktre": True})
        said = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error
        assert "`worktre` (did you mean `worktree`?) is not a parameter of codex_async" in said
        listed = await client.call_tool("codex_list", {})
        assert listed.structured_content is not None
        assert listed.structured_content["total"] == 0  # nothing was started
        for tool in tools:
            result = await client.call_tool(tool.name, {"no_such_argument": 1})
            said = result.content[0].text  # type: ignore[union-attr]
            assert result.is_error, tool.name
            assert said.startswith(f"Invalid arguments for {tool.name}: `no_such_argument`")
            for name in tool.input_schema.get("properties", {}):
                assert name in said, (tool.name, name)


@pytest.mark.parametrize(
    "args",
    [{"approval-policy": "untrusted"}, {"config": {"approval_policy": "untrusted"}}],
)
async def test_a_value_the_pinned_codex_refuses_is_refused_before_launch(
    settings: Settings, args: dict[str, Any]
) -> None:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("codex_async", {"prompt": "x", **args})
        listed = await client.call_tool("codex_list", {})
    said = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error
    assert "refused by Codex 0.171" in said and 'use "on-request"' in said, said
    assert listed.structured_content is not None
    assert listed.structured_content["total"] == 0


def test_a_structured_result_too_long_for_the_answer_says_where_it_is() -> None:
    small = view(result={"answer": 42}, content='{"answer": 42}', structured=True)
    one = answers.fit_views([small], 20_000)[0]
    assert answers.task_answer(one.view, truncated=one.truncated)["result"] == {"answer": 42}
    rows = [{"n": i, "text": "x" * 50} for i in range(400)]
    big = answers.fit_views([view(result=rows, content=json.dumps(rows), structured=True)], 4_000)
    out = answers.task_answer(big[0].view, truncated=big[0].truncated)
    assert "result" not in out
    assert "codex-swarm:///tasks/a1b2c3d4e5f6/result" in out["result_error"]
    assert out["truncated"] is True and len(out["content"]) < 4_000


async def test_doctor_asks_for_the_approval_of_every_tool_that_is_not_read_only(
    settings: Settings,
) -> None:
    from codex_mcp_swarm.console import doctor

    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    changing = {t.name for t in tools if not (t.annotations and t.annotations.read_only_hint)}
    assert set(doctor.APPROVAL_TOOLS) == changing


async def test_output_schemas_have_no_refs_or_titles_and_keep_every_field(
    settings: Settings,
) -> None:
    """Clients check each answer against its tool's output schema: without ``$ref`` the check
    costs no lookups. Inlining and dropping pydantic's titles keep every field, even one
    named ``title``."""
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for tool in tools.values():
        text = json.dumps(tool.output_schema)
        assert "$ref" not in text and "$defs" not in text, tool.name
    listed = tools["codex_list"].output_schema
    assert listed is not None
    line = listed["properties"]["tasks"]["items"]
    assert set(line["properties"]) == {
        "task_id",
        "status",
        "elapsed_s",
        "title",
        "branch",
        "threadId",
    }
    assert "title" not in line["properties"]["title"]
    status = tools["codex_status"].output_schema
    assert status is not None
    last_tool = status["properties"]["tasks"]["items"]["properties"]["last_tool"]
    assert last_tool["type"] == "object" and "summary" in last_tool["properties"]


def test_a_recursive_definition_keeps_its_ref() -> None:
    node = {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
    schema = {"$defs": {"Node": node}, "properties": {"head": {"$ref": "#/$defs/Node"}}}
    out = inline(schema)
    head = out["properties"]["head"]
    assert head["type"] == "object" and head["properties"]["next"] == {"$ref": "#/$defs/Node"}
    assert out["$defs"] == {"Node": node}
