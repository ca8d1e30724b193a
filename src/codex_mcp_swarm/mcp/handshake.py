"""What the server says about itself before any tool runs, without importing the MCP SDK.

Owns: the server's name and instructions, and the answers to the two opening requests
(``initialize`` for 2024-11-05..2025-11-25 clients, ``server/discover`` for 2026-07-28 clients)
exactly as the SDK would give them, so ``stdio_front`` can answer a client while the SDK loads.
``tests/test_fast_start.py`` compares every answer here with the SDK's own, so they cannot drift.

Must not: import the MCP SDK, pydantic or anything slow; answer anything it is not sure of (it
returns None and the SDK answers instead).
"""

from __future__ import annotations

from typing import Any

from .. import __version__

SERVER_NAME = "codex-swarm"

INSTRUCTIONS = """\
Runs OpenAI Codex CLI agents as parallel background tasks: codex_async starts one (worktree:
true gives it its own git branch), codex_wait collects results, codex_land merges the branches;
codex runs one and waits. Results carry content (the agent's final message) and threadId (for
codex_reply). A long answer is cut; the cut names the codex-swarm:/// resource with the rest."""

# The handshake-era revisions the SDK (2.3) negotiates as themselves.
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSION = "2026-07-28"
_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"


def initialize_result(params: Any) -> dict[str, Any] | None:
    """The SDK's ``initialize`` result for these params, or None when unsure."""
    if not isinstance(params, dict):
        return None
    version = params.get("protocolVersion")
    if version not in HANDSHAKE_VERSIONS or not isinstance(params.get("capabilities"), dict):
        return None
    info = params.get("clientInfo")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        return None
    return {
        "capabilities": {
            "prompts": {"listChanged": False},
            "resources": {"listChanged": False, "subscribe": True},
            "tools": {"listChanged": False},
            "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
        },
        "instructions": INSTRUCTIONS,
        "protocolVersion": version,
        "serverInfo": {"name": SERVER_NAME, "version": __version__},
    }


def discover_result(params: Any) -> dict[str, Any] | None:
    """The SDK's ``server/discover`` result for these params, or None when unsure."""
    if not isinstance(params, dict) or set(params) != {"_meta"}:
        return None
    meta = params["_meta"]
    if not isinstance(meta, dict) or meta.get(_VERSION_KEY) != MODERN_VERSION:
        return None
    return {
        "cacheScope": "private",
        "capabilities": {
            "extensions": {"io.modelcontextprotocol/tasks": {}},
            "prompts": {"listChanged": True},
            "resources": {"listChanged": True, "subscribe": True},
            "tools": {"listChanged": True},
        },
        "instructions": INSTRUCTIONS,
        "resultType": "complete",
        "supportedVersions": [MODERN_VERSION],
        "ttlMs": 0,
        "_meta": {
            "io.modelcontextprotocol/serverInfo": {"name": SERVER_NAME, "version": __version__}
        },
    }


def answer(message: Any) -> dict[str, Any] | None:
    """The whole JSON-RPC response to an opening request, or None to let the SDK answer."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    ident = message.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (int, str)):
        return None
    method = message.get("method")
    if method == "initialize":
        result = initialize_result(message.get("params"))
    elif method == "server/discover":
        result = discover_result(message.get("params"))
    else:
        return None
    if result is None:
        return None
    return {"jsonrpc": "2.0", "id": ident, "result": result}
