"""The web board in a real browser: Playwright drives Debian's headless Chromium against the
HTTP server (``/`` beside ``/mcp``) and the ``board`` command, while the real Codex CLI runs
fake-model tasks. No network beyond loopback; the browser is never downloaded (``/usr/bin/chromium``
is a system package that ``scripts/test`` installs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import (
    HttpServer,
    free_port,
    git,
    processes_matching,
    server_env,
    wait_until,
)
from fake_model import script
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

# One server and one Chromium for the module: under pytest-xdist it runs in one worker.
pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("board")]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "board-token-for-tests-0123456789"
SHOTS = os.environ.get("BOARD_SCREENSHOT_DIR")  # set to save the docs' board screenshots


def write(path: str, content: str) -> dict[str, Any]:
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


@pytest.fixture
def env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir)


@pytest.fixture(scope="module")
def server(
    codex: str, codex_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpServer]:
    """One HTTP server for the tests that only look at their own tasks (each starts in ~5 s)."""
    state = tmp_path_factory.mktemp("board")
    (state / "work").mkdir()
    env = server_env(codex, codex_home, state / "state" / "tasks")
    started = HttpServer(env, state / "work", "--max-parallel", "4")
    started.env = env  # type: ignore[attr-defined]
    yield started
    started.stop()


@pytest.fixture
def own_server(env: dict[str, str], workdir: Path) -> Iterator[HttpServer]:
    """A server with a store of the test's own (for a test that counts every task)."""
    started = HttpServer(env, workdir, "--max-parallel", "4")
    yield started
    started.stop()


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, started once (Playwright gives it a fresh temporary
    profile directory of its own)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium", False)
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser(chromium: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (no cookies, no storage) per test."""
    context = await chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context
    finally:
        await context.close()


@asynccontextmanager
async def mcp(server: HttpServer, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with Client(streamable_http_client(server.url, http_client=http)) as client:
        yield client


async def start(client: Client, prompt: str, **args: Any) -> str:
    result = await client.call_tool("codex_async", {"prompt": prompt, **args})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return str(result.structured_content["task_id"])


async def finish(client: Client, *task_ids: str) -> None:
    result = await client.call_tool("codex_wait", {"task_ids": list(task_ids), "timeout": 60})
    assert result.structured_content is not None
    assert not result.structured_content.get("still_running"), result.structured_content


def base(server: HttpServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


async def test_swarm_table_fills_and_updates_live(
    own_server: HttpServer, browser: BrowserContext
) -> None:
    server = own_server
    page = await browser.new_page()
    await page.goto(base(server) + "/")
    await expect(page.locator("#live")).to_have_text("live")
    async with mcp(server) as client:
        slow = await start(
            client, script({"shell": "sleep 2"}, {"message": "slept"}, text="Sleep a little")
        )
        quick = await start(client, "Say hello")
        row = page.locator(f"tr[data-task='{slow}']")
        await expect(row).to_have_attribute("data-status", "running", timeout=20_000)
        await expect(row.locator("td.action")).to_contain_text("sleep 2", timeout=20_000)
        await expect(page.locator(f"tr[data-task='{quick}']")).to_have_attribute(
            "data-status", "completed", timeout=30_000
        )
        await expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
        await expect(row.locator("td.action")).to_have_text("done: slept")
        await expect(page.locator("#summary")).to_contain_text("2 tasks: 2 completed")
        await page.select_option("#filter-status", "failed")
        await expect(page.locator("tbody#tasks tr")).to_have_count(0)
        await page.select_option("#filter-status", "completed")
        await expect(page.locator("tbody#tasks tr")).to_have_count(2)


async def test_task_page_streams_events_then_shows_the_diff_and_conflicts(
    server: HttpServer, browser: BrowserContext, repo: Path
) -> None:
    page = await browser.new_page()
    async with mcp(server) as client:
        other = await start(
            client,
            script(write("shared.txt", "edited by the other task"), text="Edit shared.txt too"),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )
        task = await start(
            client,
            script(
                {
                    "reasoning": "First look around, then write the module.",
                    "shell": "echo looking && sleep 1.5",
                },
                write("pkg/answer.py", "def answer(): return 42"),
                write("shared.txt", "edited by the task"),
                {"shell": "exit 3"},
                {"message": "Wrote pkg/answer.py."},
                text="Write the answer module",
            ),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )
        await page.goto(f"{base(server)}/task/{task}")
        await expect(page.locator("#title")).to_have_text("Write the answer module")
        await expect(page.locator("#prompt")).to_contain_text("SCRIPT:")
        commands = page.locator("li.entry-command")
        # Seen while it runs: the first command streams in before the task ends.
        await expect(commands.first).to_contain_text("echo looking && sleep 1.5", timeout=20_000)
        await expect(page.locator("#status")).to_have_text("running")
        await expect(page.locator("#status")).to_have_text("completed", timeout=30_000)
        await expect(commands.first.locator(".exit")).to_have_text("exit 0")
        await expect(commands.last.locator(".exit")).to_have_text("exit 3")
        await expect(page.locator("li.entry-reasoning")).to_contain_text("First look around")
        await expect(page.locator("li.entry-message")).to_contain_text("Wrote pkg/answer.py.")
        await expect(page.locator("#result")).to_have_text("Wrote pkg/answer.py.")
        await finish(client, other)
        files = page.locator("section.file")
        await expect(files).to_have_count(2, timeout=20_000)
        module = files.filter(has_text="pkg/answer.py")
        await expect(module.locator("td.code.add")).to_contain_text("def answer(): return 42")
        await expect(module.locator("td.code.add .t-k").first).to_have_text("def")
        await expect(files.filter(has_text="shared.txt").locator("td.code.del").first).to_have_text(
            "line one"
        )
        await page.reload()  # the other task's end came after this page's diff was loaded
        await expect(page.locator("#conflicts")).to_contain_text(f"codex-swarm/{other}")
        await expect(page.locator("#conflicts")).to_contain_text("shared.txt")
        await shot(page, "board-task.png")


async def test_cancel_from_the_task_page_stops_the_task_and_its_processes(
    server: HttpServer, browser: BrowserContext
) -> None:
    marker = str(uuid.uuid4().int % 10**6 + 2000000)
    page = await browser.new_page()
    async with mcp(server) as client:
        task = await start(client, script({"shell": f"trap '' TERM INT; sleep {marker}"}))
        await page.goto(f"{base(server)}/task/{task}")
        await expect(page.locator("li.entry-command .exit")).to_have_text("running", timeout=20_000)
        assert processes_matching(f"sleep {marker}"), "the command should be running"
        await page.click("#cancel")
        await expect(page.locator("#notice")).to_contain_text("cancelled", timeout=30_000)
        await expect(page.locator("#status")).to_have_text("cancelled")
        await expect(page.locator("#cancel")).to_be_disabled()
        assert processes_matching(f"sleep {marker}") == []
        assert processes_matching(task) == []


async def test_land_from_the_repository_page_and_clean_up_from_the_task_page(
    server: HttpServer, browser: BrowserContext, repo: Path
) -> None:
    page = await browser.new_page()
    async with mcp(server) as client:
        tasks = [
            await start(
                client,
                script(write(name, f"made by {name}"), text=f"Add {name}"),
                cwd=str(repo),
                worktree=True,
                sandbox="workspace-write",
            )
            for name in ("landed.txt", "second.txt")
        ]
        await finish(client, *tasks)
    landed, second = tasks
    await page.goto(f"{base(server)}/")
    await page.click(f"tr[data-task='{landed}'] a")
    await page.click("#repo")
    await expect(page.locator("#summary")).to_contain_text("2 would land cleanly now")
    await shot(page, "board-repo.png")
    await page.click(f"tr[data-task='{landed}'] button")
    await expect(page.locator("#notice")).to_contain_text(f"landed {landed}: landed on main")
    assert git(repo, "show", "main:landed.txt") == "made by landed.txt"
    await expect(page.locator(f"tr[data-task='{landed}'] td").nth(5)).to_contain_text("landed")
    await expect(page.locator("#summary")).to_contain_text("1 would land cleanly now")
    # The other one, with a check that fails: nothing lands.
    await page.goto(f"{base(server)}/task/{second}")
    await page.fill("#check", "test -f no-such-file")
    await page.click("#land")
    await expect(page.locator("#notice")).to_contain_text("the check failed")
    with pytest.raises(subprocess.CalledProcessError):
        git(repo, "show", "main:second.txt")
    # Clean up the landed one: its worktree and branch go.
    await page.goto(f"{base(server)}/task/{landed}")
    await page.click("#cleanup")
    await expect(page.locator("#notice")).to_contain_text("deleted branch")
    assert git(repo, "branch", "--list", f"codex-swarm/{landed}") == ""


async def test_the_task_page_queues_a_landing_and_the_queue_shows_it_run_and_end(
    server: HttpServer, browser: BrowserContext, repo: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    page = await browser.new_page()
    async with mcp(server) as client:
        task, other = [
            await start(
                client,
                script(write(name, "queued"), text=f"Add {name}"),
                cwd=str(repo),
                worktree=True,
                sandbox="workspace-write",
            )
            for name in ("queued.txt", "failing.txt")
        ]
        await finish(client, task, other)
    await page.goto(f"{base(server)}/task/{task}")
    # A check that waits for the test's word, then says something with markup in it.
    await page.fill(
        "#check", f"while [ ! -e {gate} ]; do sleep 0.05; done; echo '<b>checked</b> now'"
    )
    await page.click("#queue")
    await expect(page.locator("#notice")).to_contain_text("queued for task")
    notice = await page.locator("#notice").text_content() or ""
    landing_id = notice.split()[1]
    assert landing_id.startswith("land"), notice
    # The swarm page's queue shows it running: the task checked and the check's last line, as
    # text (the markup is not parsed).
    swarm = await browser.new_page()
    await swarm.goto(f"{base(server)}/")
    item = swarm.locator(f"#landings [data-landing='{landing_id}']")
    await expect(item).to_have_attribute("data-status", "running")
    await expect(item.locator(".landing-progress")).to_contain_text(f"checking {task}")
    gate.write_text("go")
    # Live: it ends on both pages without a reload.
    await expect(item).to_have_attribute("data-outcome", "landed")
    await expect(item.locator(".landing-summary")).to_contain_text("1 of 1 landed")
    await expect(item.locator(".landing-lines")).to_contain_text(task)
    mine = page.locator(f"#landings [data-landing='{landing_id}']")
    await expect(mine).to_have_attribute("data-outcome", "landed")
    assert git(repo, "show", "main:queued.txt") == "queued"
    # A check that fails saying something with markup: the queue shows its output as text.
    await page.goto(f"{base(server)}/task/{other}")
    await page.fill("#check", "echo '<b>broken</b> build'; exit 1")
    await page.click("#queue")
    await expect(page.locator("#notice")).to_contain_text("queued for task")
    failed = page.locator("#landings [data-outcome='check failed']")
    await expect(failed.locator(".landing-check")).to_contain_text("<b>broken</b> build")
    repo_page = await browser.new_page()
    await repo_page.goto(f"{base(server)}/repo?path={repo}")
    await expect(repo_page.locator("#landings [data-outcome='check failed']")).to_have_count(1)
    await expect(repo_page.locator("#landings [data-outcome='landed']")).to_have_count(1)
    for shown in (page, swarm, repo_page):
        assert await shown.locator("#landings b").count() == 0


async def test_a_prompt_with_markup_is_shown_as_text(
    server: HttpServer, browser: BrowserContext
) -> None:
    evil = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    async with mcp(server) as client:
        task = await start(client, script({"message": evil}, text=evil))
        await finish(client, task)
    await page.goto(f"{base(server)}/")
    await expect(page.locator(f"tr[data-task='{task}'] td.title")).to_have_text(evil)
    await page.goto(f"{base(server)}/task/{task}")
    await expect(page.locator("#title")).to_have_text(evil)
    await expect(page.locator("#result")).to_have_text(evil)
    await expect(page.locator("li.entry-message pre")).to_have_text(evil)
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("main img, main script").count() == 0
    response = await page.request.get(f"{base(server)}/task/{task}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert errors == [], "the board itself breaks no rule of its Content-Security-Policy"
    assert errors == [], "the board itself breaks no rule of its Content-Security-Policy"


def api(server: HttpServer, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    return httpx2.request(method, base(server) + path, timeout=30, **kwargs)


async def test_cross_site_and_unsigned_requests_are_refused(
    server: HttpServer, browser: BrowserContext
) -> None:
    async with mcp(server) as client:
        task = await start(client, script({"shell": "sleep 30", "yield_ms": 60_000}))
    csrf = api(server, "GET", "/api/tasks").json()["csrf"]
    path = f"/api/tasks/{task}/cancel"
    own = {"origin": base(server), "x-csrf-token": csrf}
    evil = api(server, "POST", path, headers={**own, "origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.json()["message"]
    assert api(server, "POST", path, headers={"x-csrf-token": csrf}).status_code == 403
    no_csrf = api(server, "POST", path, headers={"origin": base(server)})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["message"]
    assert api(server, "GET", path).status_code == 405
    rebound = api(server, "GET", "/api/tasks", headers={"host": "evil.example"})
    assert rebound.status_code == 421
    # A page on another site posting a form at the board is refused; the task runs on.
    page = await browser.new_page()
    await page.goto("about:blank")
    await page.set_content(
        f'<form method="post" action="{base(server)}{path}"><button>go</button></form>'
    )
    async with page.expect_navigation():
        await page.click("button")
    assert "cross-site" in (await page.content())
    assert api(server, "GET", f"/api/tasks/{task}").json()["task"]["status"] == "running"
    done = api(server, "POST", path, headers=own)
    assert done.status_code == 200 and done.json()["ok"], done.text


@pytest.fixture
def token_server(env: dict[str, str], workdir: Path) -> Iterator[HttpServer]:
    started = HttpServer({**env, "CODEX_SWARM_AUTH_TOKEN": TOKEN}, workdir)
    yield started
    started.stop()


async def test_with_a_token_the_board_needs_it_once(
    token_server: HttpServer, browser: BrowserContext
) -> None:
    server = token_server
    async with mcp(server, TOKEN) as client:
        task = await start(client, "Hello with a token")
        await finish(client, task)
    assert api(server, "GET", "/api/tasks").status_code == 401
    assert api(server, "GET", "/", follow_redirects=False).headers["location"].startswith("/login")
    refused = api(server, "POST", f"/api/tasks/{task}/cleanup", headers={"origin": base(server)})
    assert refused.status_code == 401 and "token" in refused.json()["message"]
    assert api(server, "GET", "/api/tasks", params={"token": "wrong" * 8}).status_code == 401
    bearer = api(server, "GET", "/api/tasks", headers={"authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    for target in ("//evil.example/", "/\\evil.example", "https://evil.example/"):
        signed = api(
            server,
            "POST",
            "/login",
            data={"token": TOKEN, "next": target},
            headers={"origin": base(server)},
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/", target
    foreign = api(
        server, "POST", "/login", data={"token": TOKEN}, headers={"origin": "http://evil.example"}
    )
    assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
    page = await browser.new_page()
    await page.goto(f"{base(server)}/")
    await expect(page).to_have_url(f"{base(server)}/login?next=%2F")
    await page.fill("#token", "not-the-token-at-all")
    await page.click("button[type=submit]")
    await expect(page.locator("#failed")).to_be_visible()
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await expect(page.locator(f"tr[data-task='{task}']")).to_have_attribute(
        "data-status", "completed"
    )
    cookie = next(c for c in await browser.cookies() if c["name"] == "codex_swarm_board")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]
    # A ?token= link signs a fresh browser in and drops the token from the address.
    await browser.clear_cookies()
    await page.goto(f"{base(server)}/task/{task}?token={TOKEN}")
    await expect(page).to_have_url(f"{base(server)}/task/{task}")
    await expect(page.locator("#status")).to_have_text("completed")


async def test_board_command_serves_the_store_alone(
    server: HttpServer, browser: BrowserContext, tmp_path: Path
) -> None:
    async with mcp(server) as client:
        task = await start(client, "Hello from the store")
        await finish(client, task)
    env: dict[str, str] = server.env  # type: ignore[attr-defined]
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "opener.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    port = free_port()
    board = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "board", "--port", str(port), "--open"],
        env={**os.environ, **env, "BROWSER": str(opener)},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        assert wait_until(lambda: opened.exists() and opened.read_text().strip()) == url
        page = await browser.new_page()
        await page.goto(url)
        row = page.locator(f"tr[data-task='{task}']")
        await expect(row).to_have_attribute("data-status", "completed")
        await expect(row.locator("td.action")).to_have_text("done: ok: Hello from the store")
        await expect(page.locator("#live")).to_have_text("live")
    finally:
        board.terminate()
        # uvicorn stops gracefully, then ends by the signal it caught.
        assert board.wait(15) in (0, -signal.SIGTERM)
