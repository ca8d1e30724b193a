"""A real local Ray cluster for the Ray backend's tests, inside a network namespace.

Ray 2.60 replaces a loopback ``--node-ip-address`` with the host's address when the host has
one, so a test cluster on the host would listen beyond loopback. Everything here runs inside a
fresh network namespace that has only its loopback (``ip netns``; the tests run as root): the
head (no CPUs, no ``codex``), worker nodes (``--resources '{"codex": N}'``, each with its own
``--temp-dir``, ``CODEX_HOME``, Codex binary and node-local swarm directory), the fake model,
and the server under test. Ports inside the namespace are the namespace's own.

Every node is ``ray start --block`` in a session of its own, so a test stops exactly what it
started: a node is "killed" by SIGKILL to every process of its session, and :meth:`stop` kills
every process left in the namespace before deleting it (never ``ray stop``, which would stop
every Ray process on the machine).

Ray's raylet gives its agents 15 s to report their ports and aborts otherwise; on a loaded
2-core machine a Python agent can need longer. Each node's session therefore gets a higher
scheduler share (its autogroup nice value, Linux) and a node that fails to start is retried.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
HEAD_PORT = 6380
MODEL_PORT = 18080
START_TIMEOUT = 120.0


def _ray_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    env.pop("RAY_ADDRESS", None)
    env.update(extra or {})
    return env


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    temp_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def session_pids(self) -> list[int]:
        pids = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getsid(proc.pid) == self.proc.pid:
                    pids.append(proc.pid)
        return pids


class RayCluster:
    """``start()``, use ``address``/``exec()``/``popen()``, ``kill_node()``, ``stop()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.netns = f"cmsray{uuid.uuid4().hex[:8]}"
        self.nodes: dict[str, Node] = {}
        self.address = f"127.0.0.1:{HEAD_PORT}"
        self.model: subprocess.Popen[bytes] | None = None
        self._extra: list[subprocess.Popen[bytes]] = []

    # ---- the namespace -----------------------------------------------------------------------

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    def start_namespace(self) -> None:
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run([*self.prefix(), "ip", "link", "set", "lo", "up"], check=True)

    def popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """A process inside the namespace (the caller owns it)."""
        return subprocess.Popen([*self.prefix(), *argv], **kwargs)  # type: ignore[call-overload,no-any-return]

    # ---- nodes -------------------------------------------------------------------------------

    def _start_node(self, name: str, args: list[str], env: dict[str, str]) -> Node:
        temp = Path("/tmp") / f"{self.netns}-{name}"  # short: Ray puts unix sockets there
        log = self.root / f"{name}.log"
        command = " ".join(
            [
                "echo -10 > /proc/self/autogroup 2>/dev/null;",
                "exec",
                str(VENV_BIN / "ray"),
                "start",
                "--block",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
                *(f"'{a}'" for a in args),
            ]
        )
        for attempt in range(3):
            start = log.stat().st_size if log.exists() else 0
            with open(log, "ab") as out:
                proc = self.popen(
                    ["sh", "-c", command],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=_ray_env(env),
                    start_new_session=True,
                )
            node = Node(name, proc, log, temp, env)
            if self._started(node, start):
                self.nodes[name] = node
                return node
            self._kill(node)
            if attempt == 2:
                raise AssertionError(f"Ray node {name} did not start: {log.read_text()[-3000:]}")
        raise AssertionError("unreachable")

    def _started(self, node: Node, start: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(node.log, "rb") as f:
                f.seek(start)
                if b"Ray runtime started" in f.read():
                    return True
            if node.proc.poll() is not None:
                return False
            time.sleep(0.3)
        return False

    def start_head(self) -> None:
        self._start_node(
            "head",
            [
                "--head",
                f"--port={HEAD_PORT}",
                "--num-cpus=0",
                "--include-dashboard=false",
                "--node-ip-address=127.0.0.1",
            ],
            {},
        )

    def add_worker(self, name: str, *, codex: int | None, env: dict[str, str]) -> Node:
        resources = json.dumps({"codex": codex}) if codex else "{}"
        return self._start_node(
            name,
            [
                f"--address={self.address}",
                "--num-cpus=1",
                f"--resources={resources}",
                "--node-ip-address=127.0.0.1",
            ],
            env,
        )

    def start_model(self) -> str:
        self.model = self.popen(
            [sys.executable, str(REPO / "tests" / "fake_model.py"), "--port", str(MODEL_PORT)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self.model.stdout is not None
        self.model.stdout.readline()  # the port: it listens
        return f"http://127.0.0.1:{MODEL_PORT}/v1"

    # ---- stopping ----------------------------------------------------------------------------

    def _kill(self, node: Node) -> None:
        for _ in range(5):
            pids = node.session_pids()
            if not pids and node.proc.poll() is not None:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(2)
            time.sleep(0.2)

    def kill_node(self, name: str) -> None:
        """SIGKILL every process of the node (as if its host went down)."""
        self._kill(self.nodes.pop(name))

    def namespace_pids(self) -> list[int]:
        out = subprocess.run(
            ["ip", "netns", "pids", self.netns], capture_output=True, text=True, check=False
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        for node in list(self.nodes.values()):
            self._kill(node)
        self.nodes.clear()
        for _ in range(20):
            pids = self.namespace_pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        if self.model is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.model.wait(5)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)
        for path in Path("/tmp").glob(f"{self.netns}-*"):
            subprocess.run(["rm", "-rf", str(path)], check=False)
