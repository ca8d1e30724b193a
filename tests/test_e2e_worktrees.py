"""End to end: tasks in their own git worktrees, and bringing their work back safely."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import (
    RawServer,
    SwarmFactory,
    data,
    git,
    launch,
    resource_text,
    server_env,
    text,
    wait_for_phase,
)
from fake_model import script
from mcp import Client

pytestmark = pytest.mark.anyio


def write(path: str, content: str) -> dict[str, Any]:
    """A fake-model step: a shell command that writes a file (quoted for the shell)."""
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


async def run_in_worktree(client: Client, prompt: str, cwd: Path, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(
        "codex",
        {"prompt": prompt, "cwd": str(cwd), "worktree": True, "sandbox": "workspace-write", **args},
    )
    assert not result.is_error, text(result)
    return data(result)


async def test_parallel_tasks_then_merge_one_and_refuse_the_conflicting_one(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm() as client:
        ids = [
            await launch(
                client,
                script(write("shared.txt", f"edited by {name}"), text=f"Edit as {name}"),
                cwd=str(repo),
                worktree=True,
                sandbox="workspace-write",
            )
            for name in ("first", "second")
        ]
        done = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 120}))
        first, second = done["tasks"]
        for task in (first, second):
            wt = task["worktree"]
            assert task["status"] == "completed"
            assert wt["branch"] == f"codex-swarm/{task['task_id']}"
            assert git(repo, "rev-parse", wt["branch"]) != git(repo, "rev-parse", "main")
            assert wt["files"] == 1 and wt["base"] == "main"
            changed = git(repo, "diff", "--name-only", f"main...{wt['branch']}").splitlines()
            assert changed == ["shared.txt"]
            assert wt["merges_cleanly"] is True
            # Two finished tasks of one repository wait to land: land them together.
            assert task["next"].startswith("codex_land: 2 tasks wait to land"), task["next"]
            assert git(repo, "log", "-1", "--format=%s", wt["branch"]).startswith("Edit as")
            assert not Path(wt["path"]).is_relative_to(repo), "worktrees live outside the repo"
        status = data(await client.call_tool("codex_status", {"task_ids": ids}))
        assert [t["next"] for t in status["tasks"]] == [first["next"]] * 2

        merged = data(await client.call_tool("codex_merge", {"task_id": first["task_id"]}))
        assert merged["merged"] is True
        assert git(repo, "rev-parse", "HEAD") == merged["commit"]
        assert (repo / "shared.txt").read_text() == "edited by first\n"
        before = (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"))

        # The second is now predicted to conflict, before any merge is tried...
        again = data(await client.call_tool("codex_wait", {"task_ids": [second["task_id"]]}))
        outlook = again["tasks"][0]["worktree"]
        assert outlook["merges_cleanly"] is False
        assert outlook["conflicts"] == ["shared.txt"]
        assert again["tasks"][0]["next"].startswith("codex_reply to resolve the conflicts")
        status = data(await client.call_tool("codex_status", {"task_ids": [second["task_id"]]}))
        assert "next" not in status["tasks"][0]  # it alone is left: nothing to land together
        # ...and the merge is refused without touching the checkout.
        refused = await client.call_tool("codex_merge", {"task_id": second["task_id"]})
        assert refused.is_error
        assert data(refused)["conflicts"] == ["shared.txt"]
        assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")) == before
        assert (repo / "shared.txt").read_text() == "edited by first\n"

        diff = data(await client.call_tool("codex_diff", {"task_id": second["task_id"]}))
        assert "+edited by second" in diff["patch"]
        assert "shared.txt" in diff["stat"]


async def test_merge_strategies_and_a_dirty_checkout(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm() as client:
        squash = await run_in_worktree(client, script(write("a.txt", "a")), repo)
        assert squash["next"] == "codex_merge, or codex_diff first"  # the only one waiting
        rebase = await run_in_worktree(client, script(write("b.txt", "b")), repo)
        assert rebase["next"].startswith("codex_land: 2 tasks wait to land")
        (repo / "shared.txt").write_text("dirty\n")
        refused = await client.call_tool("codex_merge", {"task_id": squash["task_id"]})
        assert refused.is_error and "shared.txt" in text(refused)
        git(repo, "checkout", "--", "shared.txt")
        out = data(
            await client.call_tool(
                "codex_merge", {"task_id": squash["task_id"], "strategy": "squash"}
            )
        )
        assert out["merged"] and git(repo, "rev-list", "--count", "HEAD") == "2"
        out = data(
            await client.call_tool(
                "codex_merge", {"task_id": rebase["task_id"], "strategy": "rebase"}
            )
        )
        assert out["merged"] and (repo / "b.txt").exists() and (repo / "a.txt").exists()
        assert git(repo, "log", "--merges", "--format=%H") == "", "squash and rebase: no merges"


async def test_include_uncommitted_carries_a_dirty_checkout_without_touching_it(
    swarm: SwarmFactory, repo: Path
) -> None:
    (repo / "shared.txt").write_text("work in progress\n")
    (repo / "new.txt").write_text("untracked\n")
    status_before = git(repo, "status", "--porcelain")
    async with swarm() as client:
        out = await run_in_worktree(
            client,
            script({"shell": "cat shared.txt new.txt > seen.txt"}),
            repo,
            include_uncommitted=True,
        )
        full = json.loads(
            resource_text(await client.read_resource(f"codex-swarm:///tasks/{out['task_id']}"))
        )["result"]
    wt = full["worktree"]
    assert wt["carried_commit"] == wt["base_commit"]
    assert git(repo, "show", f"{wt['branch']}:seen.txt") == "work in progress\nuntracked"
    assert [f["path"] for f in wt["files"]] == ["seen.txt"], "the diff is the agent's own work"
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "stash", "list") == ""


async def test_a_follow_up_task_builds_on_another_tasks_branch(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm() as client:
        first = await run_in_worktree(client, script(write("step1.txt", "one")), repo)
        second = await run_in_worktree(
            client,
            script({"shell": "cat step1.txt > step2.txt"}),
            repo,
            base_ref=first["worktree"]["branch"],
        )
    assert git(repo, "show", f"{second['worktree']['branch']}:step2.txt") == "one"
    assert second["worktree"]["base"] == first["worktree"]["branch"]


async def test_subdirectory_cwd_and_reply_stay_in_the_worktree(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm() as client:
        first = await run_in_worktree(client, script(write("here.txt", "1")), repo / "pkg")
        wt = first["worktree"]
        assert first["cwd"] == str(Path(wt["path"]) / "pkg")
        reply = await client.call_tool(
            "codex_reply",
            {"threadId": first["threadId"], "prompt": script(write("again.txt", "2"))},
        )
        second = data(reply)
        assert second["worktree"]["branch"] == wt["branch"]
    files = git(repo, "ls-tree", "-r", "--name-only", wt["branch"]).splitlines()
    assert {"pkg/here.txt", "pkg/again.txt"} <= set(files)


async def test_cleanup_keeps_unmerged_work_unless_forced(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm() as client:
        kept = await run_in_worktree(client, script(write("k.txt", "keep me")), repo)
        merged = await run_in_worktree(client, script(write("m.txt", "merge me")), repo)
        await client.call_tool("codex_merge", {"task_id": merged["task_id"]})

        out = data(await client.call_tool("codex_cleanup", {"all_merged": True}))
        assert [c["task_id"] for c in out["cleaned"]] == [merged["task_id"]]
        assert out["cleaned"][0]["deleted_branch"] is True
        assert not Path(merged["worktree"]["path"]).exists()

        one = data(await client.call_tool("codex_cleanup", {"task_id": kept["task_id"]}))
        assert one["cleaned"][0]["deleted_branch"] is False
        assert one["cleaned"][0]["kept_reason"]
        assert git(repo, "show", f"{kept['worktree']['branch']}:k.txt") == "keep me"

        forced = await client.call_tool(
            "codex_cleanup", {"task_id": kept["task_id"], "force": True}
        )
        lost = data(forced)["cleaned"][0]
        assert lost["deleted_branch"] is True and lost["lost_commits"]
        assert "LOST" in text(forced)
        bad = await client.call_tool("codex_cleanup", {"all_merged": True, "force": True})
        assert bad.is_error


async def test_ten_tasks_at_once_on_one_repository(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm("--max-parallel", "10") as client:
        ids: list[str] = []

        async def start(i: int) -> None:
            ids.append(
                await launch(
                    client,
                    script(write(f"f{i}.txt", str(i))),
                    cwd=str(repo),
                    worktree=True,
                    sandbox="workspace-write",
                )
            )

        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(start, i)
        done = data(await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 180}))
    assert {t["status"] for t in done["tasks"]} == {"completed"}
    paths = {t["worktree"]["path"] for t in done["tasks"]}
    assert len(paths) == 10
    for task in done["tasks"]:
        assert task["worktree"]["files"] == 1
    assert len(git(repo, "worktree", "list").splitlines()) == 11


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ("plain-dir", {}, "not inside a git repository"),
        ("empty-repo", {}, "no commits"),
        ("repo", {"base_ref": "no-such-branch"}, "no-such-branch"),
        ("repo", {"base_ref": "--orphan"}, "base_ref"),
        ("repo-no-worktree", {"base_ref": "main"}, "only apply with worktree"),
    ],
)
async def test_worktree_errors_are_clear(
    swarm: SwarmFactory,
    repo: Path,
    tmp_path: Path,
    setup: str,
    args: dict[str, Any],
    expected: str,
) -> None:
    cwd = repo
    use_worktree = True
    if setup == "plain-dir":
        cwd = tmp_path / "plain"
        cwd.mkdir()
    elif setup == "empty-repo":
        cwd = tmp_path / "empty"
        cwd.mkdir()
        git(cwd, "init", "-q")
    elif setup == "repo-no-worktree":
        use_worktree = False
    async with swarm() as client:
        result = await client.call_tool(
            "codex_async", {"prompt": "x", "cwd": str(cwd), "worktree": use_worktree, **args}
        )
    assert result.is_error
    assert expected in text(result), text(result)


async def test_old_worktrees_expire_but_unmerged_branches_stay(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm(env={"CODEX_SWARM_TASK_MAX_AGE": "2s"}) as client:
        out = await run_in_worktree(client, script(write("old.txt", "old work")), repo)
        path = Path(out["worktree"]["path"])
        assert path.exists()
        uri = f"codex-swarm:///tasks/{out['task_id']}"
        with anyio.fail_after(30):
            while True:  # the expiry timer runs while the server idles
                state = json.loads(resource_text(await client.read_resource(uri)))
                if state["extra"].get("removed_worktree"):
                    break
                await anyio.sleep(0.2)
        assert not path.exists()
        assert state["extra"]["removed_worktree"] is True
    assert git(repo, "show", f"{out['worktree']['branch']}:old.txt") == "old work"
    assert str(path) not in git(repo, "worktree", "list")


async def test_the_commit_happens_when_the_server_was_killed(
    swarm: SwarmFactory, repo: Path, codex: str, codex_home: Path, task_dir: Path
) -> None:
    with RawServer(server_env(codex, codex_home, task_dir), repo) as server:
        prompt = script({"delay": 1.5, **write("late.txt", "after the crash")}, text="Late edit")
        task_id = server.call(
            "codex_async",
            {"prompt": prompt, "cwd": str(repo), "worktree": True, "sandbox": "workspace-write"},
        )["task_id"]
        wait_for_phase(task_dir, task_id, "running")
        server.kill()
    branch = f"codex-swarm/{task_id}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Late edit" not in git(repo, "log", "-1", branch):
        time.sleep(0.2)  # no server is alive: the runner commits by itself
    assert git(repo, "show", f"{branch}:late.txt") == "after the crash"
    async with swarm() as client:
        out = data(await client.call_tool("codex_wait", {"task_ids": [task_id]}))
    assert out["tasks"][0]["worktree"]["files"] == 1


async def test_reply_after_cleanup_says_what_to_do_instead(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm() as client:
        done = await run_in_worktree(client, script(write("kept.txt", "keep")), repo)
        cleaned = data(await client.call_tool("codex_cleanup", {"task_id": done["task_id"]}))
        assert cleaned["cleaned"][0]["removed_worktree"] is True  # the unmerged branch stays
        reply = await client.call_tool(
            "codex_reply", {"threadId": done["threadId"], "prompt": "carry on"}
        )
    said = text(reply)
    assert reply.is_error
    assert "was removed" in said and "does not exist" not in said
    assert f"base_ref {done['worktree']['branch']!r}" in said and "git worktree add" in said
