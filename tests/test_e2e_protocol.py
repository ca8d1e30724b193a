"""End to end: MCP Tasks on the wire (both forms), resource update notifications in both eras."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import RawServer, SwarmFactory, launch, server_env
from fake_model import script
from mcp.server.subscriptions import ResourceUpdated

TASKS = "io.modelcontextprotocol/tasks"


@pytest.fixture
def raw_env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir)


def poll(server: RawServer, task_id: str, until: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = server.request("tasks/get", {"taskId": task_id})
        result = dict(answer["result"])
        if result["status"] in until:
            return result
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} never reached {until}")


def test_tasks_extension_wire_shapes(raw_env: dict[str, str], workdir: Path) -> None:
    with RawServer(raw_env, workdir, era=RawServer.MODERN, extensions={TASKS: {}}) as server:
        discover = server.request("server/discover", {})
        assert TASKS in discover["result"]["capabilities"]["extensions"]

        created = server.request(
            "tools/call",
            {"name": "codex", "arguments": {"prompt": script({"delay": 1.0, "message": "late"})}},
        )["result"]
        assert created["resultType"] == "task"
        assert created["status"] == "working"
        assert {"taskId", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"} <= set(created)
        task_id = created["taskId"]
        # Gettable at once (the task is durable before its id is returned).
        first = server.request("tasks/get", {"taskId": task_id})["result"]
        assert first["resultType"] == "complete" and first["taskId"] == task_id

        done = poll(server, task_id, {"completed", "failed", "cancelled"})
        assert done["status"] == "completed"
        assert done["result"]["structuredContent"]["content"] == "late"
        assert done["result"]["isError"] is False

        # A failing run is a completed task whose result has isError.
        failing = server.request(
            "tools/call", {"name": "codex", "arguments": {"prompt": script({"error": 400})}}
        )["result"]
        failed = poll(server, failing["taskId"], {"completed", "failed", "cancelled"})
        assert failed["status"] == "completed" and failed["result"]["isError"] is True

        # Cancel another one.
        slow = server.request(
            "tools/call", {"name": "codex", "arguments": {"prompt": script({"hang": 60})}}
        )["result"]
        ack = server.request("tasks/cancel", {"taskId": slow["taskId"]})
        assert ack["result"]["resultType"] == "complete"
        assert poll(server, slow["taskId"], {"cancelled", "completed"})["status"] == "cancelled"

        update = server.request("tasks/update", {"taskId": task_id, "inputResponses": {}})
        assert update["result"] == {"resultType": "complete", "_meta": update["result"]["_meta"]}
        unknown = server.request("tasks/get", {"taskId": "abcdef123456"})
        assert unknown["error"]["code"] == -32602
        undeclared = server.request("tasks/get", {"taskId": task_id}, declare=False)
        assert undeclared["error"]["code"] == -32021

        # Without the extension on the request: the plain blocking answer.
        plain = server.request(
            "tools/call",
            {"name": "codex", "arguments": {"prompt": "no task please"}},
            declare=False,
        )["result"]
        assert plain["resultType"] == "complete"
        assert plain["structuredContent"]["content"] == "ok: no task please"
        # codex_async keeps answering with its own id, not a protocol task.
        started = server.request(
            "tools/call", {"name": "codex_async", "arguments": {"prompt": "still async"}}
        )["result"]
        assert started["resultType"] == "complete" and started["structuredContent"]["task_id"]


def test_tasks_2025_11_25_form(raw_env: dict[str, str], workdir: Path) -> None:
    with RawServer(raw_env, workdir, era="2025-11-25") as server:
        capabilities = server.initialize["result"]["capabilities"]
        assert capabilities["tasks"]["requests"]["tools"]["call"] == {}
        tools = {t["name"]: t for t in server.request("tools/list", {})["result"]["tools"]}
        assert tools["codex"]["execution"] == {"taskSupport": "optional"}
        assert "execution" not in tools["codex_status"]

        created = server.request(
            "tools/call",
            {
                "name": "codex",
                "arguments": {"prompt": script({"delay": 0.5, "message": "legacy task"})},
                "task": {"ttl": 60000},
            },
        )["result"]
        task = created["task"]
        assert task["status"] == "working" and "pollInterval" in task
        result = server.request("tasks/result", {"taskId": task["taskId"]})["result"]
        assert result["structuredContent"]["content"] == "legacy task"
        assert result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"] == task["taskId"]
        got = server.request("tasks/get", {"taskId": task["taskId"]})["result"]
        assert got["status"] == "completed"
        listed = server.request("tasks/list", {})["result"]["tasks"]
        assert task["taskId"] in [t["taskId"] for t in listed]

        slow = server.request(
            "tools/call",
            {"name": "codex", "arguments": {"prompt": script({"hang": 60})}, "task": {}},
        )["result"]["task"]
        cancelled = server.request("tasks/cancel", {"taskId": slow["taskId"]})["result"]
        assert cancelled["taskId"] == slow["taskId"]
        assert poll(server, slow["taskId"], {"cancelled"})["status"] == "cancelled"

        refused = server.request(
            "tools/call", {"name": "codex_status", "arguments": {"task_ids": ["x"]}, "task": {}}
        )
        assert refused["error"]["code"] == -32602


@pytest.mark.anyio
async def test_resource_updates_for_older_era_subscribers(swarm: SwarmFactory) -> None:
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        params = getattr(getattr(message, "params", None), "uri", None)
        if params is not None:
            seen.append(str(params))

    async with swarm(mode="legacy", message_handler=on_message) as client:
        task_id = await launch(client, script({"delay": 1.0, "message": "watched"}))
        uri = f"codex-swarm:///tasks/{task_id}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.subscribe_resource(uri)
            await client.subscribe_resource("codex-swarm:///tasks")
        await client.call_tool("codex_wait", {"task_ids": [task_id]})
        with anyio.fail_after(10):
            while uri not in seen:
                await anyio.sleep(0.1)
    assert "codex-swarm:///tasks" in seen


@pytest.mark.anyio
async def test_resource_updates_for_listen_streams(swarm: SwarmFactory) -> None:
    async with swarm(mode="2026-07-28") as client:
        task_id = await launch(client, script({"delay": 1.0, "message": "listened"}))
        uri = f"codex-swarm:///tasks/{task_id}"
        events: list[str] = []
        with anyio.fail_after(30):
            async with client.listen(resource_subscriptions=[uri]) as subscription:
                async for event in subscription:
                    if isinstance(event, ResourceUpdated):
                        events.append(event.uri)
                        status = await client.call_tool("codex_status", {"task_ids": [task_id]})
                        if status.structured_content["tasks"][0]["status"] == "completed":
                            break
    assert events and set(events) == {uri}
    # Rate limit: never more than about one notification a second for a URI.
    assert len(events) <= 10
