"""End to end: failures go home. A landing's failed task hears what failed on its own thread, in
its own worktree, and lands again; tasks launched with ``land`` join the queue by themselves.
The real Codex CLI against the fake model, real git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import SwarmFactory, data, git, launch, requests_with, text
from fake_model import FakeModel, script
from mcp import Client

from codex_mcp_swarm.engine import Store

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

# Fails while BROKEN is in the tree. Its output ends with a line the fake model reads as the
# script of the reply it gets, so the agent "fixes" what the check's output tells it.
FIXABLE = (
    "test ! -e BROKEN || { seq 1 50; echo 'BROKEN is in the tree'; "
    """echo 'SCRIPT: [{"shell": "rm BROKEN"}, {"message": "removed BROKEN"}]'; exit 1; }"""
)
# Fails while BROKEN is in the tree, and says nothing an agent could act on.
STUBBORN = "test ! -e BROKEN || { echo 'BROKEN is still in the tree'; exit 3; }"


def write(path: str, content: str) -> dict[str, Any]:
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


async def run_task(client: Client, repo: Path, name: str, *steps: dict[str, Any]) -> str:
    task_id = await launch(
        client,
        script(*steps, text=f"Task {name}"),
        cwd=str(repo),
        worktree=True,
        sandbox="workspace-write",
    )
    done = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 120}))
    assert done["tasks"][0]["status"] == "completed", done
    return task_id


async def landing_until(
    client: Client, task_ids: list[str], states: set[str], timeout: float = 120
) -> list[dict[str, Any]]:
    """Each task's ``landing`` once every one is in one of ``states``."""
    with anyio.fail_after(timeout):
        while True:
            views = data(await client.call_tool("codex_status", {"task_ids": task_ids}))["tasks"]
            marks = [v.get("landing") or {} for v in views]
            if all(m.get("state") in states for m in marks):
                return marks
            await anyio.sleep(0.2)


async def test_a_failed_check_goes_home_and_lands_on_the_second_attempt(
    swarm: SwarmFactory, repo: Path, fake_model: FakeModel
) -> None:
    async with swarm("--max-parallel", "4") as client:
        broke = await run_task(
            client, repo, "breaks", write("good.txt", "good"), write("BROKEN", "oops")
        )
        first = await client.call_tool(
            "codex_land",
            {"task_ids": [broke], "check": FIXABLE, "cwd": str(repo), "on_failure": "reply"},
        )
        assert not first.is_error, text(first)
        out = data(first)
        [failed] = out["check_failed"]
        reply = failed["sent_home"]
        assert failed["task_id"] == broke and reply and "landed" not in out
        assert f"sent home {broke}" in text(first)
        # The reply continues the task's own thread, in its own worktree.
        views = data(await client.call_tool("codex_status", {"task_ids": [broke, reply]}))
        original, continued = views["tasks"]
        assert continued["threadId"] == original["threadId"]
        assert continued["worktree"] == original["worktree"]
        [mark] = await landing_until(client, [broke], {"landed", "given up"})
        assert mark["state"] == "landed", mark
        assert git(repo, "rev-parse", "main").startswith(mark["commit"])
        assert not (repo / "BROKEN").exists()
        # The reply's request to the model held what failed: the command, its exit code and the
        # tail of its output.
        [asked, *_] = requests_with(fake_model, "did not land on main: the check")
        said = json.dumps(asked)
        assert json.dumps(FIXABLE)[1:-1] in said and "exited with code 1" in said
        assert "\\n49\\n50\\nBROKEN is in the tree" in said
        # Landed as the reply's task; the original counts as landed through it.
        gone = data(await client.call_tool("codex_status", {"task_ids": [reply]}))["tasks"][0]
        assert gone["landing"]["state"] == "landed"
        branch = original["worktree"]["branch"]
        assert git(repo, "merge-base", "--is-ancestor", branch, "main") == ""
        assert "BROKEN" not in git(repo, "ls-tree", "-r", "--name-only", "main")


async def test_attempts_run_out_and_the_task_is_given_up(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm("--max-parallel", "4") as client:
        broke = await run_task(client, repo, "stubborn", write("BROKEN", "oops"))
        out = data(
            await client.call_tool(
                "codex_land",
                {
                    "task_ids": [broke],
                    "check": STUBBORN,
                    "cwd": str(repo),
                    "on_failure": "reply",
                    "attempts": 2,
                },
            )
        )
        reply = out["check_failed"][0]["sent_home"]
        # The reply changes nothing; its landing fails again, and that was the last attempt.
        [mark] = await landing_until(client, [broke], {"landed", "given up"})
        assert mark["state"] == "given up" and "2 of 2" in mark["reason"], mark
        again = data(await client.call_tool("codex_status", {"task_ids": [reply]}))["tasks"][0]
        assert again["landing"]["state"] == "given up"
        assert "BROKEN" not in git(repo, "ls-tree", "-r", "--name-only", "main")


async def test_a_conflict_goes_home_with_the_markers_merged_in(
    swarm: SwarmFactory, repo: Path, fake_model: FakeModel
) -> None:
    async with swarm("--max-parallel", "4") as client:
        first = await run_task(client, repo, "first", write("shared.txt", "first was here"))
        second = await run_task(client, repo, "second", write("shared.txt", "second was here"))
        out = data(
            await client.call_tool(
                "codex_land",
                {"task_ids": [first, second], "cwd": str(repo), "on_failure": "reply"},
            )
        )
        assert [t["task_id"] for t in out["landed"]] == [first]
        [conflicted] = out["conflicted"]
        assert conflicted["task_id"] == second and conflicted["paths"] == ["shared.txt"]
        reply = conflicted["sent_home"]
        # The second task's branch now holds main merged in, markers committed.
        status = data(await client.call_tool("codex_status", {"task_ids": [second]}))
        worktree = Path(status["tasks"][0]["worktree"]["path"])
        assert status["tasks"][0]["landing"]["reply"] == reply
        held = git(worktree, "show", "HEAD:shared.txt")
        assert "<<<<<<<" in held and "first was here" in held and "second was here" in held
        assert len(git(worktree, "rev-list", "--parents", "-n", "1", "HEAD").split()) == 3
        # The reply named the conflicting path and the task that landed it.
        await client.call_tool("codex_wait", {"task_ids": [reply], "timeout": 120})
        [asked, *_] = requests_with(fake_model, "hold git conflict markers")
        assert "shared.txt" in str(asked) and f"task {first}" in str(asked)
        # This agent changes nothing, so its landing finds the markers still there: given up.
        [mark] = await landing_until(client, [second], {"landed", "given up"})
        assert mark["state"] == "given up" and "conflict markers" in mark["reason"], mark
        assert "<<<<<<<" not in (repo / "shared.txt").read_text()


async def test_tasks_launched_with_land_land_by_themselves_in_batches(
    swarm: SwarmFactory, repo: Path, task_dir: Path
) -> None:
    land = {"check": "test ! -e BROKEN"}
    # Two servers share the task dir: each task still joins exactly one landing.
    async with swarm("--max-parallel", "4") as client, swarm():
        ids = [
            await launch(
                client,
                script(write(f"f{i}.txt", str(i)), text=f"Task f{i}"),
                cwd=str(repo),
                worktree=True,
                sandbox="workspace-write",
                land=land,
            )
            for i in range(3)
        ]
        marks = await landing_until(client, ids, {"landed", "given up"})
        assert {m["state"] for m in marks} == {"landed"}, marks
        # They ended close together, so they landed together: fewer landings than tasks.
        assert len({m["id"] for m in marks}) < len(ids), marks
        store = Store(task_dir)
        joined = [t for row in store.landings() for t in row.request.task_ids or ()]
        store.close()
        assert sorted(joined) == sorted(ids), joined
        for i in range(3):
            assert (repo / f"f{i}.txt").exists()
        assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
        waited = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 5}))
        assert all(t["landing"]["state"] == "landed" for t in waited["tasks"])
        # Landing them again by name skips them, and they still say where they went.
        again = data(await client.call_tool("codex_land", {"task_ids": ids, "cwd": str(repo)}))
        assert len(again["skipped"]) == 3 and "landed" not in again
        marks = await landing_until(client, ids, {"landed"}, timeout=5)
        # A task that fails does not land; it says so.
        failing = await launch(
            client,
            script({"error": 400}, text="Task fails"),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
            land=land,
        )
        [mark] = await landing_until(client, [failing], {"landed", "given up"})
        assert mark["state"] == "given up" and "failed" in mark["reason"], mark
        # land needs a worktree.
        refused = await client.call_tool(
            "codex_async", {"prompt": "x", "cwd": str(repo), "land": land}
        )
        assert refused.is_error and "worktree: true" in text(refused)


async def test_a_thread_that_cannot_be_continued_falls_back_to_a_report(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm("--max-parallel", "4", "--ephemeral") as client:
        broke = await run_task(client, repo, "ephemeral", write("BROKEN", "oops"))
        result = await client.call_tool(
            "codex_land",
            {"task_ids": [broke], "check": STUBBORN, "cwd": str(repo), "on_failure": "reply"},
        )
        [failed] = data(result)["check_failed"]
        assert "sent_home" not in failed and failed["exit_code"] == 3
        assert f"not sent home {broke}" in text(result) and "ephemeral sessions" in text(result)
        view = data(await client.call_tool("codex_status", {"task_ids": [broke]}))["tasks"][0]
        assert view["landing"]["state"] == "given up"
        # Its branch is as the task left it: nothing was merged into it for a reply never sent.
        assert git(repo, "rev-list", "--merges", view["worktree"]["branch"]) == ""
