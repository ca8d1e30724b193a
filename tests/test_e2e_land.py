"""End to end: landing a swarm's branches, concurrent merges from several servers, and the
conflict outlook, with the real Codex CLI against the fake model and real git."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from conftest import (
    RawServer,
    SwarmFactory,
    data,
    full_result,
    git,
    launch,
    server_env,
    text,
)
from fake_model import script
from mcp import Client

pytestmark = pytest.mark.anyio

# Fails when a branch added BROKEN, after printing 400 lines and a last one naming the cause.
CHECK = "test ! -e BROKEN || { seq 1 400; echo 'BROKEN is in the tree'; exit 1; }"


def write(path: str, content: str) -> dict[str, Any]:
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


async def start_tasks(
    client: Client, repo: Path, steps: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """name -> task id, all started at once, all finished on return."""
    ids: dict[str, str] = {}

    async def one(name: str, step: dict[str, Any]) -> None:
        ids[name] = await launch(
            client,
            script(step, text=f"Task {name}"),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )

    async with anyio.create_task_group() as group:
        for name, step in steps.items():
            group.start_soon(one, name, step)
    done = data(
        await client.call_tool("codex_wait", {"task_ids": list(ids.values()), "timeout": 240})
    )
    assert {t["status"] for t in done["tasks"]} == {"completed"}, done
    return ids


EIGHT = {
    "i1": write("i1.txt", "one"),
    "i2": write("i2.txt", "two"),
    "i3": write("i3.txt", "three"),
    "broken": write("BROKEN", "this breaks the check"),
    "a1": write("shared.txt", "a1 was here"),
    "a2": write("shared.txt", "a2 was here"),
    "b1": write("pkg/mod.py", "x = 'b1'"),
    "b2": write("pkg/mod.py", "x = 'b2'"),
}


def check_eight(out: dict[str, Any], ids: dict[str, str], repo: Path) -> None:
    """Exactly the five that should land did; the rest are reported precisely."""
    name_of = {v: k for k, v in ids.items()}
    landed = {name_of[t["task_id"]] for t in out["landed"]}
    assert {"i1", "i2", "i3"} <= landed
    assert len(landed & {"a1", "a2"}) == 1 and len(landed & {"b1", "b2"}) == 1
    assert len(landed) == 5
    conflicted = {name_of[t["task_id"]]: t for t in out["conflicted"]}
    assert set(conflicted) == {"a1", "a2", "b1", "b2"} - landed
    for name, item in conflicted.items():
        partner = ids[
            ("a1" if name == "a2" else "a2") if name[0] == "a" else ("b1" if name == "b2" else "b2")
        ]
        assert item["paths"] == (["shared.txt"] if name[0] == "a" else ["pkg/mod.py"])
        assert item["colliding_tasks"] == [partner]
    assert [t["task_id"] for t in out["check_failed"]] == [ids["broken"]]
    assert out["check_failed"][0]["exit_code"] == 1
    assert out["check_failed"][0]["tail"].endswith("400\nBROKEN is in the tree")
    assert out["target"] == "main" and git(repo, "rev-parse", "main").startswith(out["new_tip"])
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo / "BROKEN").exists()
    for name in ("i1", "i2", "i3"):
        assert (repo / f"{name}.txt").exists()
    assert len(git(repo, "rev-list", "--merges", "main").split()) == 5


def strings_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return [value] if isinstance(value, str) else []


def check_lean(out: dict[str, Any], text_content: str, tasks: int) -> None:
    """What a model reads of a landing: no empty lists (or nulls, or empty strings), commits
    as 12 hex digits, no line of the text content repeated, under 120 characters per task."""

    def walk(value: Any) -> None:
        inner = value.values() if isinstance(value, dict) else value
        for item in inner if isinstance(value, (dict, list)) else ():
            assert item not in (None, [], {}, ""), out
            walk(item)

    walk(out)
    commits = [t["commit"] for t in out.get("landed", [])]
    commits += [out["new_tip"], *out.get("tips", {}).values()]
    assert all(re.fullmatch("[0-9a-f]{12}", c) for c in commits), commits
    assert "lines" not in out
    lines = text_content.split("\n\n")[0].splitlines()  # the summary and one line per task
    assert len(lines) == 1 + tasks
    strings = strings_of(out)
    assert not [line for line in lines if any(line in s for s in strings)]
    assert len(json.dumps(out, separators=(",", ":"), ensure_ascii=False)) < 120 * tasks


async def test_land_eight_tasks_with_a_check(swarm: SwarmFactory, repo: Path) -> None:
    async with swarm("--max-parallel", "8") as client:
        ids = await start_tasks(client, repo, EIGHT)
        # Before landing, the outlook names the pairs that conflict with each other.
        status = data(await client.call_tool("codex_status", {"task_ids": list(ids.values())}))
        pairs = {frozenset(p["tasks"]) for p in status["conflicts"]}
        assert pairs == {
            frozenset((ids["a1"], ids["a2"])),
            frozenset((ids["b1"], ids["b2"])),
        }, status["conflicts"]
        result = await client.call_tool("codex_land", {"check": CHECK, "cwd": str(repo)})
        assert not result.is_error, text(result)
        out = data(result)
        check_eight(out, ids, repo)
        check_lean(out, text(result), 8)
        assert all(i in text(result) for i in ids.values())
        # The check's longer output is in the text content: more than the answer's last lines.
        assert "\n300\n" in text(result) and "\n300\n" not in json.dumps(out)
        # Landed tasks count as merged: cleanup removes them, the rest stay.
        cleaned = data(await client.call_tool("codex_cleanup", {"all_merged": True}))
        assert {c["task_id"] for c in cleaned["cleaned"]} == {t["task_id"] for t in out["landed"]}
        # A second landing has nothing new to land, and says why for the rest.
        again = data(await client.call_tool("codex_land", {"check": CHECK, "cwd": str(repo)}))
        assert "landed" not in again and len(again["conflicted"]) == 2
        # After landing, the outlook only covers tasks not landed yet.
        after = data(await client.call_tool("codex_status", {"task_ids": list(ids.values())}))
        assert after.get("conflicts", []) == []  # an empty list is left out of answers


async def test_a_killed_landing_then_a_new_one_ends_the_same(
    swarm: SwarmFactory, repo: Path, codex: str, codex_home: Path, task_dir: Path, tmp_path: Path
) -> None:
    async with swarm("--max-parallel", "8") as client:
        ids = await start_tasks(client, repo, EIGHT)
    started = tmp_path / "check-started"
    # One candidate at a time (check_parallel 1): the batch's tip fails (BROKEN), bisection
    # lands i1..i3 and takes BROKEN out, and the check of the rest (a1 onwards) is slow: the
    # kill lands there, mid-landing, with i1..i3 landed and recorded.
    slow = (
        f"{CHECK} && if grep -q a1 shared.txt 2>/dev/null && [ ! -e {started} ]; then "
        f"touch {started}; sleep 120; fi"
    )
    order = [ids[n] for n in ("i1", "i2", "i3", "broken", "a1", "a2", "b1", "b2")]
    with RawServer(server_env(codex, codex_home, task_dir), repo) as server:
        server.send(
            {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {
                    "name": "codex_land",
                    "arguments": {
                        "task_ids": order,
                        "check": slow,
                        "cwd": str(repo),
                        "check_parallel": 1,
                    },
                },
            }
        )
        deadline = time.monotonic() + 120
        while not started.exists():
            assert time.monotonic() < deadline and server.proc.poll() is None
            time.sleep(0.05)
        # The rest's check starts before the target moves for i1..i3: wait until their landing
        # is recorded (the landing's progress names them), then kill.
        while len(server.call("codex_list", {})["landings"][0].get("landed", [])) < 3:
            assert time.monotonic() < deadline and server.proc.poll() is None
            time.sleep(0.05)
        server.kill()
    # The target is at a landed boundary: i1..i3 are in, nothing of the rest, nothing half-done.
    assert all((repo / f"i{n}.txt").exists() for n in (1, 2, 3))
    assert not (repo / "shared.txt").exists() or "a1" not in (repo / "shared.txt").read_text()
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    async with swarm() as client:
        # The killed server's landing is resumed by this one; it is found among the landings.
        listed = data(await client.call_tool("codex_list", {}))
        [landing] = [item["landing_id"] for item in listed["landings"]]
        waited = data(await client.call_tool("codex_wait", {"task_ids": [landing], "timeout": 120}))
    assert waited["landings"][0]["status"] == "completed", waited
    out = waited["landings"][0]["result"]
    # The check died with the landing server (its watchdog saw the server go).
    deadline = time.monotonic() + 30
    while any(
        str(started) in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
    ):
        assert time.monotonic() < deadline, "the killed landing's check is still running"
        time.sleep(0.1)
    # i1..i3 were landed before the kill: the resumed landing reports them as its own.
    check_eight(out, ids, repo)


async def test_several_clients_landing_at_once_never_lose_or_double_apply(
    swarm: SwarmFactory, repo: Path
) -> None:
    steps = {f"p{i}": write(f"p{i}.txt", str(i)) for i in range(6)}
    async with swarm("--max-parallel", "6") as first, swarm() as second, swarm() as third:
        ids = await start_tasks(first, repo, steps)
        answers: list[dict[str, Any]] = []

        async def land(client: Client) -> None:
            answers.append(data(await client.call_tool("codex_land", {"cwd": str(repo)})))

        async with anyio.create_task_group() as group:
            for client in (first, second, third):
                group.start_soon(land, client)
    landed = [t["task_id"] for a in answers for t in a.get("landed", []) if not t.get("already")]
    assert sorted(landed) == sorted(ids.values())  # each exactly once, none lost
    assert len(git(repo, "rev-list", "--merges", "main").split()) == len(ids)
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


async def test_concurrent_merges_and_cleanups_from_several_servers(
    swarm: SwarmFactory, repo: Path
) -> None:
    steps = {f"m{i}": write(f"m{i}.txt", str(i)) for i in range(6)}
    steps["c1"] = write("shared.txt", "c1")
    steps["c2"] = write("shared.txt", "c2")
    async with swarm("--max-parallel", "8") as one, swarm() as two:
        ids = await start_tasks(one, repo, steps)
        answers: dict[str, Any] = {}

        async def merge(client: Client, name: str) -> None:
            answers[name] = await client.call_tool("codex_merge", {"task_id": ids[name]})

        async def cleanup(client: Client) -> None:
            await client.call_tool("codex_cleanup", {"all_merged": True})

        async with anyio.create_task_group() as group:
            for n, name in enumerate(steps):
                group.start_soon(merge, (one, two)[n % 2], name)
            group.start_soon(cleanup, one)
            group.start_soon(cleanup, two)
    for i in range(6):
        assert not answers[f"m{i}"].is_error, text(answers[f"m{i}"])
        assert (repo / f"m{i}.txt").read_text() == f"{i}\n"
    verdicts = sorted(answers[n].is_error for n in ("c1", "c2"))
    assert verdicts == [False, True]
    refused = next(answers[n] for n in ("c1", "c2") if answers[n].is_error)
    assert data(refused)["conflicts"] == ["shared.txt"] and "conflicts" in text(refused)
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert len(git(repo, "rev-list", "--merges", "main").split()) == 7


async def test_resolve_starts_a_task_on_the_conflicted_merge(
    swarm: SwarmFactory, repo: Path
) -> None:
    async with swarm("--max-parallel", "4") as client:
        await start_tasks(client, repo, {"a1": EIGHT["a1"], "a2": EIGHT["a2"]})
        out = data(await client.call_tool("codex_land", {"cwd": str(repo), "resolve": True}))
        assert len(out["landed"]) == 1 and "resolving" not in out
        [item] = out["conflicted"]
        follow = item["follow_up"]
        done = data(await client.call_tool("codex_wait", {"task_ids": [follow], "timeout": 120}))
        assert done["done"], done
        wt = (await full_result(client, follow))["worktree"]
        # The follow-up started from the new tip with the branch merged in, markers present.
        base_text = git(repo, "show", f"{wt['base_commit']}:shared.txt")
        assert "<<<<<<<" in base_text and "a1 was here" in base_text and "a2 was here" in base_text
        parents = git(repo, "rev-list", "--parents", "-n1", wt["base_commit"]).split()[1:]
        assert parents[0].startswith(out["new_tip"])
        # The fake model resolved nothing: the markers are still there, so it is not landed,
        # and the conflicted task is not tried again while its resolver is pending.
        again = data(await client.call_tool("codex_land", {"cwd": str(repo)}))
        skipped = {s["task_id"]: s["reason"] for s in again["skipped"]}
        assert "landed" not in again and "conflicted" not in again
        assert "conflict markers" in skipped[follow]
        assert "resolving" in skipped[item["task_id"]]
        # Resolved by hand in the follow-up's worktree: the next landing takes it, and the
        # conflicted task counts as merged through it.
        (Path(wt["path"]) / "shared.txt").write_text("a1 and a2 were here\n")
        git(Path(wt["path"]), "commit", "-qam", "resolved")
        third = data(await client.call_tool("codex_land", {"cwd": str(repo)}))
        assert [t["task_id"] for t in third["landed"]] == [follow]
        assert (repo / "shared.txt").read_text() == "a1 and a2 were here\n"
        cleaned = data(await client.call_tool("codex_cleanup", {"all_merged": True}))
        assert item["task_id"] in {c["task_id"] for c in cleaned["cleaned"]}
        assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


async def test_overlapping_paths_warn_at_launch(swarm: SwarmFactory, repo: Path) -> None:
    slow = script({"delay": 20}, {"message": "slow"}, text="Slow edit of pkg")
    async with swarm("--max-parallel", "4") as client:
        first = await launch(client, slow, cwd=str(repo), paths=["pkg/"])
        second = await client.call_tool(
            "codex_async",
            {"prompt": "edit mod", "cwd": str(repo / "pkg"), "paths": ["mod.py"]},
        )
        assert not second.is_error, text(second)
        overlaps = data(second)["overlaps"]
        assert overlaps == [
            {"task_id": first, "paths": ["pkg/mod.py"], "title": "Slow edit of pkg"}
        ]
        assert "overlap" in text(second) and first in text(second)
        third = data(
            await client.call_tool(
                "codex_async", {"prompt": "docs", "cwd": str(repo), "paths": ["docs"]}
            )
        )
        assert not third.get("overlaps")
        await client.call_tool("codex_cancel", {"task_id": first})
