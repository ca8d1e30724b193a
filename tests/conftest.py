"""Shared fixtures: the pinned real Codex CLI, the fake model, and the server over stdio.

End-to-end tests start ``python -m codex_mcp_swarm`` as a real subprocess and drive it with the
official SDK's MCP client. The Codex CLI is the pinned npm release installed by ``scripts/test``
into ``.cache/codex`` (or named by ``CODEX_SWARM_TEST_CODEX``). A missing Codex is a test error,
never a skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, ReadResourceResult, TextResourceContents

sys.path.insert(0, str(Path(__file__).parent))
from fake_model import FakeModel

# An engine in this process launches as a user with credentials would (without them a launch is
# refused: codex.credentials). Servers started as subprocesses get server_env() instead, and the
# tests of the refusal give their own environment.
os.environ.setdefault("CODEX_API_KEY", "test-key-of-the-suite")

REPO = Path(__file__).resolve().parents[1]
CODEX_VERSION = (REPO / ".codex-version").read_text().strip()

# Every server and command a test starts runs the suite's pinned Codex unless the test names
# another: without a Codex named or on PATH, the program would install the per-user copy of the
# pinned Codex with npm into the real home (codex.install). Tests of that default build their
# own environment (test_start, test_setup, test_wheel, test_settings).
if not os.environ.get("CODEX_SWARM_CODEX_BIN"):
    os.environ["CODEX_SWARM_CODEX_BIN"] = os.environ.get("CODEX_SWARM_TEST_CODEX") or str(
        REPO / ".cache" / "codex" / "node_modules" / ".bin" / "codex"
    )

# Every test module is of one kind (the markers are declared in pyproject.toml). A module
# listed here gets its kind's marker; a module may instead carry it itself (``pytestmark``).
# ``scripts/test --fast`` runs the unit kind: in-process tests that need no Codex, server,
# cluster or browser.
KINDS: dict[str, frozenset[str]] = {
    "unit": frozenset(
        {
            "test_admission.py",
            "test_answers.py",
            "test_branches.py",
            "test_command.py",
            "test_command_steering.py",
            "test_console.py",
            "test_events.py",
            "test_outlook.py",
            "test_settings.py",
            "test_stdio_front.py",
            "test_steering.py",
            "test_views.py",
            "test_store.py",
            "test_store_steers.py",
            "test_vocabulary.py",
            "test_watchers.py",
            "test_web_units.py",
        }
    ),
    "e2e": frozenset(
        {
            "test_conformance.py",
            "test_docs.py",
            "test_console_e2e.py",
            "test_console_land.py",
            "test_console_steering.py",
            "test_e2e_codex_client.py",
            "test_e2e_faults.py",
            "test_e2e_http.py",
            "test_e2e_land.py",
            "test_e2e_protocol.py",
            "test_e2e_steering.py",
            "test_e2e_swarm.py",
            "test_e2e_tools.py",
            "test_e2e_worktrees.py",
            "test_engine.py",
            "test_fast_start.py",
            "test_fuzz.py",
            "test_git.py",
            "test_land.py",
            "test_ray_parts.py",
            "test_runner_parts.py",
            "test_setup.py",
            "test_start.py",
            "test_wheel.py",
        }
    ),
    "cluster": frozenset({"test_ray_backend.py"}),
    "browser": frozenset({"test_web_board.py"}),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its module's kind; a module of no kind, or of two, stops the run.
    A test of a module listed here may carry another kind itself (a unit module's one test
    that starts a process: ``@pytest.mark.e2e``); it is then of that kind only."""
    wrong: dict[str, list[str]] = {}
    for item in items:
        name = item.path.name
        own = [mark.name for mark in item.own_markers if mark.name in KINDS]
        listed = [kind for kind, names in KINDS.items() if name in names]
        for kind in listed if not own else []:
            item.add_marker(kind)
        kinds = {mark.name for mark in item.iter_markers() if mark.name in KINDS}
        if len(kinds) != 1:
            wrong[name] = sorted(kinds)
    if wrong:
        shown = "; ".join(f"{name} has {kinds or 'none'}" for name, kinds in sorted(wrong.items()))
        raise pytest.UsageError(
            f"every test module needs exactly one kind of {sorted(KINDS)} ({shown}): add it to "
            f"KINDS in tests/conftest.py or give the module a pytestmark"
        )


def codex_bin() -> str:
    override = os.environ.get("CODEX_SWARM_TEST_CODEX")
    path = (
        Path(override)
        if override
        else REPO / ".cache" / "codex" / "node_modules" / ".bin" / "codex"
    )
    if not path.exists():
        pytest.fail(
            f"the pinned Codex CLI ({CODEX_VERSION}) is missing at {path}: run scripts/test, "
            f"which installs it with npm, or set CODEX_SWARM_TEST_CODEX",
            pytrace=False,
        )
    return str(path)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def codex() -> str:
    path = codex_bin()
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert CODEX_VERSION in version.stdout, (
        f"expected Codex {CODEX_VERSION}, got {version.stdout!r}"
    )
    return path


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModel]:
    model = FakeModel(latency=0.0).start()
    yield model
    model.stop()


def write_codex_home(home: Path, base_url: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"""model = "mock-model"
model_provider = "mock"

[model_providers.mock]
name = "mock"
base_url = "{base_url}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"""
    )
    return home


@pytest.fixture(scope="session")
def codex_home(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeModel) -> Path:
    # Not under /tmp directly: Codex refuses to create helper aliases under a temp dir and says so
    # on stderr, which is harmless; the path is what the tests own either way.
    return write_codex_home(tmp_path_factory.mktemp("codex-home"), fake_model.base_url)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tasks"


def server_env(codex: str, codex_home: Path, task_dir: Path, **extra: str) -> dict[str, str]:
    (task_dir.parent / "home").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        # An empty home of the test's own: Codex runs commands in login shells, and a user's
        # shell setup (pyenv's rehash, say) must neither slow a test down nor be killed by it.
        "HOME": str(task_dir.parent / "home"),
        "CODEX_HOME": str(codex_home),
        "MOCK_API_KEY": "test-key",
        "CODEX_SWARM_TASK_DIR": str(task_dir),
        "CODEX_SWARM_WORKTREE_DIR": str(task_dir.parent / "worktrees"),
        "CODEX_SWARM_CODEX_BIN": codex,
        "CODEX_SWARM_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


SwarmFactory = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def swarm(codex: str, codex_home: Path, task_dir: Path, workdir: Path) -> SwarmFactory:
    """``async with swarm(*flags, mode=..., env=...) as client`` starts the server over stdio."""

    @asynccontextmanager
    async def start(
        *flags: str,
        mode: str = "auto",
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        message_handler: Any = None,
    ) -> AsyncIterator[Client]:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "codex_mcp_swarm", "--skip-git-repo-check", *flags],
            env={**server_env(codex, codex_home, task_dir), **(env or {})},
            cwd=str(cwd or workdir),
        )
        async with Client(params, mode=mode, message_handler=message_handler) as client:
            yield client

    return start


def processes_matching(marker: str) -> list[psutil.Process]:
    """Live processes whose command line contains ``marker`` (zombies do not count)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if marker in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_for_phase(task_dir: Path, task_id: str, *phases: str, timeout: float = 60.0) -> None:
    """Block until the store says ``task_id`` is in one of ``phases`` (a read-only look at the
    task dir, so a test can kill a server at a known point instead of after a fixed sleep)."""
    from codex_mcp_swarm.engine.store import Store

    store = Store(task_dir, role="readonly")
    try:
        wait_until(lambda: (row := store.get(task_id)) is not None and row.phase in phases, timeout)
    finally:
        store.close()


def resource_text(result: ReadResourceResult) -> str:
    """The text of a resource read that returned one text item."""
    item = result.contents[0]
    assert isinstance(item, TextResourceContents), item
    return item.text


async def full_result(client: Client, task_id: str) -> dict[str, Any]:
    """A task's whole result view (the compact tool answers leave details out): from its
    ``codex-swarm:///tasks/{id}`` resource."""
    whole = json.loads(resource_text(await client.read_resource(f"codex-swarm:///tasks/{task_id}")))
    return dict(whole["result"])


def data(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, result.content
    return dict(result.structured_content)


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def launch(client: Client, prompt: str, **args: Any) -> str:
    result = await client.call_tool("codex_async", {"prompt": prompt, **args})
    assert not result.is_error, text(result)
    return str(data(result)["task_id"])


async def status_until(
    client: Client, task_id: str, check: Any, timeout: float = 30
) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            view = data(await client.call_tool("codex_status", {"task_ids": [task_id]}))["tasks"][0]
            if check(view):
                return dict(view)
            await anyio.sleep(0.1)


def requests_with(model: FakeModel, marker: str) -> list[dict[str, Any]]:
    return [r for r in model.requests if marker in json.dumps(r)]


class RawServer:
    """The server as a plain subprocess spoken to in raw JSON-RPC: a test can SIGKILL it, or
    check wire shapes exactly. ``era`` is "2025-11-25" (initialize handshake) or "2026-07-28"
    (no handshake; every request carries the protocol version and capabilities in ``_meta``)."""

    MODERN = "2026-07-28"

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        *,
        era: str = "2025-11-25",
        extensions: dict[str, Any] | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=cwd,
        )
        self.era = era
        self.extensions = extensions or {}
        self.next_id = 1
        self.notifications: list[dict[str, Any]] = []
        if era != self.MODERN:
            self.initialize = self.request(
                "initialize",
                {
                    "protocolVersion": era,
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            )
            self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def request(
        self, method: str, params: dict[str, Any], *, declare: bool = True
    ) -> dict[str, Any]:
        """Send a request and return the whole response (``result`` or ``error``)."""
        assert self.proc.stdout is not None
        self.next_id += 1
        if self.era == self.MODERN and method != "initialize":
            capabilities = {"extensions": self.extensions} if declare and self.extensions else {}
            params = {
                **params,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": self.MODERN,
                    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
                    "io.modelcontextprotocol/clientCapabilities": capabilities,
                },
            }
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            answer = json.loads(self.proc.stdout.readline())
            if answer.get("id") == self.next_id:
                return dict(answer)
            self.notifications.append(answer)

    def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = self.request("tools/call", {"name": tool, "arguments": args})
        return dict(answer["result"]["structuredContent"])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpServer:
    def __init__(self, env: dict[str, str], cwd: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codex_mcp_swarm",
                "--skip-git-repo-check",
                "--transport",
                "streamable-http",
                "--port",
                str(self.port),
                *flags,
            ],
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            time.sleep(0.1)
        raise AssertionError("the HTTP server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    (path / "shared.txt").write_text("line one\nline two\n")
    (path / "pkg").mkdir()
    (path / "pkg" / "mod.py").write_text("x = 1\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


def start_refused(task_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Start the server the way a client would, for a test that expects it to refuse."""
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp_swarm", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "CODEX_SWARM_TASK_DIR": str(task_dir)},
        stdin=subprocess.DEVNULL,
    )
