"""End to end: the server over stdio, the SDK client, the real Codex CLI, the fake model."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    CODEX_VERSION,
    RawServer,
    SwarmFactory,
    data,
    full_result,
    launch,
    processes_matching,
    requests_with,
    resource_text,
    server_env,
    start_refused,
    status_until,
    text,
    wait_for_phase,
)
from fake_model import FakeModel, script

pytestmark = pytest.mark.anyio

TOOLS = {
    "codex",
    "codex_async",
    "codex_reply",
    "codex_status",
    "codex_wait",
    "codex_list",
    "codex_cancel",
    "codex_diff",
    "codex_merge",
    "codex_cleanup",
    "codex_land",
    "codex_steer",
    "codex_fork",
    "codex_review",
}
CODEX_PARAMS = {
    "prompt",
    "model",
    "sandbox",
    "approval-policy",
    "cwd",
    "profile",
    "config",
    "base-instructions",
    "developer-instructions",
    "compact-prompt",
    "timeout",
    "idle_timeout",
    "retries",
    "priority",
    "worktree",
    "base_ref",
    "include_uncommitted",
    "paths",
    "output_schema",
    "land",
}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_tools_and_parameters_in_both_eras(swarm: SwarmFactory, mode: str) -> None:
    async with swarm(mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for name in ("codex", "codex_async"):
            assert set(tools[name].input_schema["properties"]) == CODEX_PARAMS
            assert tools[name].input_schema["required"] == ["prompt"]
        assert set(tools["codex_reply"].input_schema["properties"]) == {
            "threadId",
            "prompt",
            "async",
            "output_schema",
        }
        annotations = tools["codex_status"].annotations
        assert annotations is not None and annotations.read_only_hint is True
        result = await client.call_tool("codex", {"prompt": f"hello {mode}"})
        assert not result.is_error, text(result)
        assert data(result)["content"] == f"ok: hello {mode}"


async def test_codex_returns_thread_content_usage_and_progress(
    swarm: SwarmFactory, workdir: Path
) -> None:
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    prompt = script(
        {"reasoning": "looking around", "shell": "echo hi", "delay": 0.6},
        {"delay": 1.2, "message": "the final answer"},
        text="-starts with a dash",
    )
    async with swarm() as client:
        result = await client.call_tool(
            "codex", {"prompt": prompt, "cwd": str(workdir)}, progress_callback=on_progress
        )
    out = data(result)
    assert not result.is_error, text(result)
    assert out["status"] == "completed"
    assert out["content"] == "the final answer"
    assert uuid.UUID(out["threadId"])
    assert "exit_code" not in out  # 0 goes without saying; the answer has no nulls or empties
    assert out["tool_calls"] == 1
    assert out["tokens"] == 220  # one figure: this turn's input plus output tokens
    assert list(out)[:3] == ["task_id", "threadId", "content"]
    assert all(v not in (None, [], {}, "") for v in out.values())
    assert "the final answer" in text(result) and out["task_id"] in text(result)
    assert notes and any(out["task_id"] in (m or "") for m in notes)


async def test_parallel_tasks_run_at_the_same_time(swarm: SwarmFactory) -> None:
    # Each task waits 1.5 s for each of two model answers. Run in parallel, all four are
    # running at one moment: the latest start comes before the earliest end. (Behaviour, not a
    # wall-clock threshold: the benchmark measures the speed.)
    steps = ({"delay": 1.5, "shell": "true"}, {"delay": 1.5, "message": "done"})
    async with swarm() as client:
        ids = [await launch(client, script(*steps, text=f"parallel {i}")) for i in range(4)]
        result = await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 120})
        records = [await full_result(client, i) for i in ids]
        listing = json.loads(resource_text(await client.read_resource("codex-swarm:///tasks")))
    out = data(result)
    assert out["done"] is True
    assert [t["status"] for t in out["tasks"]] == ["completed"] * 4
    assert [r["status"] for r in records] == ["completed"] * 4
    spans = {t["task_id"]: (t["started_at"], t["ended_at"]) for t in listing if t["task_id"] in ids}
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values()), spans


async def test_status_shows_the_running_command(swarm: SwarmFactory) -> None:
    marker = f"{uuid.uuid4().int % 10**6 + 3000000}"
    async with swarm() as client:
        task_id = await launch(client, script({"shell": f"sleep 3 && echo {marker}"}))
        view = await status_until(
            client,
            task_id,
            lambda v: v.get("last_tool") and v["last_tool"]["status"] == "in_progress",
        )
        assert view["status"] == "running"
        assert view["last_tool"]["kind"] == "command"
        assert f"sleep 3 && echo {marker}" in view["last_tool"]["summary"]
        assert view["tool_calls"] == 1
        assert view["threadId"]
        status = await client.call_tool("codex_status", {"task_ids": [task_id]})
        assert "sleep 3" in text(status)
        done = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 60}))
        assert done["tasks"][0]["status"] == "completed"


async def test_reply_continues_the_thread_in_its_original_cwd(
    swarm: SwarmFactory, fake_model: FakeModel, workdir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    first_marker = f"first-{uuid.uuid4().hex[:8]}"
    second_marker = f"second-{uuid.uuid4().hex[:8]}"
    async with swarm(cwd=other) as client:
        first = data(await client.call_tool("codex", {"prompt": first_marker, "cwd": str(workdir)}))
        reply = await client.call_tool(
            "codex_reply", {"threadId": first["threadId"], "prompt": second_marker}
        )
        out = data(reply)
        assert not reply.is_error, text(reply)
        assert out["threadId"] == first["threadId"]
        assert out["content"] == f"ok: {second_marker}"
        live = data(await client.call_tool("codex_status", {"task_ids": [out["task_id"]]}))
        assert live["tasks"][0]["cwd"] == str(workdir.resolve())
        # The turn's own usage, not the thread's cumulative total.
        usage = live["tasks"][0]["usage"]
        assert usage["thread_total"]["input_tokens"] > usage["turn"]["input_tokens"]
        assert out["tokens"] == usage["turn"]["input_tokens"] + usage["turn"]["output_tokens"]
        later = await client.call_tool(
            "codex_reply", {"threadId": first["threadId"], "prompt": "third", "async": True}
        )
        assert data(later)["status"] in ("queued", "starting", "running")
        await client.call_tool("codex_wait", {"task_ids": [data(later)["task_id"]]})
    request = requests_with(fake_model, second_marker)[-1]
    seen = json.dumps(request["input"])
    assert first_marker in seen, "the resumed turn carries the earlier conversation"
    assert f"<cwd>{workdir.resolve()}</cwd>" in seen


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}, "notes": {"type": ["string", "null"]}},
    "required": ["answer", "notes"],
    "additionalProperties": False,
}


def response_format(model: FakeModel, marker: str) -> dict[str, Any]:
    """The ``text.format`` of the latest model request that carries ``marker``."""
    format_: dict[str, Any] = requests_with(model, marker)[-1].get("text", {}).get("format", {})
    return format_


async def test_output_schema_reaches_the_model_and_the_answer_carries_the_parsed_result(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    first, second, prose = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("os1", "os2", "prose"))
    async with swarm() as client:
        started = await client.call_tool(
            "codex_async",
            {
                "prompt": script({"message": '{"answer": 42, "notes": null}'}, text=first),
                "output_schema": ANSWER_SCHEMA,
            },
        )
        task_id = data(started)["task_id"]
        waited = data(await client.call_tool("codex_wait", {"task_ids": [task_id]}))
        task = waited["tasks"][0]
        assert task["status"] == "completed"
        assert task["result"] == {"answer": 42, "notes": None}  # its nulls kept
        assert "content" not in task  # the same JSON once is enough
        # A reply's schema is its own: this one asks for it again, and gets the model's JSON.
        reply = await client.call_tool(
            "codex_reply",
            {
                "threadId": task["threadId"],
                "prompt": script({"message": '{"answer": 7, "notes": "again"}'}, text=second),
                "output_schema": ANSWER_SCHEMA,
            },
        )
        assert not reply.is_error, text(reply)
        assert data(reply)["result"] == {"answer": 7, "notes": "again"}
        # A final message that is not JSON: the answer says so and keeps the text.
        plain = await client.call_tool(
            "codex",
            {
                "prompt": script({"message": "forty-two"}, text=prose),
                "output_schema": ANSWER_SCHEMA,
            },
        )
        out = data(plain)
        assert out["content"] == "forty-two" and "result" not in out
        assert "not JSON" in out["result_error"]
        refused = await client.call_tool("codex", {"prompt": "x", "output_schema": "an object"})
        assert refused.is_error and "output_schema" in text(refused)
    for marker in (first, second, prose):
        format_ = response_format(fake_model, marker)
        assert format_.get("type") == "json_schema", format_
        assert format_.get("schema") == ANSWER_SCHEMA


async def test_a_server_without_credentials_refuses_launches_with_the_fix(
    swarm: SwarmFactory, tmp_path: Path
) -> None:
    bare_home = tmp_path / "bare-codex-home"  # the openai provider, no `codex login`
    bare_home.mkdir()
    for env, said, fix in (
        (
            {"CODEX_HOME": str(bare_home)},
            "no Codex login or API key found",
            "Run `codex login`, or set OPENAI_API_KEY",
        ),
        (
            {"MOCK_API_KEY": ""},
            "model provider 'mock' needs the environment variable MOCK_API_KEY",
            "Set MOCK_API_KEY in the environment",
        ),
    ):
        async with swarm(env=env) as client:
            refused = await client.call_tool("codex_async", {"prompt": "hello"})
            listed = data(await client.call_tool("codex_list", {}))
        assert refused.is_error
        assert "Codex has no credentials for its model" in text(refused)
        assert said in text(refused) and fix in text(refused)
        assert listed["total"] == 0


@pytest.mark.parametrize("sandbox", ["danger-full-access", "workspace-write"])
async def test_cancel_stops_every_process(swarm: SwarmFactory, sandbox: str) -> None:
    # Under danger-full-access Codex runs commands in their own session: a process-group kill
    # of Codex would miss them. The command also ignores SIGTERM and SIGINT.
    marker = str(uuid.uuid4().int % 10**6 + 1000000)
    command = f"trap '' TERM INT; sleep {marker}"
    async with swarm() as client:
        task_id = await launch(client, script({"shell": command}), sandbox=sandbox)
        await status_until(
            client,
            task_id,
            lambda v: v.get("last_tool") and v["last_tool"]["status"] == "in_progress",
        )
        assert processes_matching(f"sleep {marker}"), "the command should be running"
        result = await client.call_tool("codex_cancel", {"task_id": task_id})
        out = data(result)
        assert out["status"] == "cancelled", text(result)
        assert processes_matching(f"sleep {marker}") == []
        assert processes_matching(task_id) == []
        again = await client.call_tool("codex_cancel", {"task_id": task_id})
        assert "already ended" in text(again)


async def test_model_failure_is_reported_with_the_models_message(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        result = await client.call_tool("codex", {"prompt": script({"error": 400})})
    out = data(result)
    assert result.is_error
    assert out["status"] == "failed"
    assert out["exit_code"] == 1
    assert out["next"] == "codex_reply to continue the thread"
    assert "fake model error 400" in out["error"]
    assert "fake model error 400" in text(result)


async def test_wait_timeout_reports_running_tasks_without_killing_them(
    swarm: SwarmFactory,
) -> None:
    async with swarm() as client:
        task_id = await launch(client, script({"delay": 2.5, "message": "slow"}))
        first = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 0.3}))
        assert first["done"] is False
        assert first["still_running"] == [task_id]
        assert first["tasks"][0]["status"] in ("queued", "starting", "running")
        second = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 60}))
        assert second["done"] is True
        assert second["tasks"][0]["content"] == "slow"


async def test_wait_sends_progress_notifications(swarm: SwarmFactory) -> None:
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with swarm() as client:
        ids = [
            await launch(client, script({"delay": 1.0, "shell": "sleep 1"}, text=f"p{i}"))
            for i in range(2)
        ]
        result = await client.call_tool(
            "codex_wait", {"task_ids": ids, "timeout": 60}, progress_callback=on_progress
        )
    assert data(result)["done"]
    assert len(messages) >= 2
    assert any("0/2 done" in (m or "") for m in messages)


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("codex", {}, "prompt"),
    ("codex", {"prompt": 5}, "prompt"),
    ("codex", {"prompt": ""}, "prompt"),
    ("codex", {"prompt": "x", "sandbox": "yolo"}, "sandbox"),
    ("codex", {"prompt": "x", "approval-policy": "always"}, "approval"),
    ("codex", {"prompt": "x", "cwd": "/definitely/not/here"}, "does not exist"),
    ("codex", {"prompt": "x", "cwd": "relative/dir"}, "absolute"),
    ("codex", {"prompt": "x", "profile": "../escape"}, "profile"),
    ("codex_async", {"prompt": "x", "config": {"--sandbox": "x"}}, "config key"),
    ("codex_async", {"prompt": "x", "config": {"a": None}}, "null"),
    ("codex_async", {"prompt": "x", "config": "not-an-object"}, "config"),
    ("codex_reply", {"threadId": "not-a-uuid", "prompt": "x"}, "UUID"),
    ("codex_reply", {"threadId": str(uuid.uuid4()), "prompt": "x"}, "unknown threadId"),
    ("codex_status", {"task_ids": ["nope"]}, "not a task id"),
    ("codex_status", {"task_ids": ["../../etc/passwd"]}, "not a task id"),
    ("codex_status", {"task_ids": ["abcdef123456"]}, "unknown task"),
    ("codex_status", {"task_ids": []}, "task_ids"),
    ("codex_list", {"status": ["bogus"]}, "status"),
    ("codex_list", {"limit": 0}, "limit"),
    ("codex_wait", {"mode": "some"}, "mode"),
    ("codex_async", {"prompt": "x", "priority": 1000}, "priority"),
    ("codex_async", {"prompt": "x", "timeout": 0}, "timeout"),
    ("codex_wait", {"task_ids": ["abcdef123456"], "timeout": 1}, "unknown task"),
    ("codex_wait", {"task_ids": ["abcdef123456"], "timeout": -1}, "timeout"),
    ("codex_wait", {"task_ids": ["abcdef123456"], "timeout": "soon"}, "timeout"),
    ("codex_cancel", {"task_id": "/etc/passwd"}, "not a task id"),
    ("codex_cancel", {}, "task_id"),
]


async def test_bad_arguments_get_clear_errors_and_the_server_stays_up(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    async with swarm() as client:
        for tool, args, expected in BAD_CALLS:
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args)
            assert expected.lower() in text(result).lower(), (tool, args, text(result))
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
    assert list((task_dir / "tasks").iterdir()) == []


async def test_missing_codex_binary_is_a_clear_error(swarm: SwarmFactory) -> None:
    async with swarm("--codex-bin", "/nonexistent/codex") as client:
        result = await client.call_tool("codex_async", {"prompt": "x"})
        assert result.is_error
        assert "Codex CLI was not found" in text(result)
        info = json.loads(resource_text(await client.read_resource("codex-swarm:///server-info")))
        assert info["codex_bin"] is None


async def test_resources_describe_server_config_and_tasks(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    async with swarm("-c", "model_reasoning_effort=high") as client:
        task = data(await client.call_tool("codex", {"prompt": "resource check"}))

        async def read(uri: str) -> Any:
            return json.loads(resource_text(await client.read_resource(uri)))

        info = await read("codex-swarm:///server-info")
        assert CODEX_VERSION in info["codex_version"]
        assert info["task_dir"] == str(task_dir)
        assert set(info["tools"]) == TOOLS
        assert info["usage_totals"]["input_tokens"] >= 100
        config = await read("codex-swarm:///config")
        assert config["config_overrides"] == {"model_reasoning_effort": '"high"'}
        assert config["skip_git_repo_check"] is True
        tasks = await read("codex-swarm:///tasks")
        assert tasks[0]["task_id"] == task["task_id"]
        assert tasks[0]["threadId"] == task["threadId"]
        assert tasks[0]["status"] == "completed"
        assert tasks[0]["usage"]["turn"]["input_tokens"] > 0


async def test_config_values_stay_strings_and_server_defaults_apply(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    marker = f"cfg-{uuid.uuid4().hex[:8]}"
    async with swarm("-c", 'developer_instructions="from the server"') as client:
        await client.call_tool("codex", {"prompt": f"{marker} a"})
        await client.call_tool(
            "codex",
            {
                "prompt": f"{marker} b",
                "config": {"developer_instructions": "true"},
                "base-instructions": "BASE FROM CALL",
            },
        )

    def developer_texts(req: dict[str, Any]) -> list[str]:
        return [
            c.get("text", "")
            for item in req["input"]
            if item.get("role") == "developer"
            for c in item.get("content", [])
        ]

    first = requests_with(fake_model, f"{marker} a")[-1]
    second = requests_with(fake_model, f"{marker} b")[-1]
    assert "from the server" in developer_texts(first)
    assert "true" in developer_texts(second), "the string 'true' must not become a boolean"
    assert "BASE FROM CALL" in developer_texts(second)


async def test_ephemeral_server_refuses_reply_clearly(swarm: SwarmFactory) -> None:
    async with swarm("--ephemeral") as client:
        out = data(await client.call_tool("codex", {"prompt": "no session files"}))
        assert out["status"] == "completed"
        reply = await client.call_tool(
            "codex_reply", {"threadId": out["threadId"], "prompt": "more"}
        )
        assert reply.is_error
        assert "--ephemeral" in text(reply)


async def test_state_is_private_and_raw_events_are_kept(
    swarm: SwarmFactory, task_dir: Path
) -> None:
    async with swarm() as client:
        out = data(await client.call_tool("codex", {"prompt": script({"shell": "echo kept"})}))
    assert stat.S_IMODE(task_dir.stat().st_mode) == 0o700
    task_path = task_dir / "tasks" / out["task_id"]
    assert stat.S_IMODE(task_path.stat().st_mode) == 0o700
    events = task_path / "events.jsonl"
    assert stat.S_IMODE(events.stat().st_mode) == 0o600
    types = [json.loads(line)["type"] for line in events.read_text().splitlines()]
    assert types[0] == "thread.started" and types[-1] == "turn.completed"
    assert stat.S_IMODE((task_dir / "tasks.db").stat().st_mode) & 0o077 == 0


async def test_result_survives_a_killed_server(
    swarm: SwarmFactory, codex: str, codex_home: Path, task_dir: Path, workdir: Path
) -> None:
    with RawServer(server_env(codex, codex_home, task_dir), workdir) as server:
        prompt = script({"delay": 2.0, "shell": "sleep 1"}, {"message": "survived"})
        task_id = server.call("codex_async", {"prompt": prompt})["task_id"]
        wait_for_phase(task_dir, task_id, "running")
        server.kill()
    async with swarm() as client:
        out = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 60}))
    assert out["done"]
    assert out["tasks"][0]["status"] == "completed"
    assert out["tasks"][0]["content"] == "survived"
    assert "exit_code" not in out["tasks"][0] and "error" not in out["tasks"][0]


def test_malformed_config_flag_fails_at_start(tmp_path: Path) -> None:
    result = start_refused(tmp_path / "t", "-c", "novalue")
    assert result.returncode == 2
    assert "expected key=value" in result.stderr
