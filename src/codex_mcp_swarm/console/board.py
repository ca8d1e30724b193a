"""``codex-mcp-swarm board``: serve the web board from the task store alone (for stdio users).

Owns: the command's choices: the address (127.0.0.1 by default; any other needs the token), the
port, the token (the same ``--auth-token-file`` / ``CODEX_SWARM_AUTH_TOKEN`` as the HTTP server)
and opening a browser with ``--open`` (on a sign-in link when a token is set).

Must not: know pages or tasks (``web`` serves them). It starts no scheduler: tasks are launched
by servers; the board reads the store and cancels, cleans up and lands through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from collections.abc import Sequence
from urllib.parse import quote

from ..engine.store import StoreError
from ..settings import Settings
from ..web.access import Access, HttpConfigError, allowed_names, is_loopback, load_token
from ..web.app import board_app
from .common import console_engine, error, make_console, open_store

DEFAULT_PORT = 8766


def board_command(
    settings: Settings,
    *,
    host: str,
    port: int,
    open_browser: bool,
    token_file: str | None,
    extra_hosts: Sequence[str],
) -> int:
    import uvicorn

    try:
        token = load_token(token_file)
        if token is None and not is_loopback(host):
            raise HttpConfigError(
                f"binding to {host} (not loopback) needs a token: pass --auth-token-file FILE "
                "or set CODEX_SWARM_AUTH_TOKEN"
            )
        if not 0 < port < 65536:
            raise HttpConfigError("--port must be between 1 and 65535")
    except HttpConfigError as exc:
        error(str(exc))
        return 2
    try:
        store = open_store(settings)
    except StoreError as exc:
        error(str(exc))
        return 1
    engine = console_engine(settings, store)
    app = board_app(engine, Access(token=token, hosts=allowed_names(host, extra_hosts)))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    console = make_console(stderr=True)
    console.print(f"board: {url} (tasks in {settings.task_dir}); Ctrl-C stops it")
    if token is not None:
        console.print("sign in once with the token, or open the board as " + url + "?token=…")
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
                await asyncio.to_thread(webbrowser.open, target)

            asyncio.get_running_loop().create_task(opener())
        await server.serve()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0
