"""Every tool fuzzed with generated arguments: each call gets an isError result or a correct
answer, within a bounded time; the server never crashes, hangs or writes outside its dirs.

The server runs in-process behind the SDK client. Tasks that a generated call does launch run a
stub Codex that answers at once: this test is about argument handling (the real Codex CLI is
exercised by the end-to-end tests).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult

from codex_mcp_swarm.mcp.server import build_server
from codex_mcp_swarm.settings import Settings

# One harness (server) for the module: under pytest-xdist it runs in one worker.
pytestmark = pytest.mark.xdist_group("fuzz")

STUB_CODEX = """#!/bin/sh
cat > /dev/null
echo '{"type":"thread.started","thread_id":"01a21195-0000-7000-8000-000000000000"}'
echo '{"type":"turn.started"}'
echo '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"stub"}}'
echo '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}'
"""

NASTY_TEXT = [
    "",
    "-",
    "--help",
    "-c",
    "--dangerously-bypass-approvals-and-sandbox",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    "/",
    "~",
    "$(touch /tmp/pwned)",
    "`id`",
    "a\nb",
    "\x00",
    "\u202e\u0000\ud7ff",
    "abcdef123456",
    "01a21195-0000-7000-8000-000000000000",
    "x" * 70_000,
]
text = st.one_of(st.text(max_size=40), st.sampled_from(NASTY_TEXT))
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
)
junk = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=8,
)

TOOL_PARAMS = {
    "codex": ["prompt", "cwd", "sandbox", "approval-policy", "config", "profile", "model"],
    "codex_async": [
        "prompt",
        "cwd",
        "sandbox",
        "config",
        "base-instructions",
        "timeout",
        "idle_timeout",
        "retries",
        "priority",
        "worktree",
        "base_ref",
        "include_uncommitted",
        "paths",
    ],
    "codex_reply": ["threadId", "prompt", "async"],
    "codex_status": ["task_ids"],
    "codex_wait": ["task_ids", "timeout", "mode"],
    "codex_list": ["status", "limit"],
    "codex_cancel": ["task_id"],
    "codex_diff": ["task_id", "stat_only", "paths"],
    "codex_merge": ["task_id", "strategy", "target"],
    "codex_cleanup": ["task_id", "all_merged", "force"],
    # ``check`` is a shell command by design (like a prompt), so it is not fuzzed here.
    "codex_land": ["task_ids", "target", "strategy", "cwd", "resolve", "check_timeout"],
    "codex_steer": ["task_id", "message"],
    "codex_fork": ["task_id", "threadId", "prompt", "count", "worktree"],
    "codex_review": ["task_id", "instructions", "async"],
}


def arguments(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    params = [*TOOL_PARAMS[tool], "unknown_key", "--flag"]
    values: dict[str, st.SearchStrategy[Any]] = {p: junk for p in params}
    if tool in ("codex", "codex_async"):
        values["prompt"] = st.one_of(junk, text)
    if tool == "codex_wait":
        # A valid wait may legally block until its timeout: keep generated ones short.
        values["timeout"] = st.one_of(junk, st.floats(min_value=0, max_value=0.2))
    return st.fixed_dictionaries({}, optional=values)


class Harness:
    def __init__(self, portal: BlockingPortal, client: Client, root: Path) -> None:
        self.portal = portal
        self.client = client
        self.root = root

    def call(self, tool: str, args: dict[str, Any]) -> CallToolResult:
        async def bounded() -> CallToolResult:
            with anyio.fail_after(60):
                return await self.client.call_tool(tool, args)

        return self.portal.call(bounded)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("fuzz")
    work = root / "work"
    work.mkdir()
    stub = root / "bin" / "codex"
    stub.parent.mkdir()
    stub.write_text(STUB_CODEX)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    settings_ = Settings.build(
        codex_bin=str(stub),
        task_dir=str(root / "state" / "tasks"),
        skip_git_repo_check=True,
        allowed_roots=[str(work)],
        environ={"CODEX_SWARM_WORKTREE_DIR": str(root / "state" / "worktrees")},
    )
    server = build_server(settings_)
    old = Path.cwd()
    os.chdir(work)  # calls without cwd run in the server's cwd
    try:
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(Client(server)) as client,
        ):
            yield Harness(portal, client, root)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("tool", sorted(TOOL_PARAMS))
def test_tool_survives_generated_arguments(harness: Harness, tool: str) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(arguments(tool))
    def check(args: dict[str, Any]) -> None:
        result = harness.call(tool, args)
        assert isinstance(result, CallToolResult)
        if result.is_error:
            assert result.content and getattr(result.content[0], "text", "").strip()
        else:
            assert isinstance(result.structured_content, dict)

    check()
    # Still serving, and nothing written outside its own directories.
    tools = harness.portal.call(harness.client.list_tools)
    assert len(tools.tools) == len(TOOL_PARAMS)
    assert {p.name for p in harness.root.iterdir()} == {"work", "bin", "state"}
    assert not Path("/tmp/pwned").exists()
