"""Take the screenshots of the docs' board page of the web board (docs/board-*.png).

    uv run --frozen python scripts/board_screenshots.py [OUT_DIR]

Starts the fake model, the real pinned Codex CLI and the HTTP server on loopback, runs a small
swarm on a throwaway repository, and photographs the swarm, a task with its diff, and the
repository page with headless Chromium (/usr/bin/chromium). Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx2  # noqa: E402
from conftest import HttpServer, codex_bin, git, server_env, write_codex_home  # noqa: E402
from fake_model import FakeModel, script  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

PAGER = '''"""Pages of a list."""


def page(items, number, size=10):
    """The items of page ``number`` (counted from 1)."""
    start = (number - 1) * size
    return items[start:start + size - 1]
'''
CHECK = "import demo.pager as p; print(p.page(list(range(25)), 3))"
FIXED = PAGER.replace("start + size - 1]", "start + size]")
CLI = """import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(prog="demo")
    parser.add_argument("path")
    return parser.parse_args(argv)
"""
VERBOSE = CLI.replace(
    '    parser.add_argument("path")\n',
    '    parser.add_argument("path")\n'
    '    parser.add_argument("-v", "--verbose", action="store_true", help="say more")\n',
)


def put(path: str, text: str) -> dict[str, Any]:
    return {"shell": f"cat > {path} <<'EOF'\n{text}EOF"}


def make_repo(root: Path) -> Path:
    repo = root / "demo"
    (repo / "demo").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Demo")
    git(repo, "config", "user.email", "demo@example.com")
    (repo / "demo" / "pager.py").write_text(PAGER)
    (repo / "demo" / "cli.py").write_text(CLI)
    (repo / "README.md").write_text("# demo\n\nA tiny project.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    return repo


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = FakeModel(latency=0.05).start()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        home = write_codex_home(root / "codex-home", model.base_url)
        env = server_env(codex_bin(), home, root / "state" / "tasks")
        server = HttpServer(env, repo, "--max-parallel", "3")
        base = f"http://127.0.0.1:{server.port}"
        try:
            http = httpx2.AsyncClient(timeout=60)
            async with Client(streamable_http_client(server.url, http_client=http)) as client:  # type: ignore[arg-type]

                async def start(prompt: str, **args: Any) -> str:
                    result = await client.call_tool("codex_async", {"prompt": prompt, **args})
                    assert result.structured_content is not None, result.content
                    return str(result.structured_content["task_id"])

                wt = {"cwd": str(repo), "worktree": True, "sandbox": "workspace-write"}
                fix = await start(
                    script(
                        {
                            "reasoning": "The slice end drops the last item of every page.",
                            "shell": "grep -n 'size - 1' demo/pager.py",
                        },
                        put("demo/pager.py", FIXED),
                        {"shell": f"python3 -c '{CHECK}'"},
                        {"message": "Fixed the off-by-one in `page()`: pages hold `size` items."},
                        text="Fix the off-by-one in demo/pager.py",
                    ),
                    **wt,
                )
                verbose = await start(
                    script(
                        put("demo/cli.py", VERBOSE),
                        {"message": "Added -v/--verbose."},
                        text="Add a --verbose flag to the CLI",
                    ),
                    **wt,
                )
                clash = await start(
                    script(
                        put("demo/pager.py", PAGER.replace("size - 1]", "size - 1] or []")),
                        {"message": "An empty page is now an empty list."},
                        text="Return an empty list for a page past the end",
                    ),
                    **wt,
                )
                await client.call_tool("codex_wait", {"task_ids": [fix, verbose, clash]})
                await client.call_tool("codex_merge", {"task_id": verbose})
                failed = await start(script({"error": 400}, text="Summarise the open issues"))
                await client.call_tool("codex_wait", {"task_ids": [failed]})
                cancelled = await start(script({"shell": "sleep 300"}, text="Run the slow suite"))
                await asyncio.sleep(4)
                await client.call_tool("codex_cancel", {"task_id": cancelled})
                await start(
                    script(
                        *[{"shell": f"sleep 6 # round {n}"} for n in range(8)],
                        text="Profile the importer on the big fixture",
                    ),
                    **wt,
                )
                await start(
                    script(
                        {"reasoning": "Read the tests first.", "shell": "sleep 6"},
                        *[{"shell": "sleep 6"} for _ in range(8)],
                        text="Write tests for demo.cli",
                    ),
                    **wt,
                )
                await start(
                    script(
                        *[{"shell": "sleep 6"} for _ in range(8)],
                        text="Update the README's usage section",
                    )
                )
                await start(script({"shell": "sleep 30"}, text="Check the changelog for typos"))
                await asyncio.sleep(6)

                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(
                        executable_path="/usr/bin/chromium",
                        args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
                    )
                    page = await browser.new_page(viewport={"width": 1400, "height": 640})
                    await page.goto(base + "/")
                    await page.wait_for_selector("tbody#tasks tr")
                    await asyncio.sleep(1.5)
                    await page.screenshot(path=str(out / "board-swarm.png"), full_page=True)
                    await page.set_viewport_size({"width": 1400, "height": 900})
                    await page.goto(f"{base}/task/{fix}")
                    await page.wait_for_selector("section.file")
                    await asyncio.sleep(1)
                    await page.screenshot(path=str(out / "board-task.png"), full_page=True)
                    await page.set_viewport_size({"width": 1400, "height": 500})
                    await page.goto(f"{base}/repo?path={repo}")
                    await page.wait_for_selector("tbody#branches tr")
                    await asyncio.sleep(1.5)
                    await page.screenshot(path=str(out / "board-repo.png"), full_page=True)
                    await browser.close()
                active = await client.call_tool("codex_list", {"status": ["queued", "running"]})
                for line in (active.structured_content or {}).get("tasks", []):
                    await client.call_tool("codex_cancel", {"task_id": line["task_id"]})
        finally:
            server.stop()
            model.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
