"""Streamable HTTP: one server (one engine, one concurrency limit) for several clients.

Owns: the HTTP app around the MCP server (``/mcp``), who may talk to it (a bearer token, which
is required for any bind address but loopback, compared in constant time; requests without it
get 401) and the DNS-rebinding guard (Host and Origin checks, on for every bind). Beside
``/mcp`` it mounts, under ``/``, the app a ``board`` factory makes from the allowed Host names
(the web board; ``cli`` passes it in, so this face imports no other).

Must not: know tools or tasks. It wraps the MCP server that ``server.build_server`` made.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

ENV_AUTH_TOKEN = "CODEX_SWARM_AUTH_TOKEN"


class HttpConfigError(ValueError):
    """The HTTP flags cannot make a safe server; the text says what to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_token(token_file: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The bearer token from ``--auth-token-file`` (first line) or ``CODEX_SWARM_AUTH_TOKEN``."""
    env = os.environ if environ is None else environ
    if token_file:
        try:
            token = Path(token_file).expanduser().read_text().strip().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise HttpConfigError(
                f"--auth-token-file {token_file!r} cannot be read: {exc}"
            ) from exc
    else:
        token = (env.get(ENV_AUTH_TOKEN) or "").strip()
    if token and len(token) < 16:
        raise HttpConfigError("the auth token must be at least 16 characters")
    return token or None


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


def allowed_names(host: str, extra_hosts: Sequence[str] = ()) -> list[str]:
    """Host names a request may carry: loopback names, the bound host, and any named extra."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    if host not in ("0.0.0.0", "::", "") and host not in names:
        names.append(f"[{host}]" if ":" in host else host)
    return names + [n for n in extra_hosts if n not in names]


#: Makes the app served under ``/`` beside ``/mcp`` (the web board) from the allowed Host names.
BoardFactory = Callable[[list[str]], ASGIApp]


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
    board: BoardFactory | None = None,
) -> ASGIApp:
    """``/mcp``, and with ``board`` the app it makes under ``/`` (which applies the same token
    and Host names itself)."""
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

    return Starlette(
        routes=[
            Route("/mcp", endpoint=guarded),
            Mount("/", app=board(allowed_names(host, extra_hosts))),
        ],
        lifespan=lifespan,
    )


def serve_http(
    mcp: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    extra_hosts: Sequence[str] = (),
    log_level: str = "warning",
    board: BoardFactory | None = None,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = http_app(mcp, host, token, extra_hosts, board)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"codex-mcp-swarm: serving MCP at http://{shown}:{port}/mcp"
        + (f" and the board at http://{shown}:{port}/" if board is not None else "")
        + (" (clients send the bearer token)" if token else "")
        + "; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    # Open event streams (the board's, /mcp's) must not hold a stop up for long.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=3
    )
    # uvicorn stops in order on Ctrl-C or SIGTERM (the engine's stop included), then raises the
    # signal again: Ctrl-C's KeyboardInterrupt ends here, not in a backtrace.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(uvicorn.Server(config).serve)
