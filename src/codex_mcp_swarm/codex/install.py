"""The pinned Codex CLI, installed once per user and shared by every clone and install.

Owns: the version this release is tested with (:data:`PINNED_VERSION`, the same as the repo's
``.codex-version``), where the per-user copy lives
(``${XDG_CACHE_HOME:-~/.cache}/codex-mcp-swarm/codex/<version>``), which Codex a server runs when
none is named (one on ``PATH``, else the per-user copy), and installing that copy with npm on
first use: one line of progress on stderr, a lock so that two starts at once install it once,
and a private scratch directory renamed into place so that a half-finished install is never used.

Must not: write to stdout (it is the MCP channel of a stdio server), or touch anything but its
own cache directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

PINNED_VERSION = "0.171.0"  # the Codex release the test suite pins (.codex-version in the repo)
NPM_PACKAGE = "@openai/codex"
INSTALL_TIMEOUT = 900.0  # seconds npm may take (the package carries a native binary)


class CodexInstallError(RuntimeError):
    """The pinned Codex could not be installed; the message says what to do instead."""


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/codex-mcp-swarm/codex``: one per user, on every platform."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base).expanduser() / "codex-mcp-swarm" / "codex"


def pinned_dir(environ: Mapping[str, str] | None = None, version: str = PINNED_VERSION) -> Path:
    return cache_root(environ) / version


def pinned_binary(environ: Mapping[str, str] | None = None, version: str = PINNED_VERSION) -> Path:
    """Where the per-user copy's ``codex`` is (whether or not it is installed yet)."""
    return pinned_dir(environ, version) / "node_modules" / ".bin" / "codex"


def default_codex_bin(environ: Mapping[str, str] | None = None) -> str:
    """The Codex to run when none is named: ``codex`` when one is on ``PATH`` (as before),
    otherwise the per-user copy of the pinned version (installed on first use)."""
    env = os.environ if environ is None else environ
    if shutil.which("codex", path=env.get("PATH", os.defpath)):
        return "codex"
    return str(pinned_binary(env))


def _say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_pinned(
    environ: Mapping[str, str] | None = None,
    *,
    version: str = PINNED_VERSION,
    spec: str | None = None,
    say: Callable[[str], None] = _say_on_stderr,
) -> Path:
    """The per-user copy's binary, installed with npm first if it is missing.

    ``spec`` is what npm installs (default ``@openai/codex@<version>``). Raises
    :class:`CodexInstallError` with a sentence saying what to do when npm is missing or fails.
    """
    env = os.environ if environ is None else environ
    binary = pinned_binary(env, version)
    if binary.exists():
        return binary
    target = pinned_dir(env, version)
    npm = shutil.which("npm", path=env.get("PATH", os.defpath))
    if npm is None:
        raise CodexInstallError(
            f"the Codex CLI is not installed and npm is not on PATH to install it: install "
            f"Node.js (with npm), or install Codex yourself (`npm install -g "
            f"{NPM_PACKAGE}@{version}`), or name one with --codex-bin PATH "
            "(or CODEX_SWARM_CODEX_BIN)."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with _InstallLock(target.parent / f".{version}.lock"):
        if binary.exists():  # another start installed it while we waited for the lock
            return binary
        say(
            f"codex-mcp-swarm: installing Codex CLI {version} with npm into {target} "
            "(once per user; every clone and install of codex-mcp-swarm shares it)..."
        )
        scratch = target.parent / f".{version}.partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        argv = [npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund"]
        argv += ["--loglevel=error", spec or f"{NPM_PACKAGE}@{version}"]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=INSTALL_TIMEOUT,
                env={**env, "npm_config_update_notifier": "false"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise CodexInstallError(f"npm could not install Codex {version}: {exc}") from None
        if done.returncode != 0 or not (scratch / "node_modules" / ".bin" / "codex").exists():
            shutil.rmtree(scratch, ignore_errors=True)
            last = (done.stdout or "").strip().splitlines()[-3:]
            raise CodexInstallError(
                f"npm could not install Codex {version} (exit code {done.returncode}): "
                + (" / ".join(last) or "no output")
                + ". Check the network and npm, or name a Codex with --codex-bin PATH."
            )
        if target.exists():  # what a manual or interrupted attempt left, without a binary
            shutil.rmtree(target)
        os.replace(scratch, target)
        say(f"codex-mcp-swarm: Codex CLI {version} is ready at {binary}")
    return binary


class _InstallLock:
    """An exclusive lock on a file beside the installs (the kernel drops it if we die)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _InstallLock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing the descriptor releases the lock
