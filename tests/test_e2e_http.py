"""End to end over streamable HTTP: one server for several clients, both eras, bearer auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import HttpServer, data, free_port, launch, server_env
from fake_model import script
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio
TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture
def http_env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir)


@pytest.fixture
def http_server(http_env: dict[str, str], workdir: Path) -> Iterator[HttpServer]:
    server = HttpServer(http_env, workdir, "--max-parallel", "1")
    yield server
    server.stop()


def client(url: str, mode: str = "auto", headers: dict[str, str] | None = None) -> Client:
    http = httpx2.AsyncClient(headers=headers or {}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_both_eras_over_http(http_server: HttpServer, mode: str) -> None:
    async with client(http_server.url, mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "codex_async" in names
        out = data(await c.call_tool("codex", {"prompt": f"over http {mode}"}))
        assert out["content"] == f"ok: over http {mode}"


async def test_clients_share_one_server_and_one_limit(http_server: HttpServer) -> None:
    async with client(http_server.url) as first, client(http_server.url, "legacy") as second:
        blocker = await launch(first, script({"delay": 1.5, "message": "first"}))
        queued = await launch(second, "second client")
        views = data(await second.call_tool("codex_status", {"task_ids": [blocker, queued]}))
        phases = {v["task_id"]: v["status"] for v in views["tasks"]}
        assert phases[queued] == "queued", "one --max-parallel for every client"
        out = data(await first.call_tool("codex_wait", {"task_ids": [blocker, queued]}))
        assert [t["status"] for t in out["tasks"]] == ["completed", "completed"]


def initialize_body() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


def post(url: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(
        url,
        content=json.dumps(initialize_body()),
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
        timeout=30,
    )


async def test_bearer_token_is_required_when_set(
    http_env: dict[str, str], workdir: Path, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = HttpServer(http_env, workdir, "--auth-token-file", str(token_file))
    try:
        assert post(server.url, {}).status_code == 401
        assert (
            post(server.url, {"authorization": "Bearer wrong-token-0000000000"}).status_code == 401
        )
        assert post(server.url, {"authorization": f"Bearer {TOKEN}"}).status_code == 200
        async with client(server.url, headers={"authorization": f"Bearer {TOKEN}"}) as c:
            assert (await c.list_tools()).tools
    finally:
        server.stop()


async def test_dns_rebinding_is_refused(http_server: HttpServer) -> None:
    response = post(http_server.url, {"host": "evil.example:80"})
    assert response.status_code in (403, 421)
    response = post(http_server.url, {"origin": "http://evil.example"})
    assert response.status_code == 403


def test_non_loopback_bind_needs_a_token(http_env: dict[str, str], workdir: Path) -> None:
    env = {**os.environ, **http_env}
    env.pop("CODEX_SWARM_AUTH_TOKEN", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codex_mcp_swarm",
            "--transport",
            "streamable-http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "needs a bearer token" in result.stderr
