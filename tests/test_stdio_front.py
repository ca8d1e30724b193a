"""The stdio front's streams on their own: lines read after the first one the front read ahead,
and answers written whole, on the event loop for pipes and in threads for anything else."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from codex_mcp_swarm.mcp.stdio_front import _DropDuplicate, _Replay

pytestmark = pytest.mark.anyio

LINES = ["first\n", "second é\n", "x" * 200_000 + "\n", "last without newline"]
DATA = "".join(LINES).encode()


async def read_all(replay: _Replay) -> list[str]:
    return [line async for line in replay]


@pytest.mark.parametrize("ahead", [0, 3, 7, 13, len(DATA)])
async def test_lines_from_a_file_after_what_was_read_ahead(tmp_path: Path, ahead: int) -> None:
    (tmp_path / "in").write_bytes(DATA[ahead:])
    fd = os.open(tmp_path / "in", os.O_RDONLY)
    assert await read_all(_Replay(DATA[:ahead], fd)) == LINES


@pytest.mark.parametrize("ahead", [0, 3, 13])
async def test_lines_from_a_pipe_after_what_was_read_ahead(ahead: int) -> None:
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as pipe:
            for start in range(ahead, len(DATA), 4096):  # in pieces, as a client writes
                pipe.write(DATA[start : start + 4096])

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, feed)
        lines = await read_all(_Replay(DATA[:ahead], read_end))
    assert lines == LINES


def answer(ident: int, size: int = 10) -> str:
    return f'{{"jsonrpc":"2.0","id":{ident},"result":{{"x":"{"y" * size}"}}}}\n'


async def test_answers_to_a_file_are_whole_and_the_duplicate_is_dropped(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    out = _DropDuplicate(fd, answered_id=1)
    for text in (answer(1), answer(1), answer(2, 300_000)):
        await out.write(text)
        await out.flush()
    os.close(fd)
    assert (tmp_path / "out").read_text() == answer(1) + answer(2, 300_000)


async def test_answers_to_a_pipe_wait_for_the_reader_and_arrive_whole() -> None:
    read_end, write_end = os.pipe()
    out = _DropDuplicate(write_end, answered_id=None)
    got = bytearray()

    def drain() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            while chunk := pipe.read(65536):
                got.extend(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, drain)
        texts = [answer(i, 200_000) for i in range(5)]  # more than a pipe holds
        for text in texts:
            await out.write(text)
        out._writer.close()
    assert got.decode() == "".join(texts)
