"""One command to start: scripts/start in a clean environment, and what a terminal is told.

``scripts/start`` installs uv (as scripts/test does) and the runtime dependencies; the program
installs the pinned Codex CLI once per user (``codex.install``). Here uv is already in ``.cache``
and the per-user Codex cache of the test's own HOME holds the suite's pinned Codex, so the test
runs the install-free path with a bare PATH, the way a client starts it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
from conftest import CODEX_VERSION, REPO, codex_bin

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}


def test_scripts_start_serves_in_a_clean_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    pinned = Path(codex_bin()).parents[2]  # the npm prefix scripts/test installed Codex into
    per_user = home / ".cache" / "codex-mcp-swarm" / "codex" / CODEX_VERSION
    per_user.parent.mkdir(parents=True)
    per_user.symlink_to(pinned)
    env = {
        "PATH": "/usr/bin:/bin",  # no uv, no codex: uv from .cache, Codex from the per-user cache
        "HOME": str(home),
        "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks"),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),
    }
    if os.environ.get("CODEX_SWARM_TEST_CODEX"):
        env["CODEX_SWARM_CODEX_BIN"] = codex_bin()
    proc = subprocess.Popen(
        [str(REPO / "scripts" / "start"), "--skip-git-repo-check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline() or b"{}")
        assert answer.get("result", {}).get("serverInfo", {}).get("name") == "codex-swarm", (
            proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else answer
        )
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        proc.stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"resources/read","params":')
        proc.stdin.write(b'{"uri":"codex-swarm:///server-info"}}\n')
        proc.stdin.flush()
        info = json.loads(json.loads(proc.stdout.readline())["result"]["contents"][0]["text"])
        # With no codex on PATH, the server runs the per-user copy of the pinned one.
        if not os.environ.get("CODEX_SWARM_TEST_CODEX"):
            assert info["codex_bin"] == str(per_user / "node_modules" / ".bin" / "codex")
        assert info["codex_version"]
    finally:
        proc.stdin.close()
        proc.wait(60)
    assert proc.returncode == 0


def test_a_terminal_is_told_what_the_stdio_server_is(tmp_path: Path) -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "codex_mcp_swarm"],
        env={**os.environ, "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks")},
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=60,
    )
    child.expect("waiting for an MCP client")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
