"""End to end: a landing as a task. ``codex_land`` with ``async``, the sync limit that turns a
long call into a landing id, landings in codex_status / codex_wait / codex_list, cancel at a
landed boundary, and a landing that resumes after its server was killed (the real Codex CLI
against the fake model, real git)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import RawServer, SwarmFactory, data, git, launch, processes_matching, server_env
from fake_model import script
from mcp import Client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CHECK = "test ! -e BROKEN"


async def three_tasks(
    client: Client, repo: Path, names: tuple[str, ...] = ("x", "y", "z")
) -> list[str]:
    ids = []
    for name in names:
        step = {"shell": f"printf '%s\\n' '{name}' > {name}.txt"}
        ids.append(
            await launch(
                client,
                script(step, text=f"Task {name}"),
                cwd=str(repo),
                worktree=True,
                sandbox="workspace-write",
            )
        )
    done = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 240}))
    assert {t["status"] for t in done["tasks"]} == {"completed"}, done
    return ids


async def test_async_landing_is_watched_like_a_task(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm("--max-parallel", "4") as client:
        ids = await three_tasks(client, repo)
        started = time.monotonic()
        out = data(
            await client.call_tool(
                "codex_land",
                {"task_ids": ids, "cwd": str(repo), "check": f"sleep 2; {CHECK}", "async": True},
            )
        )
        assert time.monotonic() - started < 2  # answered before the check could end
        landing = out["landing"]["landing_id"]
        assert landing.startswith("land") and out["landing"]["status"] in ("queued", "running")
        status = data(await client.call_tool("codex_status", {"task_ids": [landing]}))
        assert status["tasks"] == [] and status["landings"][0]["landing_id"] == landing
        listed = data(await client.call_tool("codex_list", {}))
        assert landing in {item["landing_id"] for item in listed["landings"]}
        waited = data(await client.call_tool("codex_wait", {"task_ids": [landing], "timeout": 120}))
        assert waited["done"] is True
        result = waited["landings"][0]
        assert result["status"] == "completed"
        assert [t["task_id"] for t in result["result"]["landed"]] == ids
    assert all((repo / f"{n}.txt").exists() for n in "xyz")
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


async def test_a_long_landing_answers_with_its_id_at_the_sync_limit(
    swarm: SwarmFactory, repo: Path
) -> None:
    said: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        said.append(message or "")

    async with swarm("--max-parallel", "4", "--land-sync-limit", "1") as client:
        ids = await three_tasks(client, repo)
        out = data(
            await client.call_tool(
                "codex_land",
                {"task_ids": ids, "cwd": str(repo), "check": "sleep 4"},
                progress_callback=on_progress,
            )
        )
        landing = out["landing"]["landing_id"]
        assert "still landing" in out["note"]
        # While it waited, the call said where the landing was, in its one line.
        assert said and all(m.startswith(f"landing {landing}: ") for m in said), said
        waited = data(await client.call_tool("codex_wait", {"task_ids": [landing], "timeout": 120}))
        assert waited["landings"][0]["status"] == "completed"
        assert len(waited["landings"][0]["result"]["landed"]) == 3


async def test_cancelling_a_landing_stops_its_checks_at_a_landed_boundary(
    swarm: SwarmFactory, repo: Path
) -> None:
    before = git(repo, "rev-parse", "main")
    async with swarm("--max-parallel", "4") as client:
        ids = await three_tasks(client, repo)
        out = data(
            await client.call_tool(
                "codex_land",
                {"task_ids": ids, "cwd": str(repo), "check": "sleep 73.25", "async": True},
            )
        )
        landing = out["landing"]["landing_id"]
        deadline = time.monotonic() + 60
        while not processes_matching("sleep 73.25"):
            assert time.monotonic() < deadline, "the check never started"
            await anyio.sleep(0.1)
        cancelled = data(await client.call_tool("codex_cancel", {"task_id": landing}))
        assert cancelled == {"task_id": landing, "status": "cancelled"}
        assert not processes_matching("sleep 73.25"), "a cancelled landing left its check running"
        status = data(await client.call_tool("codex_status", {"task_ids": [landing]}))
        assert status["landings"][0]["status"] == "cancelled"
    assert git(repo, "rev-parse", "main") == before


async def test_a_landing_resumes_after_its_server_was_killed(
    swarm: SwarmFactory, repo: Path, codex: str, codex_home: Path, task_dir: Path, tmp_path: Path
) -> None:
    async with swarm("--max-parallel", "4") as client:
        ids = await three_tasks(client, repo)
    started = tmp_path / "check-started"
    # The first check is slow (the server is killed during it); later ones are quick.
    slow = f"if [ ! -e {started} ]; then touch {started}; sleep 120; fi; {CHECK}"
    with RawServer(server_env(codex, codex_home, task_dir), repo) as server:
        answer = server.request(
            "tools/call",
            {
                "name": "codex_land",
                "arguments": {"task_ids": ids, "cwd": str(repo), "check": slow, "async": True},
            },
        )
        landing = answer["result"]["structuredContent"]["landing"]["landing_id"]
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline and server.proc.poll() is None
            time.sleep(0.05)
        server.kill()
    before = git(repo, "rev-parse", "main")
    assert not (repo / "x.txt").exists()  # nothing half-landed
    async with swarm() as client:
        waited = data(await client.call_tool("codex_wait", {"task_ids": [landing], "timeout": 120}))
    result: dict[str, Any] = waited["landings"][0]
    assert result["status"] == "completed", result
    assert [t["task_id"] for t in result["result"]["landed"]] == ids
    assert git(repo, "rev-parse", "main") != before
    assert all((repo / f"{n}.txt").exists() for n in "xyz")
