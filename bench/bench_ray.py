"""Benchmark of the Ray backend against the local backend (``bench/bench.py --ray``, or run this
file directly). Needs root (the cluster runs in a network namespace, see tests/ray_cluster.py)
and the ``ray`` package (the dev group has it).

A local cluster: a head without CPUs, two worker nodes with ``codex: 4`` each; the fake model
and the servers run in the same namespace. Measured:

1. throughput: wall time of N short tasks (default 32) through ``--backend ray`` on the two
   worker nodes vs the same tasks through the local backend, both at ``--max-parallel 8``;
2. per-task overhead, one task at a time: launch (the task's ``created_at``) -> Codex started
   (its process start time, from the store that ran it: the worker's node-local store for Ray)
   and the task's recorded end (runner) -> the ``codex_wait`` answer at the client.

Numbers are printed and written to JSON, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fake_model import script  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from ray_cluster import RayCluster  # noqa: E402


def codex_home(path: Path, base_url: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(
        f'model = "mock-model"\nmodel_provider = "mock"\n\n[model_providers.mock]\n'
        f'name = "mock"\nbase_url = "{base_url}"\nwire_api = "responses"\n'
        f'env_key = "MOCK_API_KEY"\nrequest_max_retries = 0\nstream_max_retries = 0\n'
    )
    return path


@asynccontextmanager
async def server(
    cluster: RayCluster, root: Path, label: str, codex: str, *flags: str
) -> AsyncIterator[Client]:
    state = root / label
    (state / "home").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(state / "home"),
        "CODEX_HOME": str(root / "server-codex-home"),
        "MOCK_API_KEY": "test-key",
        "CODEX_SWARM_TASK_DIR": str(state / "tasks"),
        "CODEX_SWARM_WORKTREE_DIR": str(state / "worktrees"),
        "CODEX_SWARM_CODEX_BIN": codex,
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    argv = [
        *cluster.prefix(),
        sys.executable,
        "-m",
        "codex_mcp_swarm",
        "--skip-git-repo-check",
        "--max-parallel",
        "8",
        *flags,
    ]
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(root))
    async with Client(params, mode="auto") as client:
        yield client


def row_times(db: Path, task_id: str) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT created_at, codex_ctime, ended_at FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
    finally:
        conn.close()
    return {"created_at": row[0], "codex_ctime": row[1], "ended_at": row[2]} if row else {}


async def tasks(client: Client, n: int, text: str, cwd: Path) -> list[str]:
    ids = []
    for i in range(n):
        result = await client.call_tool(
            "codex_async",
            {"prompt": script({"message": f"ok {i}"}, text=f"{text} {i}"), "cwd": str(cwd)},
        )
        assert not result.is_error, result.content
        ids.append(str(result.structured_content["task_id"]))
    return ids


async def wait(client: Client, ids: list[str]) -> list[dict[str, Any]]:
    result = await client.call_tool("codex_wait", {"task_ids": ids, "timeout": 1800})
    assert not result.is_error, result.content
    return list(result.structured_content["tasks"])


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(ms[-1], 1),
    }


async def run(n: int, overhead_n: int, codex: str, root: Path) -> dict[str, Any]:
    cluster = RayCluster(root)
    report: dict[str, Any] = {"tasks": n}
    try:
        cluster.start_namespace()
        url = cluster.start_model()
        codex_home(root / "server-codex-home", url)
        t0 = time.perf_counter()
        cluster.start_head()
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = root / f"{name}-swarm"
            cluster.add_worker(
                name,
                codex=4,
                env={
                    "HOME": str(root),
                    "CODEX_HOME": str(codex_home(root / f"{name}-codex-home", url)),
                    "CODEX_SWARM_CODEX_BIN": codex,
                    "CODEX_SWARM_WORKER_DIR": str(workers[name]),
                    "MOCK_API_KEY": "test-key",
                },
            )
        report["cluster_start_s"] = round(time.perf_counter() - t0, 1)
        work = root / "work"
        work.mkdir()
        flags = {"local": (), "ray": ("--backend", "ray", "--ray-address", cluster.address)}
        for label, extra in flags.items():
            async with server(cluster, root, label, codex, *extra) as client:
                # Throughput: n short tasks at once.
                start = time.perf_counter()
                ids = await tasks(client, n, f"{label} burst", work)
                done = await wait(client, ids)
                wall = time.perf_counter() - start
                ok = sum(t["status"] == "completed" for t in done)
                report[f"{label}_wall_s"] = round(wall, 2)
                report[f"{label}_completed"] = ok
                if label == "ray":
                    nodes = {t.get("node", {}).get("node_id") for t in done}
                    report["ray_nodes_used"] = len(nodes - {None})
                # Overhead: one task at a time.
                to_codex, to_answer = [], []
                for i in range(overhead_n):
                    (task_id,) = await tasks(client, 1, f"{label} single {i}", work)
                    await wait(client, [task_id])
                    answered = time.time()
                    if label == "local":
                        times = row_times(root / label / "tasks" / "tasks.db", task_id)
                    else:
                        times = {}
                        for path in workers.values():
                            db = path / "tasks" / "tasks.db"
                            if db.exists():
                                times = row_times(db, task_id) or times
                        server_times = row_times(root / label / "tasks" / "tasks.db", task_id)
                        times["created_at"] = server_times["created_at"]
                    to_codex.append(times["codex_ctime"] - times["created_at"])
                    to_answer.append(answered - times["ended_at"])
                report[f"{label}_launch_to_codex_start"] = summary(to_codex)
                report[f"{label}_end_to_wait_answer"] = summary(to_answer)
    finally:
        cluster.stop()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--overhead", type=int, default=5, help="single tasks for the overhead")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "ray.json")
    args = parser.parse_args(argv)
    codex = str(REPO / ".cache" / "codex" / "node_modules" / ".bin" / "codex")
    root = Path(tempfile.mkdtemp(prefix="cms-bench-ray-"))
    report = anyio.run(run, args.tasks, args.overhead, codex, root)
    print(json.dumps(report, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
