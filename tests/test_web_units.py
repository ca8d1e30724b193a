"""The board's pure parts: diff pairing and colouring, timeline entries, the access rules, and
the board command's browser opener."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from codex_mcp_swarm.web import diffs, timeline
from codex_mcp_swarm.web.access import COOKIE, Access
from codex_mcp_swarm.web.serve import serve_until_stopped

LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]

DATA = Path(__file__).parent / "data"

PATCH = """diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,4 +1,5 @@
 def f():
-    return "<script>alert(1)</script>"
+    s = '''a
+b'''
+    return s
 x = 1
diff --git a/new.txt b/new.txt
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello
diff --git a/img.png b/img.png
index 4444444..5555555 100644
Binary files a/img.png and b/img.png differ
"""


def text_of(tokens: list[list[str]]) -> str:
    return "".join(part for _cls, part in tokens)


def test_side_by_side_pairs_deletions_with_additions_and_keeps_text_as_text() -> None:
    files = diffs.side_by_side(PATCH)
    assert [(f["path"], f["status"]) for f in files] == [
        ("app.py", "modified"),
        ("new.txt", "added"),
        ("img.png", "binary"),
    ]
    app = files[0]
    assert (app["insertions"], app["deletions"]) == (3, 1)
    rows = app["hunks"][0]["rows"]
    assert rows[0]["kind"] == "context" and rows[0]["old"][0] == rows[0]["new"][0] == 1
    first_change = rows[1]
    assert first_change["old"][0] == 2 and first_change["new"][0] == 2
    assert text_of(first_change["old"][1]) == '    return "<script>alert(1)</script>"'
    # Three additions against one deletion: two rows with an empty left side.
    assert [r["old"] is None for r in rows[2:4]] == [True, True]
    assert [text_of(r["new"][1]) for r in rows[1:4]] == ["    s = '''a", "b'''", "    return s"]
    # The string spanning two lines is coloured as a string on both.
    assert any(cls == "s" for cls, _ in rows[2]["new"][1])
    assert rows[4]["kind"] == "context" and rows[4]["old"][0] == 3 and rows[4]["new"][0] == 5
    keyword = [part for cls, part in rows[0]["old"][1] if cls == "k"]
    assert keyword == ["def"]
    assert files[1]["hunks"][0]["rows"][0]["new"][0] == 1
    assert files[2]["hunks"] == []


def test_the_timeline_of_a_recorded_run() -> None:
    lines = (DATA / "basic.jsonl").read_text().splitlines()
    entries = timeline.entries(lines)
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "thread" and "warning" in kinds and kinds[-1] == "turn"
    commands = [e for e in entries if e["kind"] == "command"]
    assert commands[0]["state"] == "started" and commands[0]["exit_code"] is None
    assert commands[1]["state"] == "completed" and commands[1]["exit_code"] == 0
    assert commands[0]["id"] == commands[1]["id"]  # the page replaces one with the other
    assert commands[1]["title"] == "echo hi"  # the bash -lc wrapper is taken off
    assert any(e["kind"] == "file_change" and "hello.txt" in e["title"] for e in entries)
    assert [e["body"] for e in entries if e["kind"] == "message"] == [
        "Said hi and added hello.txt."
    ]
    assert timeline.entry_of("not json") == {"kind": "other", "title": "unreadable line"}
    reconnect = (
        '{"type":"error","message":"Reconnecting... waiting for network (Connection failed)"}'
    )
    assert timeline.entry_of(reconnect) == {
        "kind": "warning",
        "title": "reconnecting to the model",
        "body": "Connection failed",
    }
    assert timeline.entry_of("") is None


def test_access_rules() -> None:
    open_board = Access(token=None, hosts=LOOPBACK)
    assert open_board.host_ok({"host": "127.0.0.1:8766"})
    assert open_board.host_ok({"host": "localhost"})
    assert not open_board.host_ok({"host": "evil.example:8766"})
    assert not open_board.host_ok({})
    assert open_board.signed_in({})
    own = {"host": "127.0.0.1:8766", "origin": "http://127.0.0.1:8766"}
    good = {**own, "x-csrf-token": open_board.csrf}
    assert open_board.change_refusal("POST", good, "http") is None
    assert "POST" in (open_board.change_refusal("GET", good, "http") or "")
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", ""):
        assert "cross-site" in (
            open_board.change_refusal("POST", {**good, "origin": origin}, "http") or ""
        )
    assert "CSRF" in (open_board.change_refusal("POST", own, "http") or "")

    token = "t" * 32
    locked = Access(token=token, hosts=[*LOOPBACK, "board.example"])
    assert locked.host_ok({"host": "board.example"})
    assert not locked.signed_in({})
    assert locked.signed_in({"authorization": f"Bearer {token}"})
    assert not locked.signed_in({"authorization": "Bearer " + "x" * 32})
    cookie = locked.login_cookie(secure=False)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
    value = cookie.split(";")[0]
    assert locked.signed_in({"cookie": f"other=1; {value}"})
    assert not locked.signed_in({"cookie": f"{COOKIE}=forged"})
    assert not locked.signed_in({"cookie": "garbage;;=\x00"})


class FakeServer:
    """Stands in for uvicorn's Server: starts (or never does), then stops when told to."""

    def __init__(self, starts: bool) -> None:
        self.starts = starts
        self.started = False
        self.stop = anyio.Event()

    async def serve(self) -> None:
        if self.starts:
            self.started = True
            await self.stop.wait()


@pytest.mark.anyio
async def test_the_board_opener_is_done_when_the_server_stops() -> None:
    """The browser opens once the server has started, and the opener task ends with the
    server's call; a server that never started (a taken port) leaves no opener waiting."""
    before: set[asyncio.Task[Any]] = asyncio.all_tasks()
    opened: list[str] = []
    server = FakeServer(starts=True)
    token = anyio.lowlevel.current_token()

    def open_url() -> None:
        opened.append("url")
        anyio.from_thread.run_sync(server.stop.set, token=token)

    with anyio.fail_after(30):
        await serve_until_stopped(server, open_url)
    assert opened == ["url"]
    assert asyncio.all_tasks() == before

    with anyio.fail_after(30):
        await serve_until_stopped(FakeServer(starts=False), open_url)
    assert opened == ["url"]
    assert asyncio.all_tasks() == before
