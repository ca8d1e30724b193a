"""Benchmark of codex-mcp-swarm end to end: the real server, the real Codex CLI, a fake model.

Run from the repository root:

    uv run python bench/bench.py            # full configuration (several minutes)
    uv run python bench/bench.py --small    # small configuration for CI (about a minute)
    uv run python bench/bench.py --json out.json --sections 1,2 --latency 0.5 --keep

Each section starts ``python -m codex_mcp_swarm --skip-git-repo-check`` as a subprocess with its
own task directory and drives it with the official MCP SDK client. Codex is the pinned CLI in
``.cache/codex`` (or ``CODEX_SWARM_TEST_CODEX``); the model is ``tests/fake_model.py`` in this
process, answering every request after ``--latency`` seconds (default 0.5). Servers and Codex
get an empty HOME (Codex's shell reads no user profile), so results do not depend on it. Sections:

1. parallel efficiency: wall (and CPU) of N tasks through the server (N ``codex_async`` calls
   sent at once, then ``codex_wait``) vs the same N ``codex exec`` processes started directly;
   the median of several runs each (single runs vary by several per cent on 2 cores);
2. wake-up latency, one task at a time: Codex exit (seen with a pidfd) -> runner records the
   end (``ended_at`` in the store) -> runner exits -> the codex_wait answer reaches the client;
3. codex_status / codex_list latency with many stored tasks (synthetic rows copied from a real
   one; 10,000 in the full configuration) and running tasks whose events.jsonl got many
   synthetic lines, with the CPU each call costs the server and the client; idle runner CPU;
4. server and runner peak RSS (Linux VmHWM, else sampled RSS), also while a task prints a lot;
5. launch latency: codex_async, and codex_async with worktree vs a bare ``git worktree add``;
6. a burst of tasks under --max-parallel: all complete, none lost, started in FIFO order;
7. runner cost (see ``runner_cost``);
8. landing: ``codex_land`` of N worktree branches (one file each) on the section-5 repository,
   time per branch (the check's own time reported apart) vs a bare ``git merge --no-ff`` of the
   same branches from the same tip.
9. startup: process start -> the answer to ``initialize`` (2025-11-25) and to ``server/discover``
   (2026-07-28), and -> the ``tools/list`` answer after ``initialize``, p50 over 10 starts
   (5 in the small configuration);
10. answer size: characters of a ``codex_wait`` answer's structuredContent (compact JSON, what a
   model reads) per finished task, not counting the agent's own message, for a one-command task
   and for a worktree task; and of a ``codex_land`` answer per task (six tasks: four land, one
   conflicts, one fails the check);
11. tool definitions: characters of this server's tools as the pinned Codex, the orchestrating
   client, sends them to its model (compact JSON of its ``mcp__codex_swarm`` namespace tool, read
   from the request body the fake model receives), per tool, and the size of ``tools/list``;
12. loop stall: over streamable HTTP, one client's ``codex_async`` with ``worktree: true`` spends
   2 s in git (the repository's ``post-checkout`` hook sleeps 2 s, and ``git worktree add`` runs
   it), while a second client calls ``codex_status`` again and again: its latency during those
   calls vs with the server idle (a long task holds the one slot of ``--max-parallel 1``, so the
   new tasks wait in the queue instead of starting Codex during the measurement).

Numbers are printed and written to JSON (default ``bench/results/latest.json``), never asserted.
The exit code is 1 only if a section could not run. Every server, runner and Codex process the
benchmark starts is stopped at the end (processes are found by the benchmark's CODEX_HOME).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
fake_model: Any = importlib.import_module("fake_model")
MB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    name: str
    latency: float = 0.5  # seconds per model request
    parallel_ns: tuple[int, ...] = (1, 4, 16)
    repeats: int = 5  # runs per N in section 1 (the median is reported: single runs vary ±7%)
    wake_tasks: int = 30
    stored: int = 10_000
    running: int = 20
    events: int = 10_000
    calls: int = 200
    output_bytes: int = 200_000_000
    launches: int = 20
    repo_files: int = 20_000
    worktrees: int = 5
    burst_tasks: int = 100
    burst_parallel: int = 8
    land_branches: int = 20
    queue_branches: int = 12  # branches per merge-queue case in section 8
    runner_tasks: int = 8  # runners measured per kind in section 7
    runner_sleep: int = 6  # seconds each of them runs (all must still run when USS is read)
    starts: int = 10  # server starts in section 9
    stalls: int = 5  # slow (2 s in git) calls in section 11


FULL = Config("full")
SMALL = Config(
    "small",
    parallel_ns=(1, 4),
    repeats=1,
    wake_tasks=8,
    stored=200,
    running=4,
    events=2000,
    calls=50,
    output_bytes=20_000_000,
    repo_files=2000,
    burst_tasks=20,
    burst_parallel=4,
    land_branches=4,
    queue_branches=4,
    runner_tasks=4,
    runner_sleep=3,
    starts=5,
    stalls=2,
)


class BenchError(RuntimeError):
    pass


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def stats(values: Sequence[float]) -> dict[str, Any]:
    """p50/p99 (linear interpolation), mean, min, max of ``values``, rounded."""
    if not values:
        return {"n": 0}
    s = sorted(values)

    def pct(p: float) -> float:
        k = (len(s) - 1) * p / 100
        lo = math.floor(k)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (k - lo)

    out = {"p50": pct(50), "p99": pct(99), "mean": statistics.fmean(s), "min": s[0], "max": s[-1]}
    return {"n": len(s), **{k: round(v, 3) for k, v in out.items()}}


def vm_hwm(pid: int) -> int | None:
    """Peak resident set size of ``pid`` in bytes (Linux ``VmHWM``), None elsewhere or if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def data(result: CallToolResult) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        raise BenchError(" ".join(getattr(c, "text", "") for c in result.content))
    return dict(result.structured_content)


class Sampler(threading.Thread):
    """Samples the server's RSS (and, when ``runners`` is set, its runner children's peaks)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.every = every
        self.peak_rss = 0
        self.runners = False
        self.runner_peaks: dict[int, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
                if self.runners:
                    for child in self.proc.children():
                        with contextlib.suppress(psutil.Error):
                            if "engine.runner" in " ".join(child.cmdline()):
                                peak = vm_hwm(child.pid) or child.memory_info().rss
                                old = self.runner_peaks.get(child.pid, 0)
                                self.runner_peaks[child.pid] = max(old, peak)


@dataclass
class Server:
    client: Client
    task_dir: Path
    pid: int
    sampler: Sampler

    async def call(self, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return data(await self.client.call_tool(tool, args or {}))

    async def timed(self, tool: str, args: dict[str, Any] | None = None) -> float:
        start = time.perf_counter()
        await self.call(tool, args)
        return time.perf_counter() - start

    async def launch(self, prompt: str, **args: Any) -> str:
        return str((await self.call("codex_async", {"prompt": prompt, **args}))["task_id"])

    async def launch_many(self, n: int, prompt: str, **args: Any) -> list[str]:
        """``n`` ``codex_async`` calls sent at once, as a client that issues its tool calls
        in parallel (as Claude Code does within a turn) rather than one after another."""
        ids: list[str] = []

        async def one() -> None:
            ids.append(await self.launch(prompt, **args))

        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(one)
        return ids

    async def wait_all(self, ids: list[str], timeout: float = 900) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            left = max(1.0, min(3600.0, deadline - time.monotonic()))
            out = await self.call("codex_wait", {"task_ids": ids, "timeout": left})
            if out["done"] or time.monotonic() > deadline:
                return list(out["tasks"])

    async def resource(self, uri: str) -> Any:
        contents = (await self.client.read_resource(uri)).contents
        return json.loads(getattr(contents[0], "text", ""))

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.task_dir / "tasks.db", timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def peak_rss(self) -> int:
        return vm_hwm(self.pid) or self.sampler.peak_rss

    def cpu_s(self) -> float:
        """CPU seconds of the server and its reaped children (runners, and their Codex)."""
        t = psutil.Process(self.pid).cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)

    def runners(self) -> list[psutil.Process]:
        children = psutil.Process(self.pid).children()
        return [p for p in children if "engine.runner" in " ".join(p.cmdline())]


class Bench:
    def __init__(self, config: Config, root: Path, codex: str) -> None:
        self.config = config
        self.root = root
        self.codex = codex
        self.model: Any = fake_model.FakeModel(latency=config.latency).start()
        self.home = root / "codex-home"
        self.home.mkdir()
        (self.home / "config.toml").write_text(
            f'model = "mock-model"\nmodel_provider = "mock"\n\n[model_providers.mock]\n'
            f'name = "mock"\nbase_url = "{self.model.base_url}"\nwire_api = "responses"\n'
            f'env_key = "MOCK_API_KEY"\nrequest_max_retries = 0\nstream_max_retries = 0\n'
        )
        self.work = root / "work"
        self.work.mkdir()
        # An empty HOME: Codex's `bash -lc` then reads no user profile (a pyenv init there spawns
        # `pyenv rehash` per command, which can hold the command's pipe open for up to 60 s).
        (root / "home").mkdir()
        self.base_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(root / "home"),
            "CODEX_HOME": str(self.home),
            "MOCK_API_KEY": "bench-key",
        }
        self.servers: dict[str, dict[str, Any]] = {}

    def prompt(self, text: str, *steps: dict[str, Any]) -> str:
        return str(fake_model.script(*steps, text=text))

    @asynccontextmanager
    async def server(self, label: str, *flags: str) -> AsyncIterator[Server]:
        state = self.root / label / "state"
        env = {
            **self.base_env,
            "CODEX_SWARM_TASK_DIR": str(state / "tasks"),
            "CODEX_SWARM_WORKTREE_DIR": str(state / "worktrees"),
            "CODEX_SWARM_CODEX_BIN": self.codex,
            "CODEX_SWARM_LOG": str(state / "server.log"),
        }
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "codex_mcp_swarm", "--skip-git-repo-check", *flags],
            env=env,
            cwd=str(self.work),
        )
        async with Client(params) as client:
            pid = next(
                p.pid
                for p in psutil.Process().children()
                if p.environ().get("CODEX_SWARM_TASK_DIR") == env["CODEX_SWARM_TASK_DIR"]
            )
            sampler = Sampler(pid)
            sampler.start()
            srv = Server(client, state / "tasks", pid, sampler)
            try:
                yield srv
            finally:
                sampler.halt.set()
                self.servers[label] = {
                    "flags": list(flags),
                    "peak_rss_mb": round(srv.peak_rss() / MB, 1),
                    "sampled_peak_rss_mb": round(sampler.peak_rss / MB, 1),
                }
        log = state / "server.log"
        errors = (
            [ln for ln in log.read_text().splitlines() if " ERROR " in ln] if log.exists() else []
        )
        runner_logs = [
            p for p in (state / "tasks" / "tasks").glob("*/runner.log") if p.stat().st_size
        ]
        strays = bench_processes(self.home)
        self.servers[label].update(
            log_errors=errors[:5],
            nonempty_runner_logs=len(runner_logs),
            stray_processes_after_exit=[" ".join(p.cmdline())[:160] for p in strays],
        )

    @asynccontextmanager
    async def http_server(self, label: str, *flags: str) -> AsyncIterator[tuple[str, Server]]:
        """A server on streamable HTTP (loopback, a free port): its ``/mcp`` URL, and a
        :class:`Server` whose client is connected to it (open more with :func:`http_client`)."""
        state = self.root / label / "state"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        env = {
            **self.base_env,
            "CODEX_SWARM_TASK_DIR": str(state / "tasks"),
            "CODEX_SWARM_WORKTREE_DIR": str(state / "worktrees"),
            "CODEX_SWARM_CODEX_BIN": self.codex,
            "CODEX_SWARM_LOG": str(state / "server.log"),
        }
        argv = [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check"]
        argv += ["--transport", "streamable-http", "--port", str(port), *flags]
        proc = subprocess.Popen(argv, env=env, cwd=self.work, stdin=subprocess.DEVNULL)
        sampler = Sampler(proc.pid)
        sampler.start()
        peak = 0
        try:
            with anyio.fail_after(60):
                while True:
                    with socket.socket() as s:
                        if s.connect_ex(("127.0.0.1", port)) == 0:
                            break
                    if proc.poll() is not None:
                        raise BenchError(f"the HTTP server exited with {proc.returncode}")
                    await anyio.sleep(0.1)
            url = f"http://127.0.0.1:{port}/mcp"
            async with http_client(url) as client:
                srv = Server(client, state / "tasks", proc.pid, sampler)
                yield url, srv
                peak = srv.peak_rss()
        finally:
            sampler.halt.set()
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.servers[label] = {
                "flags": ["--transport", "streamable-http", *flags],
                "peak_rss_mb": round(peak / MB, 1),
                "sampled_peak_rss_mb": round(sampler.peak_rss / MB, 1),
                "stray_processes_after_exit": [
                    " ".join(p.cmdline())[:160] for p in bench_processes(self.home)
                ],
            }

    def direct(self, n: int, prompt: str, out: Path) -> tuple[float, float]:
        """Wall time and CPU seconds of n ``codex exec`` processes started together."""
        out.mkdir(parents=True, exist_ok=True)
        started: list[tuple[subprocess.Popen[bytes], Any]] = []
        argv = [self.codex, "exec", "--json", "--skip-git-repo-check", f"--cd={self.work}", "-"]
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            start = time.perf_counter()
            for i in range(n):
                log = open(out / f"{i}.jsonl", "wb")  # noqa: SIM115 (closed below)
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.DEVNULL,
                    env=self.base_env,
                    cwd=self.work,
                )
                started.append((proc, log))
            for proc, _ in started:
                assert proc.stdin is not None
                proc.stdin.write(prompt.encode())
                proc.stdin.close()
            codes = [proc.wait(timeout=600) for proc, _ in started]
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        finally:
            for proc, log in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()
        done = sum(b'"turn.completed"' in (out / f"{i}.jsonl").read_bytes() for i in range(n))
        if any(codes) or done != n:
            raise BenchError(f"direct codex runs failed: exit codes {codes}, {done}/{n} completed")
        return wall, cpu_s


def bench_processes(home: Path) -> list[psutil.Process]:
    """Live processes started by this benchmark (their environment names its CODEX_HOME)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("CODEX_HOME") == str(home):
                found.append(proc)
    return found


def stop_processes(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=3)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def exit_times(pids: dict[str, int], timeout: float) -> dict[str, float]:
    """Block until each named pid exits; return the epoch time each exit was seen."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    if hasattr(os, "pidfd_open"):  # Linux: the pidfd becomes readable the instant it exits
        fds: dict[int, str] = {}
        for name, pid in pids.items():
            try:
                fds[os.pidfd_open(pid)] = name
            except OSError:
                seen[name] = math.nan  # already gone: not measurable
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        try:
            while len(seen) < len(pids) and time.monotonic() < deadline:
                for fd, _ in poller.poll(100):
                    seen[fds[fd]] = time.time()
                    poller.unregister(fd)
        finally:
            for fd in fds:
                os.close(fd)
        return seen
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    while len(seen) < len(pids) and time.monotonic() < deadline:
        for name, proc in procs.items():
            if name not in seen:
                try:
                    gone = proc.status() == psutil.STATUS_ZOMBIE
                except psutil.Error:
                    gone = True
                if gone:
                    seen[name] = time.time()
        time.sleep(0.001)
    return seen


def watch_task(db_path: Path, task_id: str, out: dict[str, float]) -> None:
    """Find a task's runner and Codex pids in the store, then record when each exits."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT runner_pid, codex_pid FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if row and row[0] and row[1]:
                out["codex_seen"] = time.time()
                out.update(exit_times({"runner_exit": row[0], "codex_exit": row[1]}, 60))
                return
            time.sleep(0.002)
    finally:
        conn.close()


# ---- sections --------------------------------------------------------------------------------


async def parallel_efficiency(b: Bench) -> dict[str, Any]:
    cfg = b.config
    prompt = b.prompt("parallel efficiency", {"shell": "true"}, {"message": "done"})
    params = {"ns": list(cfg.parallel_ns), "repeats": cfg.repeats, "prompt_steps": 2}
    params["cpu_s"] = "Codex (direct) vs the server and the children it reaped (server), CPU s"
    params["machine_cpu_s"] = "the whole machine's busy CPU seconds during each run"
    results: dict[str, Any] = {}
    await anyio.to_thread.run_sync(b.direct, 1, prompt, b.root / "direct" / "warmup")
    async with b.server("parallel", "--max-parallel", str(max(cfg.parallel_ns))) as srv:
        await srv.wait_all([await srv.launch(prompt, cwd=str(b.work))])  # warm-up
        for n in cfg.parallel_ns:
            direct, served, direct_cpu, served_cpu = [], [], [], []
            direct_machine, served_machine = [], []
            for r in range(cfg.repeats):
                out = b.root / "direct" / f"n{n}-r{r}"
                busy = machine_busy_s()
                wall, cpu = await anyio.to_thread.run_sync(b.direct, n, prompt, out)
                direct_machine.append(machine_busy_s() - busy)
                direct.append(wall)
                direct_cpu.append(cpu)
                cpu = srv.cpu_s()
                busy = machine_busy_s()
                start = time.perf_counter()
                ids = await srv.launch_many(n, prompt, cwd=str(b.work))
                tasks = await srv.wait_all(ids)
                served.append(time.perf_counter() - start)
                served_machine.append(machine_busy_s() - busy)
                await anyio.sleep(0.5)  # let the server reap the runners (their CPU time)
                served_cpu.append(srv.cpu_s() - cpu)
                bad = [t["status"] for t in tasks if t["status"] != "completed"]
                if bad:
                    raise BenchError(f"server tasks did not complete: {bad}")
            d, s = statistics.median(direct), statistics.median(served)
            results[f"n{n}"] = {
                "direct_wall_s": round(d, 3),
                "server_wall_s": round(s, 3),
                "ratio": round(s / d, 3),
                "direct_runs_s": [round(x, 3) for x in direct],
                "server_runs_s": [round(x, 3) for x in served],
                "direct_cpu_s": round(statistics.median(direct_cpu), 2),
                "server_cpu_s": round(statistics.median(served_cpu), 2),
                "direct_machine_cpu_s": round(statistics.median(direct_machine), 2),
                "served_machine_cpu_s": round(statistics.median(served_machine), 2),
            }
    return {"params": params, "results": results}


async def wake_latency(b: Bench) -> dict[str, Any]:
    k = b.config.wake_tasks
    prompt = b.prompt("wake-up latency", {"shell": "true"}, {"message": "done"})
    samples: list[dict[str, float]] = []
    # The exit watcher is a thread of this process: let it take the GIL at once when it wakes.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    async with b.server("wake") as srv:
        await srv.wait_all([await srv.launch(prompt)])  # warm-up
        conn = srv.db()
        for _ in range(k):
            task_id = await srv.launch(prompt)
            seen: dict[str, float] = {}
            watcher = threading.Thread(
                target=watch_task, args=(srv.task_dir / "tasks.db", task_id, seen), daemon=True
            )
            watcher.start()
            out = await srv.call("codex_wait", {"task_ids": [task_id], "timeout": 60})
            received = time.time()
            await anyio.to_thread.run_sync(watcher.join, 10)
            row = conn.execute(
                "SELECT created_at, ended_at FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
            if out["tasks"][0]["status"] != "completed" or row is None:
                raise BenchError(f"task {task_id} did not complete: {out['tasks'][0]}")
            samples.append({"received": received, "created_at": row[0], "ended_at": row[1], **seen})
        conn.close()
    sys.setswitchinterval(switch)

    def span(a: str, z: str) -> list[float]:
        return [ms(s[z] - s[a]) for s in samples if not math.isnan(s.get(a, math.nan) + s[z])]

    return {
        "params": {"tasks": k, "one_at_a_time": True, "wait_timeout_s": 60},
        "results": {
            "codex_exit_to_answer_ms": stats(span("codex_exit", "received")),
            "launch_to_codex_running_ms": stats(span("created_at", "codex_seen")),
            "recorded_to_answer_ms": stats(span("ended_at", "received")),
            "codex_exit_to_recorded_ms": stats(span("codex_exit", "ended_at")),
            "recorded_to_runner_exit_ms": stats(span("ended_at", "runner_exit")),
            "runner_exit_to_answer_ms": stats(span("runner_exit", "received")),
        },
    }


def synthetic_events(count: int) -> bytes:
    lines = []
    for i in range(count):
        cmd = f"/bin/bash -lc 'grep -rn pattern src/module_{i}.py'"
        item: dict[str, Any] = {"id": f"item_{i}", "type": "command_execution", "command": cmd}
        if i % 2:
            item.update(aggregated_output=f"src/module_{i}.py:{i}: pattern\n" * 3, exit_code=0)
            lines.append({"type": "item.completed", "item": {**item, "status": "completed"}})
        else:
            item.update(aggregated_output="", exit_code=None)
            lines.append({"type": "item.started", "item": {**item, "status": "in_progress"}})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def insert_synthetic(conn: sqlite3.Connection, count: int) -> None:
    """Copy a real completed row ``count`` times with new ids, seqs and thread ids."""
    template = conn.execute(
        "SELECT * FROM tasks WHERE phase = 'completed' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    cols = list(template.keys())
    conn.execute("BEGIN IMMEDIATE")
    seq = conn.execute("SELECT MAX(seq) FROM tasks").fetchone()[0]
    rows = []
    for i in range(count):
        new = dict(template)
        new.update(
            id=uuid.uuid4().hex[:12],
            seq=seq + 1 + i,
            title=f"synthetic task {i}",
            thread_id=str(uuid.uuid4()),
        )
        rows.append(tuple(new[c] for c in cols))
    marks = ",".join("?" * len(cols))
    conn.executemany(f"INSERT INTO tasks({','.join(cols)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")


async def status_latency(b: Bench) -> dict[str, Any]:
    cfg = b.config
    real = 3
    params = {"stored": cfg.stored, "running": cfg.running, "events_per_running": cfg.events}
    params.update(calls=cfg.calls, real_completed=real)
    results: dict[str, Any] = {}
    flags = ("--max-parallel", str(cfg.running + 2))
    async with b.server("status", *flags) as srv:
        quick = b.prompt("stored", {"shell": "echo stored"}, {"message": "stored"})
        await srv.wait_all([await srv.launch(quick) for _ in range(real)])
        conn = srv.db()
        insert_synthetic(conn, cfg.stored - real)
        conn.close()
        # Codex answers the model 10 s into a command unless told to wait longer: twenty of
        # them doing so at once, mid-measurement, would measure that burst, not the queries.
        step = {"shell": "sleep 600", "yield_ms": 600_000}
        slow = b.prompt("long runner", step, {"delay": 600, "message": "late"})
        running = [await srv.launch(slow) for _ in range(cfg.running)]
        with anyio.fail_after(180):
            while True:
                views = (await srv.call("codex_status", {"task_ids": running}))["tasks"]
                if all(v["status"] == "running" and v.get("last_tool") for v in views):
                    break
                await anyio.sleep(0.2)

        runners = srv.runners()
        before = [sum(p.cpu_times()[:2]) for p in [psutil.Process(srv.pid), *runners]]
        await anyio.sleep(3.0)
        after = [sum(p.cpu_times()[:2]) for p in [psutil.Process(srv.pid), *runners]]
        used = [(a - z) / 3.0 * 100 for a, z in zip(after, before, strict=True)]
        results["idle_cpu_percent"] = {
            "server": round(used[0], 1),
            "runners_total": round(sum(used[1:]), 1),
            "per_runner": round(statistics.fmean(used[1:]), 2),
        }

        server = psutil.Process(srv.pid)
        cpu: dict[str, dict[str, float]] = {}

        async def measure(tool: str, args: dict[str, Any], n: int) -> dict[str, Any]:
            """Round trips, and the CPU each call cost the server and this client: on a shared
            machine the round trips include waiting for a core, the CPU does not."""
            served, mine = sum(server.cpu_times()[:2]), time.process_time()
            times = [ms(await srv.timed(tool, args)) for _ in range(n)]
            cpu[tool] = {
                "server": round((sum(server.cpu_times()[:2]) - served) / n * 1000, 2),
                "client": round((time.process_time() - mine) / n * 1000, 2),
            }
            return stats(times)

        psutil.cpu_percent(None)
        status_args = {"task_ids": running}
        results["status_before_events_ms"] = await measure("codex_status", status_args, cfg.calls)
        blob = synthetic_events(cfg.events)
        for task_id in running:
            with open(srv.task_dir / "tasks" / task_id / "events.jsonl", "ab") as f:
                f.write(blob)
        results["events_bytes_per_task"] = len(blob)
        results["status_ms"] = await measure("codex_status", status_args, cfg.calls)
        results["list_ms"] = await measure("codex_list", {}, cfg.calls)
        results["cpu_ms_per_call"] = cpu
        start = time.perf_counter()
        listing = await srv.resource("codex-swarm:///tasks")
        results["tasks_resource_ms"] = ms(time.perf_counter() - start)
        results["tasks_resource_entries"] = len(listing)
        results["cpu_percent_during"] = psutil.cpu_percent(None)
        results["total_listed"] = (await srv.call("codex_list", {}))["total"]
        cancel_times: list[float] = []

        async def cancel(task_id: str) -> None:
            cancel_times.append(ms(await srv.timed("codex_cancel", {"task_id": task_id})))

        async with anyio.create_task_group() as tg:
            for task_id in running:
                tg.start_soon(cancel, task_id)
        results["cancel_ms"] = stats(cancel_times)
        views = (await srv.call("codex_status", {"task_ids": running}))["tasks"]
        results["cancelled"] = sum(v["status"] == "cancelled" for v in views)
    return {"params": params, "results": results}


def scan_events(path: Path) -> dict[str, Any]:
    longest, output = 0, 0
    with open(path, "rb") as f:
        for line in f:
            longest = max(longest, len(line))
            if b'"item.completed"' in line and b'"command_execution"' in line:
                item = json.loads(line).get("item", {})
                output = max(output, len(item.get("aggregated_output") or ""))
    return {"events_bytes": path.stat().st_size, "longest_line_bytes": longest, "output": output}


async def memory(b: Bench) -> dict[str, Any]:
    sizes = [b.config.output_bytes // 10, b.config.output_bytes]
    line = "0123456789012345678901234567890123456789"
    results: dict[str, Any] = {}
    async with b.server("memory") as srv:
        await srv.wait_all([await srv.launch(b.prompt("warm-up", {"message": "ok"}))])
        results["server_peak_before_mb"] = round(srv.peak_rss() / MB, 1)
        srv.sampler.runners = True
        for size in sizes:
            shell = f"yes {line} | head -c {size}"
            prompt = b.prompt("big output", {"shell": shell}, {"message": "done"})
            srv.sampler.runner_peaks.clear()
            start = time.perf_counter()
            task_id = await srv.launch(prompt, sandbox="danger-full-access")
            task = (await srv.wait_all([task_id]))[0]
            events = scan_events(srv.task_dir / "tasks" / task_id / "events.jsonl")
            results[f"output_{size}"] = {
                "status": task["status"],
                "wall_s": round(time.perf_counter() - start, 2),
                "server_peak_after_mb": round(srv.peak_rss() / MB, 1),
                "runner_peak_mb": round(max(srv.sampler.runner_peaks.values(), default=0) / MB, 1),
                "events_jsonl_bytes": events["events_bytes"],
                "longest_event_line_bytes": events["longest_line_bytes"],
                "aggregated_output_chars": events["output"],
            }
    return {"params": {"output_bytes": sizes, "sandbox": "danger-full-access"}, "results": results}


def git(cwd: Path, *args: str) -> float:
    env = {
        **os.environ,
        "HOME": str(cwd.parent / "home"),  # the benchmark's empty HOME, as the server has
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    start = time.perf_counter()
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def make_repo(path: Path, files: int) -> None:
    """A git repository of ``files`` small files, 50 per directory, 20 directories per parent."""
    for i in range(files):
        leaf = i // 50
        folder = path / f"pkg{leaf // 20:03d}" / f"mod{leaf % 20:02d}"
        if i % 50 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i % 50:02d}.py").write_text(f"VALUE = {i}\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")


async def launch_latency(b: Bench) -> dict[str, Any]:
    cfg = b.config
    repo = b.root / "repo"
    results: dict[str, Any] = {}
    start = time.perf_counter()
    await anyio.to_thread.run_sync(make_repo, repo, cfg.repo_files)
    results["repo_create_s"] = round(time.perf_counter() - start, 2)
    trivial = "Say ok."
    async with b.server("launch") as srv:
        await srv.wait_all([await srv.launch(trivial, sandbox="read-only")])  # warm-up
        ids, times = [], []
        for _ in range(cfg.launches):
            start = time.perf_counter()
            ids.append(await srv.launch(trivial, sandbox="read-only"))
            times.append(ms(time.perf_counter() - start))
        results["codex_async_ms"] = stats(times)
        await srv.wait_all(ids)
        bare, served = [], []

        async def bare_add(i: int) -> float:
            path = str(b.root / "bare-worktrees" / f"wt{i}")
            args = ("worktree", "add", "-q", "-b", f"bench/{i}", path)
            return await anyio.to_thread.run_sync(git, repo, *args)

        async def served_add() -> float:
            start = time.perf_counter()
            task_id = await srv.launch(trivial, sandbox="read-only", cwd=str(repo), worktree=True)
            took = time.perf_counter() - start
            task = (await srv.wait_all([task_id]))[0]
            if task["status"] != "completed":
                raise BenchError(f"worktree task {task_id} ended {task['status']}: {task['error']}")
            return took

        await bare_add(-1)  # warm-ups: the first checkout of a fresh repo is slower for both
        await served_add()
        for i in range(cfg.worktrees):  # alternate which goes first
            if i % 2:
                served.append(await served_add())
                bare.append(await bare_add(i))
            else:
                bare.append(await bare_add(i))
                served.append(await served_add())
        results["git_worktree_add_ms"] = stats([ms(x) for x in bare])
        results["codex_async_worktree_ms"] = stats([ms(x) for x in served])
        results["worktree_ratio"] = round(statistics.fmean(served) / statistics.fmean(bare), 3)
        overhead = statistics.fmean(served) - statistics.fmean(bare)
        results["worktree_overhead_ms"] = ms(overhead)  # absolute: the ratio swings with disk
        results["worktree_ratio_medians"] = round(
            statistics.median(served) / statistics.median(bare), 3
        )
    params = {"launches": cfg.launches, "repo_files": cfg.repo_files, "worktrees": cfg.worktrees}
    return {"params": params, "results": results}


async def burst(b: Bench) -> dict[str, Any]:
    cfg = b.config
    results: dict[str, Any] = {}
    async with b.server("burst", "--max-parallel", str(cfg.burst_parallel)) as srv:
        start = time.perf_counter()
        ids = [
            await srv.launch(b.prompt(f"burst {i}", {"message": f"done {i}"}))
            for i in range(cfg.burst_tasks)
        ]
        results["launch_all_s"] = round(time.perf_counter() - start, 3)
        await srv.wait_all(ids)
        results["wall_s"] = round(time.perf_counter() - start, 3)
        listed = {t["task_id"]: t for t in await srv.resource("codex-swarm:///tasks")}
    mine = [listed[i] for i in ids if i in listed]
    starts = [t["started_at"] or math.inf for t in mine]
    inversions = sum(1 for a, z in itertools.pairwise(starts) if z < a)
    edges = sorted([(t["started_at"], 1) for t in mine] + [(t["ended_at"], -1) for t in mine])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    results.update(
        completed=sum(t["status"] == "completed" for t in mine),
        missing=len(ids) - len(mine),
        not_completed={t["task_id"]: t["status"] for t in mine if t["status"] != "completed"},
        fifo=inversions == 0,
        start_order_inversions=inversions,
        peak_concurrency=peak,
    )
    return {
        "params": {"tasks": cfg.burst_tasks, "max_parallel": cfg.burst_parallel},
        "results": results,
    }


async def landing(b: Bench) -> dict[str, Any]:
    cfg = b.config
    repo = b.root / "repo"
    if not repo.exists():  # section 5 builds it; build it here when run alone
        await anyio.to_thread.run_sync(make_repo, repo, cfg.repo_files)
    n = cfg.land_branches
    results: dict[str, Any] = {}
    async with b.server("land", "--max-parallel", str(min(n, 8))) as srv:
        steps = []
        for i in range(n):
            target = f"pkg{i % 20:03d}/mod{i % 20:02d}/file{i % 50:02d}.py"
            steps.append((f"Edit {target}", f"printf 'VALUE = {i} + 1\\n' > {target}"))
        ids = await worktree_tasks(b, srv, repo, steps)
        branches = [f"codex-swarm/{i}" for i in ids]
        start_tip = main_tip(repo)
        bare = []
        for branch in branches:  # the baseline: git merging the same branches in the checkout
            bare.append(
                await anyio.to_thread.run_sync(
                    git, repo, "merge", "-q", "--no-ff", "--no-edit", branch
                )
            )
        await anyio.to_thread.run_sync(git, repo, "reset", "-q", "--hard", start_tip)
        check = "git ls-files -z | xargs -0 cat > /dev/null"  # reads every file: a real cost
        start = time.perf_counter()
        # One candidate at a time: the check's and the checkout's seconds then add up to wall
        # time, and what is left is the landing's own work per branch.
        out = await srv.call(
            "codex_land",
            {"task_ids": ids, "cwd": str(repo), "check": check, "check_parallel": 1},
        )
        wall = time.perf_counter() - start
        if len(out.get("landed", [])) != n:
            raise BenchError(f"landed {len(out.get('landed', []))} of {n}: {json.dumps(out)}")
        check_s = float(out["seconds"].get("check", 0.0))
        prepare_s = float(out["seconds"].get("checkout", 0.0))
        results["bare_git_merge_ms_per_branch"] = ms(statistics.fmean(bare))
        results["land_ms_per_branch_excluding_check"] = ms((wall - check_s - prepare_s) / n)
        results["check_ms_per_branch"] = ms(check_s / n)
        results["check_checkout_ms_per_branch"] = ms(prepare_s / n)
        results["land_wall_s"] = round(wall, 2)
        per_branch = (wall - check_s - prepare_s) / n
        results["land_vs_bare_ratio"] = round(per_branch / statistics.fmean(bare), 2)
        results["checkout_clean"] = (
            subprocess.run(
                ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
            ).stdout
            == ""
        )
        results["queue"] = await merge_queue_cases(b, srv, repo)
    return {
        "params": {
            "branches": n,
            "repo_files": cfg.repo_files,
            "queue_branches": cfg.queue_branches,
            "queue_check": QUEUE_CHECK,
        },
        "results": results,
    }


async def worktree_tasks(
    b: Bench, srv: Server, repo: Path, steps: list[tuple[str, str]]
) -> list[str]:
    """One worktree task per (title, shell command), all completed on return."""
    ids = []
    for title, shell in steps:
        prompt = b.prompt(title, {"shell": shell})
        ids.append(
            await srv.launch(prompt, cwd=str(repo), worktree=True, sandbox="workspace-write")
        )
    tasks = await srv.wait_all(ids)
    bad = [t["task_id"] for t in tasks if t["status"] != "completed"]
    if bad:
        raise BenchError(f"worktree tasks did not complete: {bad}")
    return ids


def main_tip(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "main"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


# The merge queue's check: one second, failing when a branch added BREAK. A case's cost is the
# landing's wall time in units of that second (the "checks").
QUEUE_CHECK = "sleep 1; test ! -e BREAK"
QUEUE_CASES = (
    # (name, check_parallel, a branch breaks the check, two branches conflict); with 12
    # branches the eighth breaks, and the third and tenth conflict
    ("clean", 1, False, False),
    ("one_breaks", 1, True, False),
    ("one_conflicts", 1, False, True),
    ("one_breaks_parallel_2", 2, True, False),
)


async def merge_queue_cases(b: Bench, srv: Server, repo: Path) -> dict[str, Any]:
    """codex_land of ``queue_branches`` worktree tasks' branches with the one-second check, per
    case, in units of one check; beside it a bare ``git merge`` chain of the same branches
    with the check run once."""
    n = b.config.queue_branches
    out: dict[str, Any] = {}
    # A landing's scratch worktrees are kept for the repository's next landing; the second
    # slot is made here, by a landing of two branches with two slots, so the cases measure
    # the queue rather than adding a worktree of the whole tree (timed apart).
    steps = [(f"queue slots {i}", f"printf 'W = {i}\\n' > queue_slots_{i}.py") for i in range(2)]
    ids = await worktree_tasks(b, srv, repo, steps)
    start = time.perf_counter()
    await srv.call(
        "codex_land", {"task_ids": ids, "cwd": str(repo), "check": "true", "check_parallel": 2}
    )
    out["second_slot_first_landing_s"] = round(time.perf_counter() - start, 2)
    for case, parallel, breaking, conflicting in QUEUE_CASES:
        breaks = (7 * n) // 12 if breaking else None
        conflicts = (n // 6, (3 * n) // 4) if conflicting else None
        steps = []
        for i in range(n):
            if conflicts is not None and i in conflicts:
                shell = f"printf 'shared = {i}\\n' > queue_shared.py"
            else:
                shell = f"printf 'VALUE = {i}\\n' > queue_{case}_{i}.py"
            steps.append((f"queue {case} {i}", shell + (" && touch BREAK" if i == breaks else "")))
        ids = await worktree_tasks(b, srv, repo, steps)
        start_tip = main_tip(repo)
        bare_start = time.perf_counter()  # the baseline: merge every branch, check once
        for task_id in ids:
            with contextlib.suppress(subprocess.CalledProcessError):
                await anyio.to_thread.run_sync(
                    git, repo, "merge", "-q", "--no-ff", "--no-edit", f"codex-swarm/{task_id}"
                )
            await anyio.to_thread.run_sync(
                lambda: subprocess.run(
                    ["git", "merge", "--abort"], cwd=repo, capture_output=True, check=False
                )
            )
        check_start = time.perf_counter()
        await anyio.to_thread.run_sync(
            lambda: subprocess.run(["sh", "-c", QUEUE_CHECK], cwd=repo, check=False)
        )
        check_s = time.perf_counter() - check_start
        bare = time.perf_counter() - bare_start
        await anyio.to_thread.run_sync(git, repo, "reset", "-q", "--hard", start_tip)
        start = time.perf_counter()
        answer = await srv.call(
            "codex_land",
            {"task_ids": ids, "cwd": str(repo), "check": QUEUE_CHECK, "check_parallel": parallel},
        )
        wall = time.perf_counter() - start
        expected = n - (breaks is not None) - (conflicts is not None)
        landed = len(answer.get("landed", []))
        if landed != expected:
            raise BenchError(f"queue case {case}: landed {landed} of {expected}")
        checks = answer.get("checks", {})
        seconds = answer.get("seconds", {})
        rounds = int(checks.get("rounds", 0))
        out[case] = {
            "check_parallel": parallel,
            "landed": landed,
            "check_failed": len(answer.get("check_failed", [])),
            "conflicted": len(answer.get("conflicted", [])),
            "wall_s": round(wall, 2),
            "in_checks": round(wall / 1.0, 2),
            # what the algorithm needs (checks in sequence), and what comes on top of it: the
            # wall time beyond that many runs of the check (git, the queue, the MCP call), of
            # which git building the merges and moving the target on the landing's thread,
            # checking candidates out, and the call around the landing
            "rounds": rounds,
            "runs": int(checks.get("runs", 0)),
            "speculative": int(checks.get("speculative", 0)),
            "check_s": round(check_s, 3),
            "overhead_s": round(wall - rounds * check_s, 2),
            "git_s": float(seconds.get("git", 0.0)),
            "checkout_s": float(seconds.get("checkout", 0.0)),
            "call_s": round(wall - float(seconds.get("total", 0.0)), 2),
            "bare_git_merge_chain_and_one_check_s": round(bare, 2),
        }
    return out


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every process, all cores)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def cpu_ms(proc: psutil.Process) -> float:
    """CPU time of ``proc`` so far in ms: nanoseconds from schedstat on Linux, else ticks."""
    try:
        with open(f"/proc/{proc.pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        t = proc.cpu_times()
        return float(t.user + t.system) * 1000


async def runner_cost(b: Bench) -> dict[str, Any]:
    """What one task's supervisor costs: CPU to start (from fork to Codex running) and unique
    memory (USS) while its task runs, for runners forked from the fork server and, for
    comparison, spawned as new Python processes (CODEX_SWARM_FORKSERVER=0).

    Tasks are launched one at a time, each once the one before is running, so a runner's start
    CPU is its own work rather than the contention of eight Codex processes booting at once on
    the machine's cores (which inflates every process's CPU time); USS is read once all of them
    are running. The same runners launched all at once are reported as ``*_burst``."""
    n = b.config.runner_tasks
    step = f"sleep {b.config.runner_sleep}"
    prompt = b.prompt("runner cost", {"shell": step}, {"message": "done"})
    results: dict[str, Any] = {}
    for label, env in (("forked", "1"), ("spawned", "0")):
        b.base_env["CODEX_SWARM_FORKSERVER"] = env
        try:
            async with b.server(f"runners-{label}", "--max-parallel", str(n)) as srv:
                one_by_one = [await srv.launch(prompt, cwd=str(b.work))]  # the store exists now
                with srv.db() as conn:
                    cpu, _ = await runner_sample(conn, one_by_one)
                    for _ in range(n - 1):
                        one_by_one.append(await srv.launch(prompt, cwd=str(b.work)))
                        cpu.extend((await runner_sample(conn, one_by_one[-1:]))[0])
                    uss = await runner_uss(conn, one_by_one)
                    await srv.wait_all(one_by_one)
                    burst = [await srv.launch(prompt, cwd=str(b.work)) for _ in range(n)]
                    burst_cpu, _ = await runner_sample(conn, burst)
                    await srv.wait_all(burst)
        finally:
            b.base_env.pop("CODEX_SWARM_FORKSERVER", None)
        results[label] = {
            "runner_start_cpu_ms": stats(cpu),
            "runner_uss_mb": stats(uss),
            "runner_start_cpu_ms_burst": stats(burst_cpu),
        }
    return {"params": {"tasks": n, "step": step}, "results": results}


async def runner_sample(
    conn: sqlite3.Connection, ids: list[str], timeout: float = 120
) -> tuple[list[float], list[int]]:
    """Each task's runner CPU (ms) as soon as the task is seen running, polled every 10 ms."""
    cpu: list[float] = []
    pids: list[int] = []
    seen: set[str] = set()
    marks = ",".join("?" * len(ids))
    deadline = time.monotonic() + timeout
    while len(seen) < len(ids) and time.monotonic() < deadline:
        rows = conn.execute(
            f"SELECT id, runner_pid FROM tasks WHERE phase = 'running' AND id IN ({marks})", ids
        ).fetchall()
        for task_id, pid in rows:
            if task_id in seen or not pid:
                continue
            seen.add(task_id)
            with contextlib.suppress(psutil.Error):
                cpu.append(cpu_ms(psutil.Process(pid)))
                pids.append(pid)
        await anyio.sleep(0.01)
    return cpu, pids


async def runner_uss(conn: sqlite3.Connection, ids: list[str]) -> list[float]:
    """Unique memory (MB) of the runners of ``ids`` that are still running."""
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT runner_pid FROM tasks WHERE phase = 'running' AND id IN ({marks})", ids
    ).fetchall()
    uss: list[float] = []
    for (pid,) in rows:
        with contextlib.suppress(psutil.Error):
            uss.append(psutil.Process(pid).memory_full_info().uss / MB)
    return uss


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
DISCOVER = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "server/discover",
    "params": {"_meta": MODERN_META},
}


def first_answers(env: dict[str, str], cwd: Path, opening: dict[str, Any]) -> tuple[float, float]:
    """Seconds from process start to the opening answer, and to the tools/list answer after it."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex_mcp_swarm", "--skip-git-repo-check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        listing: dict[str, Any] = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        if opening["method"] == "initialize":
            follow = [{"jsonrpc": "2.0", "method": "notifications/initialized"}, listing]
        else:
            follow = [{**listing, "params": {"_meta": MODERN_META}}]
        proc.stdin.write((json.dumps(opening) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        opened = time.perf_counter() - start
        if "result" not in answer:
            raise BenchError(f"no answer to {opening['method']}: {answer}")
        for message in follow:
            proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        listed = time.perf_counter() - start
        if "codex_async" not in json.dumps(answer):
            raise BenchError(f"no tool list: {answer}")
        return opened, listed
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def startup(b: Bench) -> dict[str, Any]:
    starts = b.config.starts
    env = {**b.base_env, "CODEX_SWARM_TASK_DIR": str(b.root / "startup" / "tasks")}
    env["CODEX_SWARM_CODEX_BIN"] = b.codex
    results: dict[str, Any] = {}
    for label, opening in (("initialize", INITIALIZE), ("discover", DISCOVER)):
        times = [first_answers(env, b.work, opening) for _ in range(starts)]
        results[f"{label}_ms"] = stats([ms(t[0]) for t in times])
        results[f"tools_list_after_{label}_ms"] = stats([ms(t[1]) for t in times])
    return {"params": {"starts": starts}, "results": results}


def chars_per_task(answer: dict[str, Any]) -> float:
    """Compact-JSON characters of a wait answer per task, without the agents' own messages."""
    whole = len(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))
    own = sum(
        len(json.dumps(t.get("content", ""), ensure_ascii=False)) - 2 for t in answer["tasks"]
    )
    return round((whole - own) / max(1, len(answer["tasks"])), 1)


async def answer_size(b: Bench) -> dict[str, Any]:
    repo = b.root / "answer-repo"
    make_repo(repo, 10)
    results: dict[str, Any] = {}
    async with b.server("answers") as srv:
        plain = await srv.launch(b.prompt("plain", {"shell": "echo hi"}, {"message": "said hi"}))
        out = await srv.call("codex_wait", {"task_ids": [plain], "timeout": 300})
        results["one_command_task_chars"] = chars_per_task(out)
        patch = "*** Add File: notes.txt\n+a note"
        wt = await srv.launch(
            b.prompt("worktree", {"patch": patch}, {"message": "added a note"}),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )
        out = await srv.call("codex_wait", {"task_ids": [wt], "timeout": 300})
        results["worktree_task_chars"] = chars_per_task(out)
        results["worktree_task_answer"] = out
        results.update(await land_answer_size(b, srv, repo))
    return {"params": {"land_tasks": len(LAND_STEPS), "land_check": LAND_CHECK}, "results": results}


# A landing of six worktree tasks: four land, one conflicts with an earlier one, one breaks the
# check (which then prints 40 lines, the last naming the cause).
LAND_CHECK = "test ! -e BREAK || { seq 1 40; echo 'BREAK must not be in the tree'; exit 1; }"
LAND_STEPS = (
    "printf 'one\\n' > land_one.txt",
    "printf 'two\\n' > land_two.txt",
    "printf 'a\\n' > land_shared.txt",
    "printf 'b\\n' > land_shared.txt",
    "printf 'broken\\n' > land_broken.txt && touch BREAK",
    "printf 'three\\n' > land_three.txt",
)


async def land_answer_size(b: Bench, srv: Server, repo: Path) -> dict[str, Any]:
    """Characters of a ``codex_land`` answer's structuredContent per task (compact JSON)."""
    ids = [
        await srv.launch(
            b.prompt(f"land {n}", {"shell": step}, {"message": "done"}),
            cwd=str(repo),
            worktree=True,
            sandbox="workspace-write",
        )
        for n, step in enumerate(LAND_STEPS)
    ]
    tasks = await srv.wait_all(ids, timeout=300)
    bad = [t["task_id"] for t in tasks if t["status"] != "completed"]
    if bad:
        raise BenchError(f"landing tasks did not complete: {bad}")
    out = await srv.call("codex_land", {"task_ids": ids, "cwd": str(repo), "check": LAND_CHECK})
    fates = {k: len(out.get(k, [])) for k in ("landed", "conflicted", "check_failed")}
    if fates != {"landed": 4, "conflicted": 1, "check_failed": 1}:
        raise BenchError(f"the landing did not go as planned: {json.dumps(out)}")
    whole = len(json.dumps(out, separators=(",", ":"), ensure_ascii=False))
    return {"land_chars_per_task": round(whole / len(ids), 1), "land_answer": out}


async def tool_definitions(b: Bench) -> dict[str, Any]:
    """What the server's tools cost an orchestrating model: the pinned Codex as the MCP client
    starts the server (``codex exec`` with an ``[mcp_servers.codex-swarm]`` block) and the fake
    model reads the request body; and the size of ``tools/list`` itself."""
    state = b.root / "definitions" / "state"
    home = b.root / "definitions" / "orchestrator-home"
    home.mkdir(parents=True)
    server_env = {
        **b.base_env,
        "CODEX_SWARM_TASK_DIR": str(state / "tasks"),
        "CODEX_SWARM_WORKTREE_DIR": str(state / "worktrees"),
        "CODEX_SWARM_CODEX_BIN": b.codex,
    }
    block = [
        "[mcp_servers.codex-swarm]",
        f"command = {json.dumps(sys.executable)}",
        'args = ["-m", "codex_mcp_swarm", "--skip-git-repo-check"]',
        "required = true",
        "startup_timeout_sec = 60",
        'default_tools_approval_mode = "approve"',
        "",
        "[mcp_servers.codex-swarm.env]",
        *(f"{key} = {json.dumps(value)}" for key, value in server_env.items()),
    ]
    own = (b.home / "config.toml").read_text()
    (home / "config.toml").write_text(own + "\n" + "\n".join(block) + "\n")
    marker = f"definitions-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [b.codex, "exec", "--json", "--skip-git-repo-check", "-"],
        input=b.prompt(marker, {"message": "measured"}),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=b.work,
        env={**b.base_env, "CODEX_HOME": str(home)},
    )
    bodies = [r for r in b.model.requests if marker in json.dumps(r)]
    if done.returncode != 0 or not bodies:
        raise BenchError(f"codex exec as the client failed: {done.stderr[-2000:]}")
    offered = fake_model.offered_namespace(bodies[0], "mcp__codex_swarm")
    if offered is None:
        raise BenchError("Codex offered its model no mcp__codex_swarm tools")
    results: dict[str, Any] = {
        "tools": len(offered["tools"]),
        "codex_sends_chars": fake_model.sent_chars(offered),
        "namespace_description_chars": len(offered.get("description", "")),
        "per_tool_chars": {t["name"]: fake_model.sent_chars(t) for t in offered["tools"]},
    }
    async with b.server("definitions-list") as srv:
        listed = await srv.client.list_tools()
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    results["tools_list_chars"] = fake_model.sent_chars(tools)
    results["output_schemas_chars"] = sum(
        fake_model.sent_chars(t.get("outputSchema", {})) for t in tools
    )
    return {"params": {"codex": "as pinned"}, "results": results}


GIT_STALL = 2.0  # seconds the section-12 repository's post-checkout hook sleeps


def http_client(url: str) -> Client:
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(timeout=120)))


async def loop_stall(b: Bench) -> dict[str, Any]:
    cfg = b.config
    repo = b.root / "stall-repo"
    make_repo(repo, 10)
    hook = repo / ".git" / "hooks" / "post-checkout"  # git worktree add runs it: 2 s in git
    hook.write_text(f"#!/bin/sh\nsleep {GIT_STALL}\n")
    hook.chmod(0o755)
    quick = b.prompt("quick", {"message": "done"})
    long = b.prompt("holds the slot", {"delay": 600, "message": "late"})
    results: dict[str, Any] = {}
    flags = ("--max-parallel", "1")
    async with b.http_server("stall", *flags) as (url, fast), http_client(url) as other:
        slow = Server(other, fast.task_dir, fast.pid, fast.sampler)  # a second client
        first = await fast.launch(quick)
        await fast.wait_all([first])
        # A long task holds the only slot, so the slow calls' tasks stay queued while we measure:
        # their Codex processes would otherwise compete for the cores with the server.
        holder = await fast.launch(long)
        status_args = {"task_ids": [first, holder]}
        idle = [ms(await fast.timed("codex_status", status_args)) for _ in range(cfg.calls)]
        during: list[float] = []
        slow_s: list[float] = []
        started: list[str] = []
        for _ in range(cfg.stalls):
            done = anyio.Event()

            async def slow_call(done: anyio.Event = done) -> None:
                start = time.perf_counter()
                started.append(await slow.launch(quick, cwd=str(repo), worktree=True))
                slow_s.append(time.perf_counter() - start)
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)
                while not done.is_set():
                    during.append(ms(await fast.timed("codex_status", status_args)))
        await fast.call("codex_cancel", {"task_id": holder})
        tasks = await fast.wait_all(started)
        results["slow_call_s"] = stats(slow_s)
        results["status_idle_ms"] = stats(idle)
        results["status_during_ms"] = stats(during)
        results["slow_tasks_completed"] = sum(t["status"] == "completed" for t in tasks)
    params = {"git_stall_s": GIT_STALL, "stalls": cfg.stalls, "idle_calls": cfg.calls}
    return {"params": params, "results": results}


SECTIONS: dict[str, tuple[str, Callable[[Bench], Awaitable[dict[str, Any]]]]] = {
    "1": ("parallel_efficiency", parallel_efficiency),
    "2": ("wake_latency", wake_latency),
    "3": ("status_list_latency", status_latency),
    "4": ("memory", memory),
    "5": ("launch_latency", launch_latency),
    "6": ("burst_fifo", burst),
    "7": ("runner_cost", runner_cost),
    "8": ("landing", landing),
    "9": ("startup", startup),
    "10": ("answer_size", answer_size),
    "11": ("tool_definitions", tool_definitions),
    "12": ("loop_stall", loop_stall),
}


# ---- report ----------------------------------------------------------------------------------


def machine(codex: str) -> dict[str, Any]:
    def run(*argv: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO)
            return out.stdout.strip()
        return ""

    from importlib.metadata import version

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "codex": run(codex, "--version"),
        "git": run("git", "--version"),
        "mcp_sdk": version("mcp"),
        "codex_mcp_swarm": version("codex-mcp-swarm"),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
        "worktree_dirty": bool(run("git", "status", "--porcelain")),
    }


TARGETS = {
    "parallel_efficiency": {"ratio": "<= 1.05"},
    "wake_latency": {"codex_exit_to_answer_ms": "p50 < 20"},
    "status_list_latency": {"status_ms": "p99 < 10", "list_ms": "p99 < 10"},
    "memory": {"server_peak_before_mb": "< 150", "server_peak_after_mb": "< 150"},
    "launch_latency": {"codex_async_ms": "p99 < 20", "worktree_ratio": "< 1.2"},
    "runner_cost": {"runner_start_cpu_ms": "< 10 (forked)", "runner_uss_mb": "< 4 (forked)"},
    "startup": {"initialize_ms": "p50 < 300", "discover_ms": "p50 < 300"},
    "answer_size": {
        "one_command_task_chars": "< 250",
        "worktree_task_chars": "< 450",
        "land_chars_per_task": "< 120",
    },
    "tool_definitions": {"codex_sends_chars": "<= 14000"},
    "loop_stall": {"status_during_ms": "p99 < 20", "slow_call_s": f"> {GIT_STALL} (in git)"},
}


def table(report: dict[str, Any]) -> str:
    """Every result as one line: ``section  metric  value  target``."""
    rows: list[tuple[str, str, str]] = []

    def flat(section: str, prefix: str, value: Any) -> None:
        last = prefix.rsplit(".", 1)[-1]
        if isinstance(value, dict) and "n" in value:  # a latency distribution
            shown = f"p50 {value.get('p50')}  p99 {value.get('p99')}  (n={value['n']})"
        elif isinstance(value, dict) and value:
            for key, inner in value.items():
                flat(section, f"{prefix}.{key}" if prefix else key, inner)
            return
        elif isinstance(value, list) and len(value) > 8:
            shown = f"[{len(value)} items]"
        else:
            shown = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        rows.append((prefix, shown, TARGETS.get(section, {}).get(last, "")))

    for name, section in report["sections"].items():
        rows.append((f"== {name} ({section.get('duration_s')} s)", "", ""))
        if "error" in section:
            rows.append(("ERROR", section["error"].strip().splitlines()[-1], ""))
            continue
        flat(name, "", section["results"])
    rows.append(("== servers", "", ""))
    for label, info in report["servers"].items():
        shown = (
            f"peak RSS {info['peak_rss_mb']} MB, {len(info['stray_processes_after_exit'])} "
            f"strays after exit, {len(info.get('log_errors', []))} log errors"
        )
        rows.append((f"{label} {' '.join(info['flags'])}".strip(), shown, "RSS < 150 MB"))
    width = max(len(r[0]) for r in rows) + 2
    vwidth = min(60, max(len(r[1]) for r in rows)) + 2
    return "\n".join(
        f"{n:<{width}}{v:<{vwidth}}{('target ' + t) if t else ''}".rstrip() for n, v, t in rows
    )


async def run(config: Config, sections: list[str], codex: str, root: Path) -> dict[str, Any]:
    bench = Bench(config, root, codex)
    report: dict[str, Any] = {
        "config": asdict(config),
        "machine": machine(codex),
        "started_at": time.time(),
        "sections": {},
        "servers": bench.servers,
    }
    try:
        for key in sections:
            name, fn = SECTIONS[key]
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                report["sections"][name] = await fn(bench)
            except Exception:
                report["sections"][name] = {"error": traceback.format_exc()}
                print(report["sections"][name]["error"], file=sys.stderr)
            report["sections"][name]["duration_s"] = round(time.perf_counter() - start, 1)
    finally:
        strays = bench_processes(bench.home)
        report["stray_processes_at_end"] = [" ".join(p.cmdline())[:200] for p in strays]
        stop_processes(strays)
        bench.model.stop()
        report["fake_model_requests"] = len(bench.model.requests)
    report["duration_s"] = round(time.time() - report["started_at"], 1)
    return report


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="the small configuration (CI)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "latest.json")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, e.g. 1,3")
    parser.add_argument("--latency", type=float, help="fake model seconds per request")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (stores, logs)")
    parser.add_argument(
        "--ray",
        action="store_true",
        help="instead: the Ray backend on a local cluster vs the local one (bench_ray.py; root)",
    )
    args, rest = parser.parse_known_args()
    if args.ray:
        sys.path.insert(0, str(Path(__file__).parent))
        bench_ray: Any = importlib.import_module("bench_ray")
        return int(bench_ray.main(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    config = SMALL if args.small else FULL
    if args.latency is not None:
        config = Config(**{**asdict(config), "latency": args.latency})
    override = os.environ.get("CODEX_SWARM_TEST_CODEX")
    codex = override or str(REPO / ".cache" / "codex" / "node_modules" / ".bin" / "codex")
    if not Path(codex).exists():
        print(f"bench: no Codex CLI at {codex}: run scripts/test or set CODEX_SWARM_TEST_CODEX")
        return 2
    sections = [s.strip() for s in args.sections.split(",") if s.strip() in SECTIONS]
    root = Path(tempfile.mkdtemp(prefix="codex-swarm-bench-"))
    signal.signal(signal.SIGTERM, _interrupt)  # a CI timeout: stop everything like Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)
    try:
        report = anyio.run(run, config, sections, codex, root)
    except KeyboardInterrupt as exc:
        print(f"bench: interrupted ({exc}); stopping what it started", file=sys.stderr)
        return 130
    finally:  # the backstop: whatever happened above, stop every process this run started
        stop_processes(bench_processes(root / "codex-home"))
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"codex-mcp-swarm benchmark ({config.name}), {report['duration_s']} s")
    print(", ".join(f"{k}: {v}" for k, v in report["machine"].items()))
    print(table(report))
    if report["stray_processes_at_end"]:
        print(f"stray processes stopped at the end: {report['stray_processes_at_end']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}" + (f"; kept {root}" if args.keep else ""))
    return 1 if any("error" in v for v in report["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
