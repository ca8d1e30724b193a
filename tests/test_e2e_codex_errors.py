"""End to end: what Codex itself says when it cannot work reaches the task, in its own words.

The real pinned Codex CLI, driven through the official MCP SDK client: a setting Codex refuses
(its ``Error:`` line, not its backtrace, is the task's error) and a model nothing answers for
(the task says it is reconnecting within seconds, then fails with the reason).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SwarmFactory, data, launch, status_until, text, write_codex_home
from fake_model import FakeModel, script

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_codexs_error_line_is_the_tasks_error(
    swarm: SwarmFactory, fake_model: FakeModel, tmp_path: Path
) -> None:
    # A setting Codex 0.171 no longer accepts, in the user's own config.toml (where no check of
    # ours can refuse it first): Codex prints its Error: line and a backtrace, and exits 1.
    home = write_codex_home(tmp_path / "codex-home", fake_model.base_url)
    config = home / "config.toml"
    config.write_text('approval_policy = "untrusted"\n' + config.read_text())
    async with swarm(env={"CODEX_HOME": str(home)}) as client:
        task_id = await launch(client, script({"message": "never said"}))
        out = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 60}))
    (task,) = out["tasks"]
    assert task["status"] == "failed"
    assert task["exit_code"] == 1
    assert task["error"] == (
        'approval_policy = "untrusted" is no longer supported; remove this setting'
    )
    assert "<unknown>" not in str(out)


async def test_a_model_out_of_reach_says_so_then_fails_with_the_reason(
    swarm: SwarmFactory, dead_port: int, tmp_path: Path
) -> None:
    home = write_codex_home(tmp_path / "codex-home", f"http://127.0.0.1:{dead_port}/v1")
    async with swarm(env={"CODEX_HOME": str(home)}) as client:
        # Codex 0.171 retries a connection that fails for ever (5, 10, 20 ... 60 s apart,
        # whatever the provider's retry settings): the idle timeout is what gives up.
        task_id = await launch(client, "hello", idle_timeout=10)
        first = await status_until(client, task_id, lambda v: "reconnecting" in v, timeout=30)
        assert first["status"] == "running"
        assert first["reconnecting"] == {
            "reason": "Connection failed: error sending request",
            "attempt": 1,
        }
        second = await status_until(
            client, task_id, lambda v: v.get("reconnecting", {}).get("attempt") == 2, timeout=30
        )
        assert second["status"] == "running"
        shown = text(await client.call_tool("codex_status", {"task_ids": [task_id]}))
        assert (
            "reconnecting to the model: Connection failed: error sending request, attempt 2"
            in shown
        ), shown
        out = data(await client.call_tool("codex_wait", {"task_ids": [task_id], "timeout": 60}))
    (task,) = out["tasks"]
    assert task["status"] == "failed"
    assert task["error"].startswith("Codex could not reach the model (2 tries): ")
    assert "Connection failed: error sending request" in task["error"]
    assert "idle timeout" in task["error"]
    assert "reconnecting" not in task
