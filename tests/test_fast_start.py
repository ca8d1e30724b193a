"""The stdio front answers the opening request before the SDK loads, exactly as the SDK would.

Every answer of ``mcp/handshake.py`` is compared with the SDK's own answer to the same request
(the server started with ``CODEX_SWARM_SLOW_START=1``), so the two cannot drift; and the SDK's
duplicate answer never reaches the client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def initialize(version: str, ident: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": ident,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }


def exchange(tmp_path: Path, messages: list[dict[str, Any]], *, slow: bool) -> list[dict[str, Any]]:
    """Send the messages one by one; collect one answer per request (by id), in order."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks")}
    env.pop("CODEX_SWARM_SLOW_START", None)
    if slow:
        env["CODEX_SWARM_SLOW_START"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers = []
    try:
        for message in messages:
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()
            if "id" in message:
                answers.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        # Nothing more once the client is gone: in particular no second answer to the handshake.
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    return answers


OPENINGS = [
    pytest.param([initialize(v)], id=f"initialize-{v}")
    for v in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
] + [
    pytest.param([initialize("1999-01-01", "x")], id="initialize-unknown-version"),
    pytest.param(
        [
            {
                "jsonrpc": "2.0",
                "id": "d",
                "method": "server/discover",
                "params": {"_meta": MODERN_META},
            }
        ],
        id="discover",
    ),
    pytest.param(
        [{"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {}}],
        id="discover-without-meta",
    ),
]


@pytest.mark.parametrize("opening", OPENINGS)
def test_first_answer_is_the_sdks(tmp_path: Path, opening: list[dict[str, Any]]) -> None:
    follow = [
        {"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {"_meta": MODERN_META}}
    ]
    if opening[0]["method"] == "initialize":
        follow = [
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 99, "method": "tools/list"},
        ]
    fast = exchange(tmp_path / "fast", [*opening, *follow], slow=False)
    slow = exchange(tmp_path / "slow", [*opening, *follow], slow=True)
    assert fast == slow
    assert fast[-1]["id"] == 99
    if "result" in fast[0]:  # a connection that opened well serves the next request
        assert "codex_async" in json.dumps(fast[-1])


def test_a_first_request_that_is_no_handshake_goes_to_the_sdk(tmp_path: Path) -> None:
    listing = {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": MODERN_META}}
    fast = exchange(tmp_path / "fast", [listing], slow=False)
    slow = exchange(tmp_path / "slow", [listing], slow=True)
    assert fast == slow
    assert "codex_async" in json.dumps(fast[0]["result"])


def test_garbage_first_line_gets_the_sdks_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check"],
        input=b"not json\n" + json.dumps(initialize("2025-11-25")).encode() + b"\n",
        capture_output=True,
        env={**os.environ, "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks")},
        timeout=60,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [m.get("id") for m in lines if "id" in m][-1] == 1
    assert lines[-1]["result"]["serverInfo"]["name"] == "codex-swarm"


def test_requests_sent_at_once_are_each_answered_once(tmp_path: Path) -> None:
    """Several requests in one write (the front reads ahead of the first line), one of them
    longer than a pipe's buffer and not ASCII: each is answered once, in order."""
    big = {"_meta": {"note": "é" * 100_000}}
    messages = [
        initialize("2025-11-25"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping", "params": big},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks")},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
        proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.stdin.close()  # the client goes: nothing more, no second answer to the handshake
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[1]["result"] == {}
    assert "codex_async" in json.dumps(answers[2]["result"])
