"""End to end: many tasks. Queue order and limits, wait modes, listing, bounded answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SwarmFactory, data, launch, resource_text, text
from fake_model import script
from mcp import Client

pytestmark = pytest.mark.anyio


async def read_json(client: Client, uri: str) -> Any:
    return json.loads(resource_text(await client.read_resource(uri)))


async def test_priority_then_fifo_under_a_parallel_limit(swarm: SwarmFactory) -> None:
    async with swarm("--max-parallel", "1") as client:
        blocker = await launch(client, script({"delay": 1.5, "message": "first"}))
        low1 = await launch(client, "low one")
        high = await launch(client, "high", priority=5)
        low2 = await launch(client, "low two")
        views = data(await client.call_tool("codex_status", {"task_ids": [low1, high, low2]}))
        positions = {v["task_id"]: v.get("queue_position") for v in views["tasks"]}
        assert positions == {high: 1, low1: 2, low2: 3}
        assert "#1 in the queue" in text(
            await client.call_tool("codex_status", {"task_ids": [high]})
        )
        ids = [blocker, low1, high, low2]
        await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 120})
        tasks = {t["task_id"]: t for t in await read_json(client, "codex-swarm:///tasks")}
    starts = sorted(ids, key=lambda i: tasks[i]["started_at"])
    assert starts == [blocker, high, low1, low2]
    assert all(tasks[i]["status"] == "completed" for i in ids)


async def test_wait_any_returns_when_the_first_task_ends(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        quick = await launch(client, "quick one")
        slow = await launch(client, script({"delay": 20, "message": "slow"}))
        out = data(
            await client.call_tool(
                "codex_wait", {"task_ids": [slow, quick], "timeout": 60, "mode": "any"}
            )
        )
        assert out["done"] is True
        assert out["still_running"] == [slow]
        by_id = {t["task_id"]: t for t in out["tasks"]}
        assert by_id[quick]["status"] == "completed"
        await client.call_tool("codex_cancel", {"task_id": slow})


async def test_wait_without_ids_waits_for_this_clients_unfinished_tasks(
    swarm: SwarmFactory,
) -> None:
    async with swarm() as client:
        empty = data(await client.call_tool("codex_wait", {"timeout": 1}))
        assert empty == {"done": True, "still_running": [], "tasks": []}
        ids = [await launch(client, script({"delay": 0.5, "message": f"m{i}"})) for i in range(3)]
        out = data(await client.call_tool("codex_wait", {"timeout": 60}))
    assert out["done"] is True
    assert sorted(t["task_id"] for t in out["tasks"]) == sorted(ids)


async def test_list_finds_tasks_newest_first_with_filters(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        done_id = data(await client.call_tool("codex", {"prompt": "Finished task\nmore text"}))[
            "task_id"
        ]
        running_id = await launch(client, script({"delay": 20, "message": "x"}, text="Busy one"))
        listing = await client.call_tool("codex_list", {})
        out = data(listing)
        assert [t["task_id"] for t in out["tasks"][:2]] == [running_id, done_id]
        assert out["tasks"][1]["title"] == "Finished task"
        assert "Finished task" in text(listing) and done_id in text(listing)
        only_done = data(await client.call_tool("codex_list", {"status": ["completed"]}))
        assert [t["task_id"] for t in only_done["tasks"]] == [done_id]
        one = data(await client.call_tool("codex_list", {"limit": 1}))
        assert len(one["tasks"]) == 1 and one["total"] == 2
        await client.call_tool("codex_cancel", {"task_id": running_id})


async def test_long_answers_are_cut_and_the_whole_is_a_resource_away(
    swarm: SwarmFactory,
) -> None:
    long_message = "\n".join(f"line {i}: " + "x" * 90 for i in range(100))  # ~10,000 chars
    async with swarm("--max-output-chars", "3000") as client:
        result = await client.call_tool("codex", {"prompt": script({"message": long_message})})
        out = data(result)
        task_id = out["task_id"]
        assert len(text(result)) < 3200
        assert len(json.dumps(out)) < 3200
        assert out["truncated"] is True
        assert f"codex-swarm:///tasks/{task_id}/result" in out["content"]
        whole = await client.read_resource(f"codex-swarm:///tasks/{task_id}/result")
        assert resource_text(whole) == long_message
        state = await read_json(client, f"codex-swarm:///tasks/{task_id}")
        assert state["result"]["content"] == long_message
        assert state["spec"]["prompt"].startswith("task")


async def test_events_are_paged_with_a_cursor(swarm: SwarmFactory, task_dir: Path) -> None:
    async with swarm() as client:
        out = data(
            await client.call_tool(
                "codex", {"prompt": script({"shell": "echo a"}, {"shell": "echo b"})}
            )
        )
        task_id = out["task_id"]
        lines: list[str] = []
        cursor = 0
        for _ in range(50):
            page = await read_json(
                client, f"codex-swarm:///tasks/{task_id}/events?cursor={cursor}&limit=3"
            )
            assert len(page["lines"]) <= 3
            lines += page["lines"]
            cursor = page["next_cursor"]
            if not page["more"]:
                break
        with pytest.raises(Exception, match="unknown task"):
            await client.read_resource("codex-swarm:///tasks/abcdef123456/events")
    on_disk = (task_dir / "tasks" / task_id / "events.jsonl").read_text().splitlines()
    assert lines == on_disk
    assert json.loads(lines[0])["type"] == "thread.started"
