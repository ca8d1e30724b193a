"""Serving MCP over stdio with a fast first answer.

Importing the MCP SDK takes most of a second on a small machine, and clients give a server little
time to start (Codex about one second for an optional server). So the stdio server answers the
opening request (``initialize`` or ``server/discover``) itself, from ``handshake``, while a thread
imports the SDK; then it hands the stream to the SDK, feeding it the same opening request and
dropping the SDK's own (identical) answer to it. When the first message is anything else, or the
front is not sure of its answer, the SDK answers everything as usual.

Owns: fd 0 and fd 1 while serving (like the SDK's ``stdio_server``: fd 0 reads the null device
and fd 1 goes to stderr, so children and stray prints never touch the wire), the one-line hello
on a terminal, and the hand-over. ``CODEX_SWARM_SLOW_START=1`` turns the front off (tests compare
both ways).

Must not: import the SDK before the first answer is written, or change any message but the
duplicate answer.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from . import handshake

if TYPE_CHECKING:
    from mcp.server import MCPServer

HELLO = (
    "codex-mcp-swarm: an MCP server for running Codex agents, waiting for an MCP client on "
    "stdin/stdout. Add it to a client (`codex-mcp-swarm setup claude` or `setup codex`), or try "
    "`codex-mcp-swarm doctor` and "
    "`codex-mcp-swarm --help`; Ctrl-C quits."
)
ENV_SLOW_START = "CODEX_SWARM_SLOW_START"


def _import_sdk() -> None:
    from . import server  # noqa: F401  (the expensive part: the SDK and pydantic models)


class _Replay:
    """The client's stream for the SDK: the line the front already read, then the rest."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = first.decode("utf-8", errors="replace")
        self._rest = rest

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        import anyio

        if self._first:
            yield self._first
        text = anyio.wrap_file(io.TextIOWrapper(self._rest, encoding="utf-8", errors="replace"))
        async for line in text:
            yield line


class _DropDuplicate:
    """The SDK's output stream, minus its answer to the request the front answered."""

    def __init__(self, out: BinaryIO, answered_id: Any) -> None:
        self._out = out
        self._pending = answered_id is not None
        self._id = answered_id

    async def write(self, text: str) -> None:
        import anyio

        if self._pending:
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if (
                isinstance(message, dict)
                and message.get("id") == self._id
                and ("result" in message or "error" in message)
            ):
                self._pending = False
                return
        await anyio.to_thread.run_sync(self._out.write, text.encode("utf-8"))

    async def flush(self) -> None:
        import anyio

        await anyio.to_thread.run_sync(self._out.flush)


def _claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Private duplicates of fd 0 and 1 for the wire; fd 0 then reads /dev/null, fd 1 is stderr."""
    wire_in = os.dup(0)
    wire_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    for fd in (wire_in, wire_out):
        os.set_inheritable(fd, False)
    return (
        os.fdopen(wire_in, "rb", buffering=65536),
        os.fdopen(wire_out, "wb", buffering=0),
    )


def serve_stdio(build: Callable[[], MCPServer]) -> None:
    """Serve MCP over stdio; ``build`` makes the server once the SDK is imported."""
    if sys.stdin is not None and sys.stdin.isatty():
        print(HELLO, file=sys.stderr, flush=True)
    if os.environ.get(ENV_SLOW_START) == "1":
        build().run()
        return
    loader = threading.Thread(target=_import_sdk, name="sdk-import", daemon=True)
    loader.start()
    wire_in, wire_out = _claim_stdio()
    first = wire_in.readline()
    answered = None
    try:
        reply = handshake.answer(json.loads(first)) if first.strip() else None
    except ValueError:
        reply = None
    if reply is not None:
        wire_out.write((json.dumps(reply, separators=(",", ":")) + "\n").encode("utf-8"))
        answered = reply["id"]
    loader.join()
    server = build()

    async def run() -> None:
        from mcp.server.stdio import stdio_server

        lowlevel = server._lowlevel_server
        streams = stdio_server(
            stdin=cast(Any, _Replay(first, wire_in)),
            stdout=cast(Any, _DropDuplicate(wire_out, answered)),
        )
        async with streams as (read_stream, write_stream):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    import anyio

    anyio.run(run)
