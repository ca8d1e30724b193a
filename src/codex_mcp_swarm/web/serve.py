"""``codex-mcp-swarm board``: the web board served alone from the task store (for stdio users).

Owns: serving the board on its own (uvicorn on the given address, 127.0.0.1 by default) and
opening a browser at it with ``--open`` (on a sign-in link when a token is set). ``cli`` checks
the flags and loads the token and Host names (the same rules as the HTTP server's).

Must not: know pages or tasks (``app`` serves them). It starts no scheduler: servers launch the
tasks; the board reads the store and cancels, cleans up and lands through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import webbrowser
from urllib.parse import quote

from ..engine import Engine, off_loop
from ..settings import Settings
from .access import Access
from .app import board_app


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

    async def serve() -> None:
        if open_browser:
            target = url + (f"?token={quote(token)}" if token else "")

            async def opener() -> None:
                while not server.started:
                    await asyncio.sleep(0.05)
                await off_loop(webbrowser.open, target)  # the engine's one helper for blocking work

            asyncio.get_running_loop().create_task(opener())
        await server.serve()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0
