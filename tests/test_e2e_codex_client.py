"""The real Codex CLI as the orchestrating MCP client of this server.

``codex exec`` reads a config.toml whose ``[mcp_servers.codex-swarm]`` block is the README's own
(only the clone's path filled in, plus an ``env`` table that points the server at this test's
directories), starts the server over stdio itself, and offers its tools to the (fake) model. The
first test measures those tool definitions as Codex sends them. In the second, the model's script
makes it call ``codex_async`` three times (two calls in one response, as parallel
tool calls), then ``codex_wait``, then answer. The tasks the server starts run the same pinned
Codex against the same fake model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import REPO, requests_with, server_env, write_codex_home
from fake_model import FakeModel, offered_namespace, script, sent_chars
from test_e2e_tools import TOOLS

NAMESPACE = "mcp__codex_swarm"  # Codex's name for the server's tools: "mcp__" + name, "-" -> "_"
# What the server's 14 tool definitions may cost the orchestrating model on every request, in
# characters of Codex's request body (issue 21: at most 14,000; 0.1.0's were 16,824).
DEFINITIONS_BUDGET = 14_000


def readme_codex_block() -> str:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.DOTALL)
    block: str = next(b for b in blocks if "[mcp_servers.codex-swarm]" in b)
    return block.replace("/path/to/codex-mcp-swarm", str(REPO))


def toml_table(name: str, values: dict[str, str]) -> str:
    lines = [f"[{name}]"] + [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"namespace": NAMESPACE, "name": name, "arguments": arguments}


def output_text(item: dict[str, Any]) -> str:
    out = item.get("output")
    if isinstance(out, list):
        return "".join(str(part.get("text", "")) for part in out if isinstance(part, dict))
    return str(out)


def orchestrate(
    codex: str, codex_home: Path, fake_model: FakeModel, tmp_path: Path, cwd: Path, prompt: str
) -> subprocess.CompletedProcess[str]:
    """``codex exec`` with the README's server block (this test's directories in its env) on
    ``prompt``, against the fake model."""
    task_dir = tmp_path / "state" / "tasks"
    block = readme_codex_block()
    assert "default_tools_approval_mode" in block and "required = true" in block
    env = server_env(codex, codex_home, task_dir)
    orchestrator_home = write_codex_home(tmp_path / "orchestrator-home", fake_model.base_url)
    config = orchestrator_home / "config.toml"
    config.write_text(
        config.read_text() + "\n" + block + "\n" + toml_table("mcp_servers.codex-swarm.env", env)
    )
    return subprocess.run(
        [codex, "exec", "--json", "--skip-git-repo-check", "-"],
        input=prompt,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": env["HOME"],
            "CODEX_HOME": str(orchestrator_home),
            "MOCK_API_KEY": "test-key",
        },
    )


def test_tool_definitions_codex_sends_its_model_are_lean(
    codex: str, codex_home: Path, fake_model: FakeModel, tmp_path: Path
) -> None:
    marker = "definitions-5c1e"
    done = orchestrate(
        codex, codex_home, fake_model, tmp_path, tmp_path, script({"message": "hi"}, text=marker)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    offered = offered_namespace(requests_with(fake_model, marker)[0], NAMESPACE)
    assert offered is not None
    tools = {t["name"]: t for t in offered["tools"]}
    assert set(tools) == TOOLS  # every tool is still there
    size = sent_chars(offered)
    print(f"tool definitions as Codex 0.171 sends them: {size} characters")
    assert size <= DEFINITIONS_BUDGET, size
    for name, tool in tools.items():
        sentences = [s for s in tool["description"].split(". ") if s.strip()]
        assert len(sentences) <= 2, (name, tool["description"])
    launch = tools["codex_async"]["parameters"]["properties"]
    assert {"prompt", "worktree", "output_schema", "approval-policy"} <= set(launch)


def test_codex_orchestrates_parallel_tasks_through_the_server(
    codex: str, codex_home: Path, fake_model: FakeModel, tmp_path: Path, repo: Path
) -> None:
    marker = "orchestrate-7f3a"
    prompt = script(
        {
            "mcp": [
                call("codex_async", prompt=script({"message": "inner A"}), cwd=str(repo)),
                call("codex_async", prompt=script({"message": "inner B"}), cwd=str(repo)),
            ]
        },
        {"mcp": [call("codex_async", prompt=script({"message": "inner C"}), cwd=str(repo))]},
        {"mcp": [call("codex_wait", timeout=240)]},
        {"message": "all three agents finished"},
        text=marker,
    )
    done = orchestrate(codex, codex_home, fake_model, tmp_path, repo, prompt)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    calls = [
        e["item"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "mcp_tool_call"
    ]
    assert [c["tool"] for c in calls] == ["codex_async"] * 3 + ["codex_wait"], calls
    assert all(c["status"] == "completed" and c["server"] == "codex-swarm" for c in calls), calls
    started = [c["result"]["structured_content"]["task_id"] for c in calls[:3]]
    assert len(set(started)) == 3
    messages = [
        e["item"]["text"]
        for e in events
        if e["type"] == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert messages[-1] == "all three agents finished"

    # What the orchestrating model saw: the tools offered as one namespace, the two parallel
    # calls answered together, and codex_wait's answer with every task's result.
    turns = requests_with(fake_model, marker)
    assert any(
        t.get("type") == "namespace" and t.get("name") == NAMESPACE for t in turns[0]["tools"]
    )
    outputs = [
        [i for i in turn["input"] if i.get("type") == "function_call_output"] for turn in turns
    ]
    assert [len(o) for o in outputs] == [0, 2, 3, 4]
    wait_answer = json.loads(output_text(outputs[-1][-1]).split("Output:\n", 1)[1])
    finished = {t["task_id"]: t for t in wait_answer["tasks"]}
    assert set(finished) == set(started)
    assert sorted(t["content"] for t in finished.values()) == ["inner A", "inner B", "inner C"]
    assert all(t["status"] == "completed" for t in finished.values())
    assert wait_answer["done"] is True
