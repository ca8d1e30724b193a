"""Streamable HTTP: one server (one engine, one concurrency limit) for several clients.

Owns: the HTTP app around the MCP server (``/mcp``), who may talk to it (a bearer token, which
is required for any bind address but loopback, compared in constant time; requests without it
get 401) and the DNS-rebinding guard (Host and Origin checks, on for every bind). It mounts the
web board (``web``) under ``/`` beside ``/mcp``, over the same engine, token and Host names.

Must not: know tools or tasks. It wraps the MCP server that ``server.build_server`` made.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..engine.tasks import Engine
from ..web.access import (
    ENV_AUTH_TOKEN,
    Access,
    HttpConfigError,
    allowed_names,
    is_loopback,
    load_token,
)
from ..web.app import board_app

__all__ = ["ENV_AUTH_TOKEN", "HttpConfigError", "http_app", "is_loopback", "load_token"]


class BearerAuth:
    """ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps(
                    {"error": "unauthorized", "message": "a valid bearer token is required"}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="codex-swarm"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def security_for(host: str, extra_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """Host and Origin allow-lists: loopback names, the bound host, and any named extra."""
    names = allowed_names(host, extra_hosts)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in names] + names,
        allowed_origins=[f"{scheme}://{n}:*" for n in names for scheme in ("http", "https")]
        + [f"{scheme}://{n}" for n in names for scheme in ("http", "https")],
    )


def http_app(
    mcp: MCPServer,
    host: str,
    token: str | None,
    extra_hosts: Sequence[str] = (),
    board: Engine | None = None,
) -> ASGIApp:
    """``/mcp``, and with ``board`` (the server's engine) the web board under ``/``."""
    if token is None and not is_loopback(host):
        raise HttpConfigError(
            f"binding to {host} (not loopback) needs a bearer token: pass --auth-token-file "
            f"FILE or set {ENV_AUTH_TOKEN}"
        )
    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path="/mcp", transport_security=security_for(host, extra_hosts), host=host
    )
    guarded = BearerAuth(app, token) if token else app
    if board is None:
        return guarded
    mcp_app = app

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with mcp_app.router.lifespan_context(mcp_app):  # type: ignore[attr-defined]
            yield

    web = board_app(board, Access(token=token, hosts=allowed_names(host, extra_hosts)))
    return Starlette(
        routes=[Route("/mcp", endpoint=guarded), Mount("/", app=web)], lifespan=lifespan
    )


def serve_http(
    mcp: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    extra_hosts: Sequence[str] = (),
    log_level: str = "warning",
    board: Engine | None = None,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = http_app(mcp, host, token, extra_hosts, board)
    # Open event streams (the board's, and /mcp's) must not hold a stop up for long.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=3
    )
    anyio.run(uvicorn.Server(config).serve)
