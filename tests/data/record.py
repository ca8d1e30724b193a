"""Record real ``codex exec --json`` output into the JSONL fixtures next to this file.

Run from the repository root with::

    uv run python tests/data/record.py            # every scenario
    uv run python tests/data/record.py basic      # only the named ones

It starts the scriptable fake model (``tests/fake_model.py``) on loopback, writes a throwaway
``CODEX_HOME/config.toml`` that points Codex at it (``model_provider = "mock"``, no retries), and
runs the real Codex CLI (``.cache/codex/node_modules/.bin/codex``, or ``$CODEX_BIN``) as

    codex exec --json --skip-git-repo-check -s workspace-write -

in a temporary working directory, with the prompt on stdin and ``CODEX_HOME``/``MOCK_API_KEY`` in
its environment. Stdout is saved verbatim to ``tests/data/<name>.jsonl``:

``basic``
    reasoning, a shell ``echo hi``, an ``apply_patch`` adding a file, then a final message.
``failed``
    the model answers HTTP 400, so the turn fails (``error`` + ``turn.failed``).
``resume``
    one turn, then a second one on the same thread with
    ``codex exec --json --skip-git-repo-check resume <thread_id> -``; both runs' lines are saved
    one after the other, so the second ``turn.completed`` carries the thread's cumulative usage.

``mcp``
    the model calls a tool of an MCP server (this project's own server over stdio, declared in
    the config.toml with ``required = true`` and ``default_tools_approval_mode = "approve"``):
    ``codex_list`` (answered) and ``codex_status`` without its required argument (an error the
    server answers), then a final message: ``mcp_tool_call`` items with ``result`` and ``error``.
``reconnect``
    the provider's ``base_url`` is a loopback port nothing listens on: Codex reports each
    reconnect as an ``error`` event (``Reconnecting... waiting for network (...)``) and, in 0.171,
    never gives up by itself. After two of those lines Codex gets SIGINT (as a runner stops it)
    and what it prints until it exits is kept too.

``todo.jsonl`` is *not* recorded here: the fake model can only call ``exec_command``, never
``update_plan``, so Codex never emits a ``todo_list`` item for it. That fixture is written by hand
from the ``todo_list`` item schema (``{"type": "todo_list", "items": [{"text": ..., "completed":
...}]}``, sent as ``item.started`` then ``item.updated``); this script leaves it alone.

The recorded lines depend on the Codex version (0.171.0 when these were made) and carry fresh
thread ids and temp paths on each run; tests must not depend on those exact values.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent
ROOT = DATA.parent.parent
sys.path.insert(0, str(DATA.parent))

from conftest import write_codex_home  # noqa: E402
from fake_model import FakeModel, script  # noqa: E402

CODEX = os.environ.get("CODEX_BIN") or str(ROOT / ".cache/codex/node_modules/.bin/codex")

PATCH = "*** Add File: hello.txt\n+hello"

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "basic": [
        {"reasoning": "I should say hi, then add a file.", "shell": "echo hi"},
        {"patch": PATCH},
        {"message": "Said hi and added hello.txt."},
    ],
    "failed": [{"error": 400}],
    "resume": [{"shell": "echo first"}, {"message": "first turn done"}],
    "mcp": [
        {
            "mcp": [
                {"namespace": "mcp__swarm", "name": "codex_list", "arguments": {}},
                {"namespace": "mcp__swarm", "name": "codex_status", "arguments": {}},
            ]
        },
        {"message": "Listed the tasks."},
    ],
    "reconnect": [{"message": "never answered"}],
}
RESUME_SECOND = [{"message": "second turn done"}]


def run_codex(home: Path, workdir: Path, prompt: str, extra: list[str]) -> str:
    env = {**os.environ, "CODEX_HOME": str(home), "MOCK_API_KEY": "x"}
    env.pop("OPENAI_API_KEY", None)
    argv = [CODEX, "exec", "--json", "--skip-git-repo-check", *extra, "-"]
    proc = subprocess.run(
        argv,
        input=prompt,
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    print(f"  {' '.join(argv[1:])}: exit {proc.returncode}", file=sys.stderr)
    return proc.stdout


def mcp_server_block(state: Path) -> str:
    """This project's server as an MCP server of the recording Codex, with its own task dir."""
    env = {
        "CODEX_SWARM_TASK_DIR": str(state / "tasks"),
        "CODEX_SWARM_WORKTREE_DIR": str(state / "worktrees"),
        "PATH": os.environ.get("PATH", ""),
    }
    lines = [
        "[mcp_servers.swarm]",
        f"command = {json.dumps(sys.executable)}",
        'args = ["-m", "codex_mcp_swarm", "--skip-git-repo-check"]',
        "required = true",
        'default_tools_approval_mode = "approve"',
        "[mcp_servers.swarm.env]",
        *(f"{key} = {json.dumps(value)}" for key, value in env.items()),
    ]
    return "\n" + "\n".join(lines) + "\n"


def run_until_reconnects(home: Path, workdir: Path, prompt: str, count: int) -> str:
    """Run Codex until it has reported ``count`` reconnects, then SIGINT it; all it printed."""
    env = {**os.environ, "CODEX_HOME": str(home), "MOCK_API_KEY": "x"}
    env.pop("OPENAI_API_KEY", None)
    argv = [CODEX, "exec", "--json", "--skip-git-repo-check", "-"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=workdir, env=env, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(prompt)
    proc.stdin.close()
    out, seen = [], 0
    for line in proc.stdout:
        out.append(line)
        if '"Reconnecting...' in line:
            seen += 1
            if seen == count:
                proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    print(f"  {' '.join(argv[1:])}: SIGINT after {count} reconnects, exit {code}", file=sys.stderr)
    return "".join(out)


def thread_id(stdout: str) -> str:
    for line in stdout.splitlines():
        data = json.loads(line)
        if data.get("type") == "thread.started":
            return str(data["thread_id"])
    raise SystemExit("no thread.started line in the first run's output")


def record(name: str, model: FakeModel) -> None:
    with tempfile.TemporaryDirectory(prefix="codex-record-") as tmp:
        home = Path(tmp, "home")
        workdir = Path(tmp, "work")
        home.mkdir()
        workdir.mkdir()
        print(f"recording {name}", file=sys.stderr)
        prompt = script(*SCENARIOS[name])
        if name == "reconnect":
            with socket.socket() as dead:  # bound, never listening: connections are refused
                dead.bind(("127.0.0.1", 0))
                write_codex_home(home, f"http://127.0.0.1:{dead.getsockname()[1]}/v1")
                out = run_until_reconnects(home, workdir, prompt, 2)
            (DATA / f"{name}.jsonl").write_text(out)
            return
        config = write_codex_home(home, model.base_url) / "config.toml"
        if name == "mcp":
            config.write_text(config.read_text() + mcp_server_block(Path(tmp, "state")))
        out = run_codex(home, workdir, prompt, ["-s", "workspace-write"])
        if name == "resume":
            second = script(*RESUME_SECOND, text="again")
            out += run_codex(home, workdir, second, ["resume", thread_id(out)])
    (DATA / f"{name}.jsonl").write_text(out)


def main(names: list[str]) -> None:
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {sorted(SCENARIOS)}")
    model = FakeModel().start()
    try:
        for name in names or list(SCENARIOS):
            record(name, model)
    finally:
        model.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
