"""Serving MCP over stdio with a fast first answer.

Importing the MCP SDK takes most of a second on a small machine, and clients give a server little
time to start (Codex about one second for an optional server). So the stdio server answers the
opening request (``initialize`` or ``server/discover``) itself, from ``handshake``, while a thread
imports the SDK; then it hands the stream to the SDK, feeding it the same opening request and
dropping the SDK's own (identical) answer to it. When the first message is anything else, or the
front is not sure of its answer, the SDK answers everything as usual.

The wire is read and written on the event loop itself when it is a pipe or a socket (as every
MCP client connects it): a request then reaches its handler, and the answer the client, without
two thread hand-offs each way (the SDK's own stdio streams read and write in worker threads).
Anything else (a terminal, a file) is read and written in threads, as the SDK does.

Owns: fd 0 and fd 1 while serving (like the SDK's ``stdio_server``: fd 0 reads the null device
and fd 1 goes to stderr, so children and stray prints never touch the wire), the one-line hello
on a terminal, and the hand-over. ``CODEX_SWARM_SLOW_START=1`` turns the front off (tests compare
both ways).

Must not: import the SDK before the first answer is written, or change any message but the
duplicate answer.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

from . import handshake

if TYPE_CHECKING:
    import anyio
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


LINE_LIMIT = 1 << 30  # bytes one message may have on the wire (the SDK itself sets none)


def _is_pipe_or_socket(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _Replay:
    """The client's stream for the SDK: the bytes the front already read, then the rest.

    ``rest`` is the wire's file descriptor, read on the event loop when it is a pipe or socket
    and in a thread otherwise."""

    def __init__(self, first: bytes, rest: int) -> None:
        self._first = first
        self._fd = rest

    def __aiter__(self) -> AsyncIterator[str]:
        if _is_pipe_or_socket(self._fd):
            return self._loop_lines()
        return self._thread_lines()

    async def _loop_lines(self) -> AsyncIterator[str]:
        import asyncio

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        reader.feed_data(self._first)
        pipe = os.fdopen(self._fd, "rb", buffering=0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        while line := await reader.readline():
            yield line.decode("utf-8", errors="replace")

    async def _thread_lines(self) -> AsyncIterator[str]:
        import anyio

        *lines, partial = self._first.split(b"\n")
        for line in lines:
            yield (line + b"\n").decode("utf-8", errors="replace")
        rest = anyio.wrap_file(os.fdopen(self._fd, "rb", buffering=65536))
        async for line in rest:
            yield (partial + line).decode("utf-8", errors="replace")
            partial = b""
        if partial:
            yield partial.decode("utf-8", errors="replace")


class _DropDuplicate:
    """The SDK's output stream, minus its answer to the request the front answered.

    ``out`` is the wire's file descriptor, written on the event loop (with back-pressure) when
    it is a pipe or socket and in a thread otherwise."""

    def __init__(self, out: int, answered_id: Any) -> None:
        self._fd = out
        self._on_loop = _is_pipe_or_socket(out)
        self._writer: Any = None
        self._pending = answered_id is not None
        self._id = answered_id

    async def _loop_writer(self) -> Any:
        import asyncio

        if self._writer is None:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop), os.fdopen(self._fd, "wb", 0)
            )
            # drain() then returns only once the pipe took every byte, as a blocking write
            # would: nothing waits in a buffer that could be lost when the server stops.
            transport.set_write_buffer_limits(high=0)
            self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return self._writer

    async def write(self, text: str) -> None:
        from ..engine import off_loop

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
        data = text.encode("utf-8")
        if self._on_loop:
            writer = await self._loop_writer()
            writer.write(data)
            await writer.drain()  # waits only while the pipe is full (the client not reading)
        else:
            await off_loop(_write_all, self._fd, data)  # a file: the one helper for blocking work

    async def flush(self) -> None:
        """Nothing to do: every write already went to the wire (there is no buffer)."""


def _claim_stdio() -> tuple[int, int]:
    """Private duplicates of fd 0 and 1 for the wire; fd 0 then reads /dev/null, fd 1 is stderr."""
    wire_in = os.dup(0)
    wire_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    for fd in (wire_in, wire_out):
        os.set_inheritable(fd, False)
    return wire_in, wire_out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _first_line(fd: int) -> tuple[bytes, bytes]:
    """The first line on ``fd`` (with its newline, if any) and the bytes read after it."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    line, newline, rest = data.partition(b"\n")
    return line + newline, rest


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
    first, read_ahead = _first_line(wire_in)
    answered = None
    try:
        reply = handshake.answer(json.loads(first)) if first.strip() else None
    except ValueError:
        reply = None
    if reply is not None:
        _write_all(wire_out, (json.dumps(reply, separators=(",", ":")) + "\n").encode("utf-8"))
        answered = reply["id"]
    loader.join()
    server = build()

    async def run() -> None:
        from mcp.server.stdio import stdio_server

        lowlevel = server._lowlevel_server
        streams = stdio_server(
            stdin=cast(Any, _Replay(first + read_ahead, wire_in)),
            stdout=cast(Any, _DropDuplicate(wire_out, answered)),
        )
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, group.cancel_scope)
            async with streams as (read_stream, write_stream):
                await lowlevel.run(
                    read_stream, write_stream, lowlevel.create_initialization_options()
                )
            group.cancel_scope.cancel()  # the client closed the stream: done

    import anyio

    anyio.run(run)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    """Ctrl-C or SIGTERM stops the server as a closed stream does: the engine stops in order
    (landings at a landed boundary, ``cancel_on_exit`` honoured), with no backtrace."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return
