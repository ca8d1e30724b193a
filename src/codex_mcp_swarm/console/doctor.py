"""``codex-mcp-swarm doctor``: is this machine ready to run a swarm, and how to plug it in.

Owns: the checks (the Codex binary and its version against :data:`TESTED_CODEX_VERSION`, a Codex
login or API key, a Codex config value the pinned Codex refuses, git for worktree tasks, the task
dir, the store's health, active tasks against their processes), the one-sentence fix of each
problem, and the exact client configuration for Claude Code and Codex with the command that is
running now.

Must not: change anything it checks (no chmod, no repair, nothing left behind: the task dir's
write test removes its probe file), or print a secret:
keys are named by their variable, and auth files are only tested for existence.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.text import Text

from .. import __version__
from ..codex.command import refused_in_config, toml_value
from ..codex.credentials import codex_home, find_credentials
from ..codex.install import PINNED_VERSION, pinned_binary
from ..engine import STARTING_GRACE, SUPERVISED, TERMINAL, Store, StoreError, same_process
from ..settings import ENV_DEPTH, Settings
from .common import make_console, print_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TESTED_CODEX_VERSION = (
    PINNED_VERSION  # the release the test suite pins (.codex-version in the repo)
)
MIN_GIT = (2, 38)  # `git merge-tree --write-tree`, which worktree tasks use to predict merges
LOW_SPACE = 100 * 1024 * 1024  # bytes free in the task dir below which doctor warns
STRAY_AFTER = 60.0  # seconds after a task's end from which a live process of it is a stray
SERVER_NAME = "codex-swarm"
TOOL_TIMEOUT_SEC = 1800
STARTUP_TIMEOUT_SEC = 60
ENV_ENTRY = "CODEX_SWARM_ENTRY"  # set by scripts/start: the command clients should run
INTERNAL_ENV = frozenset({ENV_DEPTH, "CODEX_SWARM_TASK_ID", ENV_ENTRY})
# Tools that are not annotated read-only: Codex asks before each call unless approved up front.
APPROVAL_TOOLS = (
    "codex",
    "codex_async",
    "codex_reply",
    "codex_cancel",
    "codex_steer",
    "codex_fork",
    "codex_review",
    "codex_merge",
    "codex_cleanup",
    "codex_land",
)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MARKS = {OK: ("✓", "green"), WARN: ("!", "yellow"), FAIL: ("✗", "bold red"), SKIP: ("-", "dim")}


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, how it stands, and (for a problem) the fix in a sentence."""

    name: str
    status: str
    detail: str
    fix: str | None = None


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


# ---- Codex -----------------------------------------------------------------------------------


def check_codex(settings: Settings) -> Check:
    install = f"`npm install -g @openai/codex@{TESTED_CODEX_VERSION}`"
    path = shutil.which(settings.codex_bin)
    per_user = str(pinned_binary())
    if path is None and settings.codex_bin == per_user:
        npm = shutil.which("npm")
        return Check(
            "codex",
            WARN if npm else FAIL,
            f"no Codex on PATH, and the per-user copy of Codex {TESTED_CODEX_VERSION} is not "
            f"installed yet (it goes to {per_user})",
            "The server installs it with npm when it first starts, or now: "
            "`codex-mcp-swarm setup codex` (or `setup claude`)."
            if npm
            else f"Install Node.js with npm (the server then installs Codex itself), or {install}.",
        )
    if path is None:
        return Check(
            "codex",
            FAIL,
            f"the Codex CLI ({settings.codex_bin!r}) was not found",
            f"Install it with {install}, or name it with --codex-bin PATH "
            "(or CODEX_SWARM_CODEX_BIN).",
        )
    try:
        out = _run([path, "--version"])
        text = out.stdout.strip() or out.stderr.strip()
        found = re.search(r"\d+\.\d+\.\d+[\w.+-]*", text)
        if out.returncode != 0 or found is None:
            raise OSError(f"exit code {out.returncode}: {text[:200]!r}")
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(
            "codex",
            FAIL,
            f"{path} does not run ({exc})",
            f"Reinstall the Codex CLI with {install}.",
        )
    version = found.group(0)
    if version != TESTED_CODEX_VERSION:
        return Check(
            "codex",
            WARN,
            f"Codex {version} at {path}; this release was tested with {TESTED_CODEX_VERSION}",
            f"If tasks misbehave, install the tested version with {install}.",
        )
    which = "the per-user copy of the tested version" if path == per_user else "the tested version"
    return Check("codex", OK, f"Codex {version} at {path} ({which})")


def _override(settings: Settings, key: str) -> Any:
    for name, value in reversed(settings.overrides):
        if name == key:
            return tomllib.loads(f"v = {value}")["v"]
    return None


def check_login(settings: Settings, environ: Mapping[str, str]) -> Check:
    provider = _override(settings, "model_provider")
    found = find_credentials(environ, str(provider) if provider else None)
    return Check("login", OK if found.found else FAIL, found.said, found.fix)


# ---- git and the task dir ---------------------------------------------------------------------


def check_git() -> Check:
    need = ".".join(map(str, MIN_GIT))
    path = shutil.which("git")
    if path is None:
        return Check(
            "git",
            FAIL,
            "git was not found on PATH",
            f"Install git {need} or later; worktree tasks (--worktree, worktree: true) need it.",
        )
    try:
        out = _run([path, "--version"]).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("git", FAIL, f"{path} does not run ({exc})", f"Reinstall git {need}+.")
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    if found is None:
        return Check("git", WARN, f"cannot read the version of {path} ({out.strip()!r})", None)
    version = tuple(int(part or 0) for part in found.groups())
    text = ".".join(map(str, version))
    if version[:2] < MIN_GIT:
        return Check(
            "git",
            FAIL,
            f"git {text} is older than {need}, which worktree tasks need",
            f"Upgrade git to {need} or later.",
        )
    return Check("git", OK, f"git {text} at {path} (worktree tasks supported)")


def _space(path: Path) -> str:
    free = shutil.disk_usage(path).free
    return f"{free / 1e9:.1f} GB free" if free >= 1e9 else f"{free / 1e6:.0f} MB free"


def check_task_dir(settings: Settings) -> Check:
    where = settings.task_dir
    elsewhere = "Point CODEX_SWARM_TASK_DIR (or --task-dir) at a directory you can write."
    if not where.exists():
        parent = where.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return Check("task dir", FAIL, f"{where} cannot be created under {parent}", elsewhere)
        return Check("task dir", OK, f"{where} does not exist yet; the server creates it (0700)")
    if not where.is_dir():
        return Check("task dir", FAIL, f"{where} exists but is not a directory", elsewhere)
    info = where.stat()
    if info.st_uid != os.getuid():
        return Check(
            "task dir",
            FAIL,
            f"{where} belongs to another user (uid {info.st_uid})",
            "Use a task dir of your own: set CODEX_SWARM_TASK_DIR or --task-dir.",
        )
    if info.st_mode & 0o077:
        return Check(
            "task dir",
            FAIL,
            f"{where} can be read by other users (mode {info.st_mode & 0o777:o}), and prompts "
            "and results are stored there",
            f"Run `chmod 700 {shlex.quote(str(where))}`.",
        )
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=".doctor-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return Check(
            "task dir", FAIL, f"{where} is not writable ({exc.strerror or exc})", elsewhere
        )
    if shutil.disk_usage(where).free < LOW_SPACE:
        return Check(
            "task dir",
            WARN,
            f"{where} has only {_space(where)}",
            "Free some space: a full disk stops tasks from recording their events.",
        )
    return Check("task dir", OK, f"{where}: private (0700), writable, {_space(where)}")


# ---- the store and the processes ---------------------------------------------------------------


def check_store(settings: Settings) -> Check:
    path = settings.task_dir / "tasks.db"
    if not path.exists():
        return Check("store", OK, "no store yet; the first task creates it")
    aside = (
        f"Move {path} (with any -wal and -shm files next to it) aside: the next server starts a "
        "fresh store, and the old file can still be read with the sqlite3 tool."
    )
    try:
        db = sqlite3.connect(path, timeout=5)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            counts = (
                dict(db.execute("SELECT phase, COUNT(*) FROM tasks GROUP BY phase").fetchall())
                if "tasks" in tables
                else {}
            )
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return Check("store", WARN, f"{path} is busy ({exc})", "Run doctor again in a moment.")
        return Check("store", FAIL, f"{path} cannot be read ({exc})", aside)
    except sqlite3.DatabaseError as exc:
        return Check("store", FAIL, f"{path} is damaged or not a SQLite database ({exc})", aside)
    if verdict != "ok":
        return Check("store", FAIL, f"{path} failed its integrity check: {verdict}", aside)
    if not {"tasks", "meta"} <= tables:
        return Check("store", FAIL, f"{path} is not a codex-mcp-swarm task store", aside)
    total = sum(counts.values())
    phases = ", ".join(f"{n} {phase}" for phase, n in sorted(counts.items()))
    return Check(
        "store", OK, f"{path}: {total} task(s){f' ({phases})' if phases else ''}; integrity ok"
    )


def check_processes(settings: Settings) -> list[Check]:
    """Active tasks against their runner processes, and processes of ended tasks still alive."""
    try:
        store = Store(settings.task_dir, role="readonly")
    except (StoreError, sqlite3.Error):
        return []  # check_store already said what is wrong
    try:
        active = store.list(phases=SUPERVISED)
        recent = store.list(phases=TERMINAL, limit=200)
        now = time.time()
        checks: list[Check] = []
        for row in active:
            if same_process(row.runner_pid, row.runner_ctime) is not None:
                continue
            if row.runner_pid is None and now - (row.started_at or row.created_at) < STARTING_GRACE:
                continue  # a server is starting its runner right now
            checks.append(
                Check(
                    "processes",
                    FAIL,
                    f"task {row.id} is marked {row.phase} but its runner process "
                    f"({row.runner_pid or 'never started'}) is gone",
                    f"Run `codex-mcp-swarm cancel {row.id}`: it records the task as lost and "
                    "stops whatever it left running.",
                )
            )
        for row in recent:
            if now - (row.ended_at or now) < STRAY_AFTER:
                continue
            strays = [
                same_process(row.runner_pid, row.runner_ctime),
                same_process(row.codex_pid, row.codex_ctime),
            ]
            for proc in strays:
                if proc is not None:
                    checks.append(
                        Check(
                            "processes",
                            WARN,
                            f"process {proc.pid} of task {row.id} is still alive although the "
                            f"task ended ({row.phase})",
                            f"Stop it with `kill {proc.pid}`.",
                        )
                    )
        if not checks:
            detail = (
                f"{len(active)} task(s) running, each with its runner alive"
                if active
                else "no task running, no stray task processes"
            )
            checks.append(Check("processes", OK, detail))
        return checks
    finally:
        store.close()


# ---- client configuration ----------------------------------------------------------------------


def current_command() -> list[str]:
    """How this program was started, as an absolute command for a client to run."""
    entry = os.environ.get(ENV_ENTRY)
    if entry and Path(entry).is_file():
        return [entry]
    argv0 = Path(sys.argv[0])
    if argv0.name.startswith("codex-mcp-swarm") and argv0.exists():
        return [os.path.abspath(argv0)]
    return [sys.executable, "-m", "codex_mcp_swarm"]


def _in_uv_cache(command: str) -> bool:
    return "/uv/" in command and ("/archive-v" in command or "/builds-v" in command)


def install_source() -> str | None:
    """Where this package was installed from, for ``uvx --from``: a directory, a VCS URL or an
    archive URL (PEP 610's direct_url.json), or None for a release from an index."""
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    try:
        text = metadata.distribution("codex-mcp-swarm").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        info = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return None
    url: str = info["url"]
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        revision = vcs.get("requested_revision")
        return f"{vcs['vcs']}+{url}" + (f"@{revision}" if revision else "")
    if url.startswith("file://"):
        return unquote(urlparse(url).path)
    return url


def _durable(command: list[str]) -> list[str]:
    """A command that runs from uv's cache (``uvx``), which uv may clean, becomes the ``uvx``
    command that starts the same package again."""
    if not _in_uv_cache(command[0]):
        return command
    source = install_source()
    uvx = shutil.which("uvx") or "uvx"
    return [uvx, *(["--from", source] if source else []), "codex-mcp-swarm", *command[1:]]


def client_config(server_args: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """The lines to paste into Claude Code and Codex to start this server as it runs now."""
    program, *args = _durable([*current_command(), *server_args])
    env = {
        key: value
        for key, value in sorted(environ.items())
        if key.startswith("CODEX_SWARM_") and key not in INTERNAL_ENV
    }
    env_flags = [part for key, value in env.items() for part in ("-e", f"{key}={value}")]
    claude = shlex.join(["claude", "mcp", "add", SERVER_NAME, *env_flags, "--", program, *args])
    server: dict[str, Any] = {"command": program, "args": args}
    if env:
        server["env"] = env
    toml = [f"[mcp_servers.{SERVER_NAME}]", f"command = {toml_value(program)}"]
    toml.append(f"args = {toml_value(args)}")
    toml.append("required = true")
    toml.append(f"startup_timeout_sec = {STARTUP_TIMEOUT_SEC}")
    toml.append(f"tool_timeout_sec = {TOOL_TIMEOUT_SEC}")
    toml.append('default_tools_approval_mode = "approve"')
    if env:
        toml.append(f"env = {toml_value(env)}")
    config: dict[str, Any] = {
        "claude_code_command": claude,
        "claude_code_json": {"mcpServers": {SERVER_NAME: server}},
        "codex_toml": "\n".join(toml),
    }
    return config


def _is_this_server(name: str, entry: dict[str, Any]) -> bool:
    if name == SERVER_NAME:
        return True
    words = " ".join(str(w) for w in [entry.get("command", ""), *(entry.get("args") or [])])
    return any(w in words for w in ("codex-mcp-swarm", "codex_mcp_swarm"))


def client_block_problems(entry: dict[str, Any]) -> list[str]:
    """What a Codex ``[mcp_servers.X]`` block for this server lacks (checked on 0.169 and 0.171)."""
    problems = []
    if entry.get("enabled") is False:
        problems.append("it is disabled (enabled = false)")
    if entry.get("default_tools_approval_mode") != "approve":
        raw = entry.get("tools")
        tools: dict[str, Any] = raw if isinstance(raw, dict) else {}
        unapproved = [
            t
            for t in APPROVAL_TOOLS
            if not (isinstance(tools.get(t), dict) and tools[t].get("approval_mode") == "approve")
        ]
        if unapproved:
            problems.append(
                'it lacks default_tools_approval_mode = "approve", so `codex exec` refuses '
                + ", ".join(unapproved)
                + " (approval policy never) and the TUI asks before each call"
            )
    if entry.get("required") is not True:
        problems.append(
            "it lacks required = true, so Codex may start the first turn before the tools "
            "are listed"
        )
    timeout = entry.get("tool_timeout_sec")
    if not isinstance(timeout, (int, float)) or timeout < 600:
        problems.append(
            f"tool_timeout_sec is {timeout if timeout is not None else 'unset (60 s)'}: "
            f"codex and codex_wait calls are cut there; use {TOOL_TIMEOUT_SEC}"
        )
    return problems


def check_codex_config(environ: Mapping[str, str]) -> Check:
    """Does the Codex config set a value the pinned Codex refuses (every task would fail)?"""
    path = codex_home(environ) / "config.toml"
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Check("codex config", SKIP, f"{path} cannot be read (see login above)")
    refused = refused_in_config(config)
    if not refused:
        return Check("codex config", OK, f"nothing in {path} that Codex {PINNED_VERSION} refuses")
    where = "; ".join(setting for setting, _why in refused)
    return Check(
        "codex config",
        FAIL,
        f"{path} sets {where}: Codex refuses to start, so every task would fail",
        f"Edit {path}: " + "; ".join(why for _setting, why in refused) + ".",
    )


def check_codex_client(environ: Mapping[str, str]) -> Check:
    """Does an existing Codex config start this server in a way that works?"""
    path = codex_home(environ) / "config.toml"
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return Check("codex mcp", SKIP, f"{path} cannot be read (see login above)")
    servers = config.get("mcp_servers")
    found = {
        name: entry
        for name, entry in (servers.items() if isinstance(servers, dict) else [])
        if isinstance(entry, dict) and _is_this_server(name, entry)
    }
    if not found:
        return Check(
            "codex mcp", OK, f"no block for this server in {path} (Codex as a client: see below)"
        )
    bad = {name: client_block_problems(entry) for name, entry in found.items()}
    bad = {name: problems for name, problems in bad.items() if problems}
    if not bad:
        names = ", ".join(f"[mcp_servers.{n}]" for n in found)
        return Check("codex mcp", OK, f"{names} in {path} has what Codex needs")
    detail = "; ".join(f"[mcp_servers.{n}] in {path}: " + "; ".join(p) for n, p in bad.items())
    return Check("codex mcp", WARN, detail, "Replace the block with the Codex lines printed below.")


# ---- the command ---------------------------------------------------------------------------------


def run_checks(settings: Settings, environ: Mapping[str, str]) -> list[Check]:
    checks = [check_codex(settings), check_login(settings, environ), check_codex_config(environ)]
    checks.append(check_codex_client(environ))
    checks.append(check_git())
    task_dir = check_task_dir(settings)  # before anything opens the store (which tightens it)
    if task_dir.status == FAIL and not (settings.task_dir / "tasks.db").is_file():
        store = Check("store", SKIP, "not checked: the task dir has a problem (above)")
    else:
        store = check_store(settings)
    checks += [task_dir, store]
    # The process check opens the store: only when the dir and the file are sound.
    if task_dir.status != FAIL and store.status == OK and (settings.task_dir / "tasks.db").exists():
        checks += check_processes(settings)
    return checks


def _print(checks: Sequence[Check], config: dict[str, Any]) -> None:
    console = make_console()
    console.print(Text(f"codex-mcp-swarm {__version__} doctor", style="bold"))
    console.print()
    for check in checks:
        mark, style = MARKS[check.status]
        line = Text(f" {mark} ", style=style)
        line.append(f"{check.name:<10} ", style="bold")
        line.append(check.detail)
        console.print(line, soft_wrap=True)
        if check.fix:
            console.print(Text(f"   {'':<10} fix: {check.fix}", style=style), soft_wrap=True)
    problems = sum(1 for c in checks if c.status == FAIL)
    warnings = sum(1 for c in checks if c.status == WARN)
    console.print()
    if problems:
        console.print(f"{problems} problem(s) found; each fix is above.", style="bold red")
    elif warnings:
        console.print(f"Ready, with {warnings} warning(s) above.", style="yellow")
    else:
        console.print("Everything is ready.", style="bold green")
    console.print()
    console.print(Text("Client configuration (this command, with the flags given):", "bold"))
    console.print(Text("Claude Code, in a shell:", "bold"))
    console.print(config["claude_code_command"], soft_wrap=True)
    console.print(Text("Claude Code, in .mcp.json or ~/.claude.json:", "bold"))
    console.print(json.dumps(config["claude_code_json"], indent=2), soft_wrap=True)
    console.print(Text("Codex, in ~/.codex/config.toml:", "bold"))
    console.print(config["codex_toml"], soft_wrap=True)
    if config.get("note"):
        console.print(Text(config["note"], "yellow"))


def doctor_command(settings: Settings, *, server_args: Sequence[str], as_json: bool) -> int:
    """``codex-mcp-swarm doctor``: exit code 1 when a problem was found, else 0."""
    environ = dict(os.environ)
    checks = run_checks(settings, environ)
    config = client_config(server_args, environ)
    ok = not any(c.status == FAIL for c in checks)
    if as_json:
        print_json(
            {
                "ok": ok,
                "version": __version__,
                "tested_codex_version": TESTED_CODEX_VERSION,
                "checks": [asdict(c) for c in checks],
                "config": config,
            }
        )
    else:
        _print(checks, config)
    return 0 if ok else 1
