"""``codex-mcp-swarm board``: the web board served alone from the task store (for stdio users).

Owns: serving the board on its own (uvicorn on the given address, 127.0.0.1 by default) and
opening a browser at it with ``--open`` (on a sign-in link when a token is set). ``cli`` checks
the flags and loads the token and Host names (the same rules as the HTTP server's). The opener
is a task of :func:`serve_until_stopped`'s own task group: it ends (cancelled if the browser was
not opened yet) before the server's call returns.

Must not: know pages or tasks (``app`` serves them). It starts no scheduler: servers launch the
tasks; the board reads the store and cancels, cleans up and lands through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import webbrowser
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote

import anyio

from ..engine import Engine, off_loop
from ..settings import Settings
from .access import Access
from .app import board_app

START_POLL = 0.05  # seconds between looks at whether the server has started listening


class Serving(Protocol):
    """What :func:`serve_until_stopped` needs of a server (uvicorn's ``Server``)."""

    started: bool

    async def serve(self) -> None: ...


async def serve_until_stopped(server: Serving, open_url: Callable[[], object] | None) -> None:
    """Run ``server`` until it stops; with ``open_url``, call it (in a worker thread) once the
    server has started. The opener belongs to this call: when the server stops, however it
    stops, the opener is cancelled (or its browser call awaited) before this returns."""

    async def opener(open_url: Callable[[], object]) -> None:
        while not server.started:  # uvicorn says so by this flag alone
            await anyio.sleep(START_POLL)
        try:
            await off_loop(open_url)  # the engine's one helper for blocking work
        except Exception as exc:  # the board serves on without a browser
            sys.stderr.write(f"codex-mcp-swarm: could not open a browser: {exc}\n")

    async with anyio.create_task_group() as group:
        if open_url is not None:
            group.start_soon(opener, open_url)
        try:
            await server.serve()
        finally:
            group.cancel_scope.cancel()


def serve_board(
    settings: Settings,
    *,
    host: str,
    port: int,
    token: str | None,
    hosts: list[str],
    open_browser: bool,
) -> int:
    import dataclasses

    import uvicorn

    engine = Engine(dataclasses.replace(settings, cancel_on_exit=False))
    app = board_app(engine, Access(token=token, hosts=hosts))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    sys.stderr.write(
        f"codex-mcp-swarm: board at {url} (tasks in {settings.task_dir}); Ctrl-C stops\n"
    )
    if token is not None:
        sys.stderr.write(f"codex-mcp-swarm: sign in once with the token, or open {url}?token=...\n")
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)

    target = url + (f"?token={quote(token)}" if token else "")
    open_url = (lambda: webbrowser.open(target)) if open_browser else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_stopped(server, open_url))
    return 0
