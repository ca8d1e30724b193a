"""The web board in a real browser: Playwright drives Debian's headless Chromium against the
HTTP server (``/`` beside ``/mcp``) and the ``board`` command, while the real Codex CLI runs
fake-model tasks. No network beyond loopback; the browser is never downloaded (``/usr/bin/chromium``
is a system package that ``scripts/test`` installs)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import HttpServer, server_env
from fake_model import script
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.async_api import BrowserContext, Page, async_playwright, expect

pytestmark = pytest.mark.anyio
CHROMIUM = "/usr/bin/chromium"
TOKEN = "board-token-for-tests-0123456789"
SHOTS = os.environ.get("BOARD_SCREENSHOT_DIR")  # set to save the README's screenshots


def write(path: str, content: str) -> dict[str, Any]:
    return {"shell": f"printf '%s\\n' '{content}' > {path}"}


@pytest.fixture
def env(codex: str, codex_home: Path, task_dir: Path) -> dict[str, str]:
    return server_env(codex, codex_home, task_dir)


@pytest.fixture
def server(env: dict[str, str], workdir: Path) -> Iterator[HttpServer]:
    started = HttpServer(env, workdir, "--max-parallel", "4")
    yield started
    started.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Headless Chromium with a fresh profile of the test's own."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium", False)
    async with async_playwright() as pw:
        launched = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            viewport={"width": 1400, "height": 900},
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def mcp(server: HttpServer, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with Client(streamable_http_client(server.url, http_client=http)) as client:  # type: ignore[arg-type]
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
    server: HttpServer, browser: BrowserContext, workdir: Path
) -> None:
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
        await expect(row.locator("td.action")).to_have_text("slept")
        await expect(page.locator("#summary")).to_contain_text("2 tasks: 2 completed")
        await page.select_option("#filter-status", "failed")
        await expect(page.locator("tbody#tasks tr")).to_have_count(0)
        await page.select_option("#filter-status", "completed")
        await expect(page.locator("tbody#tasks tr")).to_have_count(2)
