"""The official MCP conformance suite against this server over streamable HTTP.

``scripts/test`` installs the suite (``@modelcontextprotocol/conformance``) and the Node 22 it
needs (the npm package ``node@22``) into ``.cache/conformance``. Checks this server cannot pass
for lack of the suite's fixture tools, prompts and resources, or of features it does not offer,
are listed with reasons in ``conformance/expected-failures.yml``; anything else failing, or a
listed check that starts passing, fails this test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, HttpServer, server_env

CACHE = REPO / ".cache" / "conformance" / "node_modules"
NODE = CACHE / "node" / "bin" / "node"
SUITE = CACHE / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = REPO / "conformance" / "expected-failures.yml"


@pytest.mark.parametrize(
    "selection",
    [[], ["--requirements", "2026-07-28"]],
    ids=["active-suite", "requirements-2026-07-28"],
)
def test_conformance_suite(
    selection: list[str], codex: str, codex_home: Path, task_dir: Path, workdir: Path
) -> None:
    if not NODE.exists() or not SUITE.exists():
        pytest.fail(
            f"the conformance suite or Node 22 is missing under {CACHE}: run scripts/test",
            pytrace=False,
        )
    server = HttpServer(server_env(codex, codex_home, task_dir), workdir)
    try:
        result = subprocess.run(
            [
                str(NODE),
                str(SUITE),
                "server",
                "--url",
                server.url,
                "--expected-failures",
                str(BASELINE),
                *selection,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PATH": f"{NODE.parent}:{os.environ.get('PATH', '')}"},
        )
    finally:
        server.stop()
    summary = result.stdout[result.stdout.find("=== SUMMARY ===") :]
    print(summary)
    assert result.returncode == 0, summary[-4000:] + result.stderr[-2000:]
