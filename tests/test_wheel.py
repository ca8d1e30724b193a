"""The package as ``pip install`` and ``uvx --from <clone>`` get it: ``uv build`` makes the wheel,
a fresh virtual environment installs it (beside its locked runtime dependencies, from uv's
cache: no network), and the installed ``codex-mcp-swarm doctor`` runs there, outside the clone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import CODEX_VERSION, REPO


def uv() -> str:
    found = shutil.which("uv") or str(REPO / ".cache" / "tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is missing: run scripts/test, which installs it", pytrace=False)
    return found


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_the_built_wheel_installs_and_its_doctor_runs(codex: str, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(uv(), "build", "--offline", "--wheel", "--out-dir", str(dist), str(REPO), cwd=tmp_path)
    wheels = list(dist.glob("codex_mcp_swarm-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp_path / "venv"
    # A fresh environment with the locked runtime dependencies (from uv's cache, which uv sync
    # filled: no network), then the wheel itself; `uv pip check` proves the wheel's declared
    # dependencies are all met there.
    fresh = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    run(
        uv(),
        "sync",
        "--frozen",
        "--no-dev",
        "--no-install-project",
        "--offline",
        "--quiet",
        cwd=REPO,
        env=fresh,
    )
    python = str(venv / "bin" / "python")
    run(
        uv(),
        "pip",
        "install",
        "--offline",
        "--no-deps",
        "--quiet",
        "--python",
        python,
        str(wheels[0]),
        cwd=tmp_path,
    )
    run(uv(), "pip", "check", "--python", python, cwd=tmp_path)
    program = venv / "bin" / "codex-mcp-swarm"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",  # no codex on PATH
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "CODEX_SWARM_TASK_DIR": str(tmp_path / "tasks"),
    }

    def doctor() -> dict[str, Any]:
        # Exit code 1: there is no Codex login in this HOME (a problem doctor reports).
        done = subprocess.run(
            [str(program), "doctor", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    # Nothing named and nothing installed yet: doctor says where the per-user Codex will go.
    report = doctor()
    check = next(c for c in report["checks"] if c["name"] == "codex")
    per_user = home / ".cache" / "codex-mcp-swarm" / "codex" / CODEX_VERSION
    assert str(per_user / "node_modules" / ".bin" / "codex") in check["detail"]
    assert check["status"] == "warn" and "setup codex" in check["fix"]
    # The per-user copy in place (the suite's pinned Codex): doctor finds and names it.
    per_user.parent.mkdir(parents=True)
    per_user.symlink_to(Path(codex).parents[2])
    report = doctor()
    check = next(c for c in report["checks"] if c["name"] == "codex")
    assert check["status"] == "ok", check
    assert (
        f"Codex {CODEX_VERSION} at {per_user}" in check["detail"] and "per-user" in check["detail"]
    )
    assert report["config"]["codex_toml"].startswith("[mcp_servers.codex-swarm]")
    assert str(program) in report["config"]["codex_toml"]  # the installed command, not the clone
    assert os.path.commonpath([str(program), str(REPO)]) != str(REPO)
