"""End to end: codex_steer, codex_fork and codex_review with the real Codex CLI and the fake
model, through the SDK client."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import (
    SwarmFactory,
    data,
    git,
    launch,
    processes_matching,
    requests_with,
    status_until,
    text,
    wait_until,
)
from fake_model import FakeModel, script
from mcp import Client

pytestmark = pytest.mark.anyio

GRACE = 5.0  # the server's default cancel grace: a steered turn is stopped within it


def unique() -> str:
    return str(uuid.uuid4().int % 10**6 + 1_000_000)


def last_user_text(request: dict[str, Any]) -> str:
    users = [i for i in request["input"] if i.get("type") == "message" and i.get("role") == "user"]
    return "".join(c.get("text", "") for c in users[-1]["content"])


async def wait_result(client: Client, task_id: str, timeout: float = 120) -> dict[str, Any]:
    done = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": timeout}))
    return dict(done["tasks"][0])


async def running_command(client: Client, task_id: str, command: str) -> dict[str, Any]:
    return await status_until(
        client,
        task_id,
        lambda v: (
            v["last_tool"] is not None
            and command in v["last_tool"]["summary"]
            and v["last_tool"]["status"] == "in_progress"
        ),
        timeout=60,
    )


# ---- steer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sandbox", ["read-only", "danger-full-access"])
async def test_steer_interrupts_and_continues_the_same_task(
    swarm: SwarmFactory, fake_model: FakeModel, sandbox: str
) -> None:
    marker = unique()
    prompt = script(
        {"shell": f"echo before-{marker}"},
        {"shell": f"sleep {marker}"},
        {"message": "never reached"},
        text=f"steer source {marker}",
    )
    async with swarm() as client:
        task_id = await launch(client, prompt, sandbox=sandbox)
        view = await running_command(client, task_id, f"sleep {marker}")
        thread = view["threadId"]
        assert processes_matching(f"sleep {marker}")
        message = script({"message": f"steered answer {marker}"}, text=f"STEER {marker}")
        result = await client.call_tool("codex_steer", {"task_id": task_id, "message": message})
        assert not result.is_error, text(result)
        out = data(result)
        assert out["how"] == "interrupting" and out["status"] == "running"
        assert "aborted" in out["note"] or "Lost" in out["note"]
        wait_until(lambda: not processes_matching(f"sleep {marker}"), timeout=GRACE + 5)
        done = await wait_result(client, task_id)
        assert done["status"] == "completed", done
        assert done["content"] == f"steered answer {marker}"
        assert done["threadId"] == thread
        assert done["steered"]["count"] == 1
        status = data(await client.call_tool("codex_status", {"task_ids": [task_id]}))["tasks"][0]
        assert status["steered"]["count"] == 1 and status["steered"]["last_at"]
        listing = data(await client.call_tool("codex_list", {}))
        assert listing["total"] == 1, "a steered task keeps one record"
        # Every model request of every turn counts: two shells, then the steered answer.
        assert done["usage"]["turn"]["input_tokens"] == 300
    request = requests_with(fake_model, f"STEER {marker}")[-1]
    assert f"STEER {marker}" in last_user_text(request)
    history = json.dumps(request["input"])
    assert f"steer source {marker}" in history
    assert f"before-{marker}" in history, "a finished command's output is kept"
    assert f"sleep {marker}" in history, "the interrupted command is in the history"
    assert "aborted" in history and "turn_aborted" in history
    assert processes_matching(task_id) == []


async def test_two_quick_steers_are_delivered_together_once(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    marker = unique()
    async with swarm() as client:
        task_id = await launch(
            client, script({"shell": f"sleep {marker}"}, text=f"double {marker}")
        )
        await running_command(client, task_id, f"sleep {marker}")
        first = await client.call_tool(
            "codex_steer", {"task_id": task_id, "message": f"first steer {marker}"}
        )
        second = await client.call_tool(
            "codex_steer",
            {
                "task_id": task_id,
                "message": script({"message": f"both {marker}"}, text=f"second steer {marker}"),
            },
        )
        assert not first.is_error and not second.is_error, text(second)
        assert data(first)["how"] == "interrupting"
        assert data(second)["how"] in ("queued", "interrupting")
        done = await wait_result(client, task_id)
        assert done["status"] == "completed", done
        assert done["steered"]["count"] == 2
    continued = requests_with(fake_model, f"first steer {marker}")
    if data(second)["how"] == "queued":
        # One continuation carrying both messages in order, not two.
        assert len(continued) == 1
        said = last_user_text(continued[0])
        assert said.index(f"first steer {marker}") < said.index(f"second steer {marker}")
        assert done["content"] == f"both {marker}"


async def test_a_steered_task_cancels_cleanly(swarm: SwarmFactory) -> None:
    first, second = unique(), unique()
    async with swarm() as client:
        task_id = await launch(
            client, script({"shell": f"sleep {first}"}), sandbox="danger-full-access"
        )
        await running_command(client, task_id, f"sleep {first}")
        message = script({"shell": f"sleep {second}"}, text="sleep again")
        steer = await client.call_tool("codex_steer", {"task_id": task_id, "message": message})
        assert not steer.is_error, text(steer)
        view = await running_command(client, task_id, f"sleep {second}")
        assert view["status"] == "running" and view["steered"]["count"] == 1
        assert not processes_matching(f"sleep {first}")
        cancelled = data(await client.call_tool("codex_cancel", {"task_id": task_id}))
        assert cancelled["status"] == "cancelled"
        assert processes_matching(f"sleep {second}") == []
        assert processes_matching(task_id) == []


async def test_steer_a_queued_task_adds_to_its_prompt(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    marker = unique()
    async with swarm("--max-parallel", "1") as client:
        blocker = await launch(client, script({"shell": f"sleep {marker}"}))
        await running_command(client, blocker, f"sleep {marker}")
        queued = await launch(client, f"queued task {marker}")
        result = await client.call_tool(
            "codex_steer", {"task_id": queued, "message": f"and also {marker}"}
        )
        assert not result.is_error, text(result)
        assert data(result)["how"] == "prompt" and data(result)["status"] == "queued"
        await client.call_tool("codex_cancel", {"task_id": blocker})
        done = await wait_result(client, queued)
        assert done["status"] == "completed", done
    request = requests_with(fake_model, f"queued task {marker}")[-1]
    assert f"and also {marker}" in last_user_text(request)


async def test_steer_a_finished_task_says_to_reply(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        result = await client.call_tool("codex", {"prompt": "finish quickly"})
        task_id = data(result)["task_id"]
        steer = await client.call_tool("codex_steer", {"task_id": task_id, "message": "more"})
        assert steer.is_error
        assert "codex_reply" in text(steer) and "already ended" in text(steer)
        unknown = await client.call_tool("codex_steer", {"task_id": "nope!", "message": "x"})
        assert unknown.is_error and "not a task id" in text(unknown)


# ---- fork ------------------------------------------------------------------------------------


async def test_fork_continues_a_copy_on_its_own_branch_from_the_source_head(
    swarm: SwarmFactory, fake_model: FakeModel, repo: Path
) -> None:
    marker = unique()
    source_prompt = script(
        {"shell": f"printf 'source {marker}\\n' > source.txt"}, text=f"fork source {marker}"
    )
    async with swarm() as client:
        result = await client.call_tool(
            "codex",
            {
                "prompt": source_prompt,
                "cwd": str(repo),
                "worktree": True,
                "sandbox": "workspace-write",
            },
        )
        source = data(result)
        assert source["status"] == "completed", text(result)
        fork_prompt = script(
            {"shell": f"printf 'fork {marker}\\n' > fork.txt"}, text=f"fork prompt {marker}"
        )
        forked = await client.call_tool(
            "codex_fork", {"task_id": source["task_id"], "prompt": fork_prompt, "count": 2}
        )
        assert not forked.is_error, text(forked)
        out = data(forked)
        assert out["source_task_id"] == source["task_id"]
        ids = [t["task_id"] for t in out["tasks"]]
        assert len(ids) == 2
        done = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 120}))
        branches = set()
        for task in done["tasks"]:
            assert task["status"] == "completed", task
            assert task["threadId"] and task["threadId"] != source["threadId"]
            wt = task["worktree"]
            branches.add(wt["branch"])
            assert wt["branch"] == f"codex-swarm/{task['task_id']}"
            # Starts from the source's work; measured from the source's own base.
            assert wt["base_commit"] == source["worktree"]["base_commit"]
            assert git(repo, "show", f"{wt['branch']}:source.txt") == f"source {marker}"
            assert git(repo, "show", f"{wt['branch']}:fork.txt") == f"fork {marker}"
            assert sorted(f["path"] for f in wt["files"]) == ["fork.txt", "source.txt"]
        assert len(branches) == 2
    firsts = requests_with(fake_model, f"fork prompt {marker}")
    history = json.dumps(firsts[0]["input"])
    assert f"fork source {marker}" in history, "the fork's first request carries the history"
    assert f"source {marker}" in history


async def test_read_only_fork_asks_a_running_task_without_disturbing_it(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    marker = unique()
    async with swarm() as client:
        task_id = await launch(
            client,
            script({"shell": f"echo seen-{marker}"}, {"shell": f"sleep {marker}"}),
            sandbox="workspace-write",
        )
        await running_command(client, task_id, f"sleep {marker}")
        result = await client.call_tool(
            "codex_fork", {"task_id": task_id, "prompt": f"what are you doing {marker}"}
        )
        assert not result.is_error, text(result)
        fork_id = data(result)["tasks"][0]["task_id"]
        answer = await wait_result(client, fork_id)
        assert answer["status"] == "completed" and answer["content"].startswith("ok: what are")
        assert answer["worktree"] is None
        still = data(await client.call_tool("codex_status", {"task_ids": [task_id]}))["tasks"][0]
        assert still["status"] == "running" and processes_matching(f"sleep {marker}")
        await client.call_tool("codex_cancel", {"task_id": task_id})
    request = requests_with(fake_model, f"what are you doing {marker}")[0]
    assert f"seen-{marker}" in json.dumps(request["input"])
    assert "read-only" in json.dumps(request["input"]), "the fork runs in a read-only sandbox"


async def test_fork_of_a_running_worktree_task_snapshots_its_work(
    swarm: SwarmFactory, repo: Path
) -> None:
    marker = unique()
    async with swarm() as client:
        task_id = await launch(
            client,
            script(
                {"shell": f"printf 'wip {marker}\\n' > wip.txt"},
                {"shell": f"sleep {marker}"},
            ),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )
        view = await running_command(client, task_id, f"sleep {marker}")
        source_path = Path(view["worktree"]["path"])
        status_before = git(source_path, "status", "--porcelain")
        result = await client.call_tool(
            "codex_fork", {"task_id": task_id, "prompt": f"carry on {marker}"}
        )
        assert not result.is_error, text(result)
        fork = await wait_result(client, data(result)["tasks"][0]["task_id"])
        assert fork["status"] == "completed", fork
        assert git(repo, "show", f"{fork['worktree']['branch']}:wip.txt") == f"wip {marker}"
        # The source's worktree, index and branch are untouched, and it is still running.
        assert git(source_path, "status", "--porcelain") == status_before
        assert git(repo, "rev-parse", f"codex-swarm/{task_id}") == git(repo, "rev-parse", "main")
        await client.call_tool("codex_cancel", {"task_id": task_id})


async def test_fork_by_thread_id_counts_only_its_own_tokens(
    swarm: SwarmFactory, fake_model: FakeModel
) -> None:
    marker = unique()
    async with swarm() as client:
        source = data(await client.call_tool("codex", {"prompt": f"origin {marker}"}))
        result = await client.call_tool(
            "codex_fork", {"threadId": source["threadId"], "prompt": f"branch off {marker}"}
        )
        assert not result.is_error, text(result)
        assert data(result)["source_task_id"] == source["task_id"]
        fork = await wait_result(client, data(result)["tasks"][0]["task_id"])
        assert fork["content"] == f"ok: branch off {marker}"
        assert fork["threadId"] != source["threadId"]
        assert fork["usage"]["turn"]["input_tokens"] == 100
        assert fork["usage"]["thread_total"]["input_tokens"] == 200
    request = requests_with(fake_model, f"branch off {marker}")[0]
    assert f"origin {marker}" in json.dumps(request["input"])


async def test_fork_refuses_bad_input(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        both = await client.call_tool(
            "codex_fork", {"task_id": "abcdef123456", "threadId": str(uuid.uuid4()), "prompt": "x"}
        )
        assert both.is_error and "exactly one" in text(both)
        bad = await client.call_tool("codex_fork", {"threadId": "--last", "prompt": "x"})
        assert bad.is_error and "not a UUID" in text(bad)
        many = await client.call_tool(
            "codex_fork", {"threadId": str(uuid.uuid4()), "prompt": "x", "count": 50}
        )
        assert many.is_error


# ---- review ----------------------------------------------------------------------------------


async def test_review_of_a_worktree_task_covers_its_diff_against_its_base(
    swarm: SwarmFactory, fake_model: FakeModel, repo: Path
) -> None:
    marker = unique()
    async with swarm() as client:
        result = await client.call_tool(
            "codex",
            {
                "prompt": script(
                    {"shell": f"printf 'new {marker}\\n' > added_{marker}.py"},
                    text=f"review me {marker}",
                ),
                "cwd": str(repo),
                "worktree": True,
                "sandbox": "workspace-write",
            },
        )
        source = data(result)
        assert source["status"] == "completed", text(result)
        base = source["worktree"]["base_commit"]
        review = await client.call_tool("codex_review", {"task_id": source["task_id"]})
        assert not review.is_error, text(review)
        out = data(review)
        assert out["task_id"] != source["task_id"] and out["status"] == "completed"
        assert f"added_{marker}.py" in out["content"], out["content"]
        assert "[P2] Check" in out["content"]
        listed = data(await client.call_tool("codex_status", {"task_ids": [out["task_id"]]}))
        assert listed["tasks"][0]["status"] == "completed"
        # async: a task id at once; codex_wait gives the findings
        started = await client.call_tool(
            "codex_review",
            {"task_id": source["task_id"], "instructions": f"focus {marker}", "async": True},
        )
        assert not started.is_error, text(started)
        later = await wait_result(client, data(started)["task_id"])
        assert later["status"] == "completed" and f"added_{marker}.py" in later["content"]
    asked = [
        r
        for r in fake_model.requests
        if base in json.dumps(r.get("input")) and "# Review guidelines" in json.dumps(r)
    ]
    assert asked, "the model got a review request naming the task's base commit"
    assert any(f"+new {marker}" in json.dumps(r["input"]) for r in asked), "it saw the diff"
    assert any(f"focus {marker}" in json.dumps(r["input"]) for r in asked)
    assert any("read-only" in json.dumps(r["input"]) for r in asked)


async def test_review_refuses_an_unknown_task(swarm: SwarmFactory) -> None:
    async with swarm() as client:
        result = await client.call_tool("codex_review", {"task_id": "abcdef123456"})
        assert result.is_error and "unknown task id" in text(result)
        await anyio.sleep(0)
