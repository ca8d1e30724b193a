"""Set-up by command: ``setup codex`` and ``setup claude`` checked by the real clients' own
``codex mcp list`` and ``claude mcp list`` (the pinned Codex, and Claude Code from npm, which
scripts/test installs into .cache/claude), each with a HOME and CODEX_HOME of the test's own;
and the per-user copy of the pinned Codex, installed by the real npm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import CODEX_VERSION, REPO

from codex_mcp_swarm.codex import install

CLAUDE_VERSION = "2.1.332"  # as scripts/test pins it


def claude_bin() -> str:
    override = os.environ.get("CODEX_SWARM_TEST_CLAUDE")
    path = Path(override) if override else REPO / ".cache/claude/node_modules/.bin/claude"
    if not path.exists():
        pytest.fail(
            f"Claude Code ({CLAUDE_VERSION}) is missing at {path}: run scripts/test, which "
            "installs it with npm, or set CODEX_SWARM_TEST_CLAUDE",
            pytrace=False,
        )
    return str(path)


def client_env(tmp_path: Path, codex: str, *, with_claude: bool) -> dict[str, str]:
    """A HOME of the test's own; PATH has node (and Claude Code when asked), not Codex."""
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    path = [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    if with_claude:
        path.insert(0, str(Path(claude_bin()).parent))
    return {
        "PATH": os.pathsep.join(path),
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv"),
        "CODEX_SWARM_CODEX_BIN": codex,  # recorded in the client config: the server runs it
        "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks"),
        "CODEX_SWARM_ENTRY": str(REPO / "scripts" / "start"),  # as scripts/start sets it
        # Claude Code: no update checks, telemetry or other traffic beyond loopback.
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
    }


def setup(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp_swarm", "setup", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def codex_mcp_list(codex: str, env: dict[str, str], cwd: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [codex, "mcp", "list", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed: list[dict[str, object]] = json.loads(done.stdout)
    return listed


def test_setup_codex_merges_into_config_toml_keeping_comments(codex: str, tmp_path: Path) -> None:
    env = client_env(tmp_path, codex, with_claude=False)
    config = Path(env["CODEX_HOME"]) / "config.toml"
    config.write_text(
        "# my settings\n"
        'model = "gpt-5.5"  # the one I like\n\n'
        "[mcp_servers.other]\n"
        'command = "/usr/bin/other"\n\n'
        "[mcp_servers.codex-swarm]\n"
        'command = "/old/path/scripts/start"\n'
        "startup_timeout_sec = 10\n"
        'cwd = "/somewhere"  # mine: kept\n'
    )
    project = tmp_path / "project"
    project.mkdir()
    shown = setup(env, project, "codex", "--print", "-c", "model=gpt-5.5")
    assert shown.returncode == 0, shown.stderr
    assert "would write" in shown.stdout and "[mcp_servers.codex-swarm]" in shown.stdout
    assert "/old/path" in config.read_text()  # --print changes nothing

    done = setup(env, project, "codex", "-c", "model=gpt-5.5")
    assert done.returncode == 0, done.stderr
    assert f"wrote [mcp_servers.codex-swarm] into {config}" in done.stdout
    text = config.read_text()
    for kept in ("# my settings", "# the one I like", "[mcp_servers.other]", "# mine: kept"):
        assert kept in text
    listed = {entry["name"]: entry for entry in codex_mcp_list(codex, env, project)}
    assert set(listed) == {"other", "codex-swarm"}
    swarm = listed["codex-swarm"]
    assert swarm["transport"] == {
        "type": "stdio",
        "command": str(REPO / "scripts" / "start"),
        "args": ["-c", "model=gpt-5.5"],
        "env": {key: env[key] for key in ("CODEX_SWARM_CODEX_BIN", "CODEX_SWARM_TASK_DIR")},
        "env_vars": [],
        "cwd": "/somewhere",
    }
    assert (swarm["startup_timeout_sec"], swarm["tool_timeout_sec"]) == (60.0, 1800.0)

    again = setup(env, project, "codex", "-c", "model=gpt-5.5")
    assert again.returncode == 0 and "already starts this server" in again.stdout
    assert config.read_text() == text  # idempotent: not even rewritten the same


def test_setup_codex_project_scope_writes_the_project_config(codex: str, tmp_path: Path) -> None:
    env = client_env(tmp_path, codex, with_claude=False)
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    done = setup(env, project, "codex", "--scope", "project")
    assert done.returncode == 0, done.stderr
    assert "trusted" in done.stdout  # Codex reads a project's config only in a trusted project
    written = (project / ".codex" / "config.toml").read_text()
    assert written.startswith("[mcp_servers.codex-swarm]\n") and written.endswith("}\n")  # env last
    assert codex_mcp_list(codex, env, project) == []  # not trusted yet: Codex ignores it
    (Path(env["CODEX_HOME"]) / "config.toml").write_text(
        f'[projects."{project}"]\ntrust_level = "trusted"\n'
    )
    assert [e["name"] for e in codex_mcp_list(codex, env, project)] == ["codex-swarm"]


def claude_mcp_list(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [claude_bin(), "mcp", "list"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_setup_claude_runs_claude_mcp_add_and_claude_connects(codex: str, tmp_path: Path) -> None:
    env = client_env(tmp_path, codex, with_claude=True)
    project = tmp_path / "project"
    project.mkdir()
    shown = setup(env, project, "claude", "--print")
    assert shown.returncode == 0, shown.stderr
    assert "would run" in shown.stdout and "mcp add --scope user codex-swarm" in shown.stdout
    done = setup(env, project, "claude")
    assert done.returncode == 0, done.stderr
    assert "ran " in done.stdout
    # Claude Code's health check starts the server with the configured command (scripts/start).
    listed = claude_mcp_list(env, project)
    line = next(line for line in listed.splitlines() if line.startswith("codex-swarm:"))
    assert str(REPO / "scripts" / "start") in line and "Connected" in line, listed
    again = setup(env, project, "claude")
    assert again.returncode == 0 and "already starts this server" in again.stdout


def test_setup_claude_without_the_cli_writes_mcp_json(codex: str, tmp_path: Path) -> None:
    env = client_env(tmp_path, codex, with_claude=False)
    project = tmp_path / "project"
    project.mkdir()
    done = setup(env, project, "claude", "--scope", "project", "--max-parallel", "4")
    assert done.returncode == 0, done.stderr
    assert "no `claude` on PATH" in done.stdout
    written = json.loads((project / ".mcp.json").read_text())
    entry = written["mcpServers"]["codex-swarm"]
    assert entry["command"] == str(REPO / "scripts" / "start")
    assert entry["args"] == ["--max-parallel", "4"]
    # The real Claude Code finds it as a project server (which it asks the user to approve).
    assert "codex-swarm:" in claude_mcp_list(env, project)
    again = setup(env, project, "claude", "--scope", "project", "--max-parallel", "4")
    assert "already starts this server" in again.stdout


def test_pinned_versions_are_the_ones_the_suite_installs() -> None:
    assert install.PINNED_VERSION == CODEX_VERSION
    assert f"claude_version={CLAUDE_VERSION}\n" in (REPO / "scripts" / "test").read_text()
    done = subprocess.run([claude_bin(), "--version"], capture_output=True, text=True, timeout=60)
    assert CLAUDE_VERSION in done.stdout


def test_the_per_user_codex_is_installed_with_npm_once(tmp_path: Path) -> None:
    """The install path with the real npm, from a local package that stands in for
    @openai/codex (same bin name), so no network is needed; two starts at once install once."""
    package = tmp_path / "fake-codex"
    package.mkdir()
    (package / "package.json").write_text(
        json.dumps({"name": "fake-codex", "version": "9.9.9", "bin": {"codex": "codex.js"}})
    )
    (package / "codex.js").write_text("#!/usr/bin/env node\nconsole.log('codex-cli 9.9.9');\n")
    env = {"PATH": os.environ["PATH"], "XDG_CACHE_HOME": str(tmp_path / "cache")}
    said: list[str] = []
    found: list[Path] = []

    def start() -> None:
        found.append(
            install.ensure_pinned(env, version="9.9.9", spec=str(package), say=said.append)
        )

    starts = [threading.Thread(target=start) for _ in range(2)]
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join(timeout=300)
    expected = tmp_path / "cache" / "codex-mcp-swarm" / "codex" / "9.9.9" / "node_modules"
    assert found == [expected / ".bin" / "codex"] * 2
    assert len(said) == 2 and "installing Codex CLI 9.9.9 with npm" in said[0]  # start, ready
    run = subprocess.run([str(found[0])], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "codex-cli 9.9.9"
    assert sorted(p.name for p in expected.parents[1].iterdir()) == [".9.9.9.lock", "9.9.9"]
    install.ensure_pinned(env, version="9.9.9", spec=str(package), say=said.append)
    assert len(said) == 2  # already there: nothing installed, nothing said


def test_without_npm_the_install_says_what_to_do(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with pytest.raises(install.CodexInstallError, match="npm is not on PATH"):
        install.ensure_pinned(env, version="9.9.9")


def test_setup_claude_user_scope_without_the_cli_keeps_the_rest_of_claude_json(
    tmp_path: Path,
) -> None:
    from codex_mcp_swarm.console import setup as setup_module

    path = tmp_path / ".claude.json"
    path.write_text(json.dumps({"userID": "u", "mcpServers": {"other": {"command": "/x"}}}))
    path.chmod(0o600)
    server = {"command": "/clone/scripts/start", "args": ["-c", "model=gpt-5.5"]}
    said, changed = setup_module.setup_claude(
        path, "user", server, claude=None, print_only=False, environ={}, cwd=tmp_path
    )
    assert changed and "no `claude` on PATH" in said
    data = json.loads(path.read_text())
    assert data["userID"] == "u" and data["mcpServers"]["other"] == {"command": "/x"}
    assert data["mcpServers"]["codex-swarm"] == {"type": "stdio", **server}
    assert path.stat().st_mode & 0o777 == 0o600  # Claude Code's file stays private
    said, changed = setup_module.setup_claude(
        path, "user", server, claude=None, print_only=False, environ={}, cwd=tmp_path
    )
    assert not changed and "already starts this server" in said
