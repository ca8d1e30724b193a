"""The engine's public surface: its names, and awaitable calls that keep blocking work off the
event loop, so one client's slow call never holds up another's (MCP SDK client in memory, stub
Codex; no model)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client
from test_engine import settings_for

import codex_mcp_swarm.engine as surface
from codex_mcp_swarm.engine import branches, steering
from codex_mcp_swarm.engine.tasks import Engine
from codex_mcp_swarm.mcp.server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]  # runners of a stub Codex


def test_every_public_name_resolves_to_its_home() -> None:
    homes = surface._HOMES
    assert sorted(homes) == sorted(surface.__all__)
    for name, home in homes.items():
        module, _, there = home.partition(":")
        expected = getattr(importlib.import_module(module, surface.__name__), there or name)
        assert getattr(surface, name) is expected, name


class Gate:
    """Holds a blocking engine call in its worker thread until the test opens it. If the call
    ran on the event loop instead, the loop would stay blocked until the gate gives up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.order: list[str] = []

    def hold(self) -> None:
        self.entered.set()
        self.opened.wait(20)  # a bound only so a regression fails instead of hanging
        self.order.append("blocked call returned")


def block_merge(gate: Gate, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def merge(store: Any, row: Any, *, strategy: str, target: str | None) -> dict[str, Any]:
        gate.hold()
        return {
            "merged": False,
            "commit": None,
            "strategy": strategy,
            "target": "main",
            "conflicts": [],
            "message": "held",
        }

    monkeypatch.setattr(branches, "merge", merge)


def block_steer(gate: Gate, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def steer(engine: Engine, task_id: str, message: str) -> steering.Steered:
        gate.hold()
        return steering.Steered(engine.get_sync(task_id), "prompt", "held")

    monkeypatch.setattr(steering, "steer", steer)


def block_launch(gate: Gate, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    create = engine.store.create

    def held_create(*args: Any, **kwargs: Any) -> None:
        gate.hold()
        create(*args, **kwargs)

    monkeypatch.setattr(engine.store, "create", held_create)


CALLS: dict[str, tuple[Callable[[Gate, Engine, pytest.MonkeyPatch], None], str, dict[str, Any]]] = {
    # tool: (what to hold, tool, arguments; TASK stands for the existing task's id)
    "merge": (block_merge, "codex_merge", {"task_id": "TASK"}),
    "steer": (block_steer, "codex_steer", {"task_id": "TASK", "message": "go on"}),
    "launch": (block_launch, "codex_async", {"prompt": "another"}),
}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_blocked_engine_call_does_not_hold_up_another_clients_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    settings = settings_for(tmp_path, max_parallel=1)
    engine = Engine(settings)
    server = build_server(settings, engine)
    block, tool, arguments = CALLS[call]
    gate = Gate()
    async with Client(server) as slow, Client(server) as fast:
        started = await fast.call_tool("codex_async", {"prompt": "x", "cwd": str(tmp_path)})
        assert not started.is_error, started.content
        task_id = str((started.structured_content or {})["task_id"])
        args = {k: task_id if v == "TASK" else v for k, v in arguments.items()}
        if tool == "codex_async":
            args["cwd"] = str(tmp_path)
        block(gate, engine, monkeypatch)
        answers: dict[str, Any] = {}

        async def slow_call() -> None:
            answers["slow"] = await slow.call_tool(tool, args)

        try:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    group.start_soon(slow_call)
                    await anyio.to_thread.run_sync(gate.entered.wait, 20)
                    assert gate.entered.is_set(), f"{tool} never reached the held call"
                    status = await fast.call_tool("codex_status", {"task_ids": [task_id]})
                    gate.order.append("status answered")
                    gate.opened.set()
        finally:
            gate.opened.set()
    assert not status.is_error, status.content
    assert gate.order == ["status answered", "blocked call returned"]
    assert "slow" in answers
