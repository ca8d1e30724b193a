"""Admission: whether a task may start, and the exact spec and limits it starts with.

Owns: the rules a new task must pass before it is recorded (nesting depth, the working
directory and ``--allowed-root``, the sandbox ceiling, a usable Codex binary, credentials for
Codex's model provider, ``--ephemeral``),
the limits a task gets (its own, else its parent's, else the server's), and how a reply finds
the thread it continues (its last task's spec, or the Codex rollout file of a thread this server
never ran).

Must not: record, start or signal anything. Every refusal is a :class:`~.errors.TaskError` with a
code and the facts, whose message says what to do instead in :class:`~.errors.Term` s each face
spells (no MCP tool or shell command is named here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from ..codex.command import SANDBOX_MODES, SpecError, TaskSpec, is_uuid
from ..codex.credentials import find_credentials
from ..settings import ENV_DEPTH, MAX_DEPTH, Settings
from .errors import Code, TaskError
from .forkserver import RUNNER_MODULE
from .plan import Limits
from .store import Store, TaskRow


def nesting_depth() -> int:
    """How many codex-mcp-swarm tasks this process runs inside.

    Codex does not pass its environment on to the MCP servers it starts, so besides the
    ``CODEX_SWARM_DEPTH`` variable this counts task runners among the process's ancestors.
    """
    try:
        depth = int(os.environ.get(ENV_DEPTH) or 0)
    except ValueError:
        depth = 0
    try:
        ancestors = psutil.Process().parents()
    except psutil.Error:
        ancestors = []
    runners = 0
    for proc in ancestors:
        with contextlib.suppress(psutil.Error):
            if RUNNER_MODULE in " ".join(proc.cmdline()):
                runners += 1
    return max(depth, runners)


def check_depth(depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise TaskError(
            "refusing to start Codex: this server is already running inside {depth} levels "
            "of this swarm's tasks (a task's Codex loaded this server through its MCP "
            "config). Remove codex-swarm from the Codex MCP config used by tasks.",
            code=Code.NOT_ALLOWED,
            depth=depth,
        )


def title_of(prompt: str) -> str:
    first = next((line.strip() for line in prompt.splitlines() if line.strip()), "")
    return first[:120]


def codex_path(settings: Settings) -> str:
    """The Codex binary to run, or a TaskError that says how to get one."""
    found = shutil.which(settings.codex_bin)
    if found is None:
        raise TaskError(
            "the Codex CLI was not found ({codex_bin!r}). Install it with "
            "'npm install -g @openai/codex' or start the server with {CODEX_BIN}.",
            code=Code.UNAVAILABLE,
            codex_bin=settings.codex_bin,
        )
    return found


def check_cwd(settings: Settings, cwd: str | None) -> str:
    path = Path(cwd).expanduser() if cwd else Path.cwd()
    if not path.is_absolute():
        raise TaskError("{CWD} {cwd!r} must be an absolute path", cwd=cwd)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise TaskError("{CWD} {cwd!r} does not exist", cwd=cwd) from None
    if not resolved.is_dir():
        raise TaskError("{CWD} {cwd!r} is not a directory", cwd=cwd)
    roots = settings.allowed_roots
    if roots and not any(resolved == r or r in resolved.parents for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise TaskError(
            "{CWD} {cwd!r} (resolved: {resolved}) is outside the directories this server "
            "allows: {allowed}",
            code=Code.NOT_ALLOWED,
            cwd=cwd,
            resolved=str(resolved),
            allowed=allowed,
        )
    return str(resolved)


def _server_default(settings: Settings, key: str) -> str | None:
    for name, value in reversed(settings.overrides):
        if name == key:
            return value.strip('"')
    return None


def apply_ceiling(settings: Settings, spec: TaskSpec) -> TaskSpec:
    """Refuse a sandbox stronger than the operator's ceiling; make the sandbox explicit."""
    ceiling = settings.sandbox_ceiling
    if ceiling is None:
        return spec
    from_config = spec.config.get("sandbox_mode")
    asked = spec.sandbox or from_config or _server_default(settings, "sandbox_mode") or "read-only"
    if asked not in SANDBOX_MODES:
        raise TaskError("{SANDBOX} must be one of {modes}", modes=", ".join(SANDBOX_MODES))
    if SANDBOX_MODES.index(asked) > SANDBOX_MODES.index(ceiling):
        raise TaskError(
            "sandbox {asked!r} is stronger than this server allows (ceiling: {ceiling!r}); "
            "ask for {ceiling!r} or a weaker one",
            code=Code.NOT_ALLOWED,
            asked=asked,
            ceiling=ceiling,
        )
    if any(key.startswith("sandbox_workspace_write.writable_roots") for key in spec.config):
        raise TaskError(WRITABLE_ROOTS, code=Code.NOT_ALLOWED)
    if isinstance(spec.config.get("sandbox_workspace_write"), dict) and (
        "writable_roots" in spec.config["sandbox_workspace_write"]
    ):
        raise TaskError(WRITABLE_ROOTS, code=Code.NOT_ALLOWED)
    config = {k: v for k, v in spec.config.items() if k != "sandbox_mode"}
    return replace(spec, sandbox=asked, config=config)


def credentials_problem(settings: Settings, spec: TaskSpec | None = None) -> TaskError | None:
    """Why a task started now could not reach its model (no Codex login, no API key, or its
    provider's ``env_key`` unset), with the fix; None when Codex has credentials. Codex runs
    with this process's environment. With the Ray backend Codex runs on the workers, whose
    credentials are not visible here: nothing is said."""
    if settings.backend != "local":
        return None
    provider = spec.config.get("model_provider") if spec is not None else None
    for key, value in settings.overrides:
        if key == "model_provider" and provider is None:
            provider = tomllib.loads(f"v = {value}")["v"]
    found = find_credentials(os.environ, str(provider) if provider else None)
    if found.found:
        return None
    return TaskError(
        "Codex has no credentials for its model, so a task could not work: {said}. {fix} "
        "{SETUP_CHECK} checks it.",
        code=Code.UNAVAILABLE,
        said=found.said,
        fix=found.fix,
    )


def admit_spec(settings: Settings, spec: TaskSpec) -> TaskSpec:
    """The spec as it will run: checked, cwd resolved, sandbox held to the ceiling."""
    try:
        spec = apply_ceiling(settings, replace(spec, cwd=check_cwd(settings, spec.cwd)).check())
    except SpecError as exc:
        raise TaskError.because(exc) from None
    if spec.resume_thread_id and settings.ephemeral:
        raise TaskError(EPHEMERAL, code=Code.NOT_ALLOWED)
    return spec


EPHEMERAL = (
    "this server runs with {EPHEMERAL}: Codex keeps no session files, so a thread cannot be "
    "continued. Start {LAUNCH} instead."
)
WRITABLE_ROOTS = "this server has a sandbox ceiling: Codex's writable_roots cannot be changed"


def resolve_limits(settings: Settings, limits: Limits | None, parent: TaskRow | None) -> Limits:
    """Explicit limits, else the parent task's (a reply keeps them), else server defaults."""
    given = limits or Limits()
    inherited = parent.plan.limits if parent else Limits()

    def pick(name: str, default: Any) -> Any:
        value = getattr(given, name)
        if value is None:
            value = getattr(inherited, name)
        return default if value is None else value

    timeout = pick("timeout", settings.timeout)
    idle = pick("idle_timeout", settings.idle_timeout)
    return Limits(
        timeout=timeout or None,
        idle_timeout=idle or None,
        retries=int(pick("retries", settings.retries) or 0),
    )


def _codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


_SWARM_MARKS = ("codex-mcp-swarm", "codex_mcp_swarm")


def nested_swarm_servers(config_path: Path | None = None) -> list[str]:
    """Names of the MCP servers in the Codex config that start this server.

    A task's Codex reads the same config as the user's, so each task would otherwise start a
    swarm server of its own (slowing every task, and waited for when marked ``required``).
    Tasks get ``mcp_servers.<name>.enabled=false`` for these. Only servers that exist are named:
    Codex refuses a config that disables a server it does not define."""
    path = config_path or _codex_home() / "config.toml"
    try:
        with open(path, "rb") as f:
            servers = tomllib.load(f).get("mcp_servers")
    except (OSError, ValueError):
        return []
    if not isinstance(servers, dict):
        return []
    names = []
    for name, block in servers.items():
        if not isinstance(block, dict) or block.get("enabled") is False:
            continue
        words = [str(block.get("command", "")), *map(str, block.get("args") or [])]
        if any(mark in word for word in words for mark in _SWARM_MARKS):
            names.append(str(name))
    return names


def find_session_cwd(thread_id: str) -> str | None:
    """The working directory a Codex thread started in, from its rollout file (if any)."""
    sessions = _codex_home() / "sessions"
    if not sessions.is_dir():
        return None
    for path in sessions.glob(f"*/*/*/rollout-*-{thread_id}.jsonl"):
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.loads(f.readline())
            cwd = meta.get("payload", {}).get("cwd")
            if isinstance(cwd, str):
                return cwd
        except (OSError, ValueError, AttributeError):
            continue
    return None


def reply_spec(
    settings: Settings, store: Store, thread_id: str, prompt: str
) -> tuple[TaskSpec, TaskRow | None]:
    """The spec that continues ``thread_id`` in its original cwd and settings."""
    if not isinstance(thread_id, str) or not is_uuid(thread_id):
        raise TaskError(
            "{THREAD_ID} {thread_id!r} is not a UUID; use the {THREAD_ID} a task's result reported",
            thread_id=thread_id,
        )
    if settings.ephemeral:
        raise TaskError(EPHEMERAL, code=Code.NOT_ALLOWED)
    busy = store.active_thread_task(thread_id)
    if busy is not None:
        raise TaskError(
            "thread {thread_id} is still busy with task {task_id} ({phase}); wait for it "
            "to finish (or cancel it) before replying",
            code=Code.NOT_YET,
            thread_id=thread_id,
            task_id=busy.id,
            phase=busy.phase,
        )
    previous = store.latest_for_thread(thread_id)
    if previous is not None:
        # A review's thread goes on as an ordinary one; an output schema is the reply's own
        # (codex_reply's output_schema), not inherited.
        spec = replace(
            previous.task,
            prompt=prompt,
            resume_thread_id=thread_id,
            fork_thread_id=None,
            review=None,
            output_schema=None,
        )
        return spec, previous
    cwd = find_session_cwd(thread_id)
    if cwd is None:
        raise TaskError(
            "unknown {THREAD_ID} {thread_id}: no task of this server ran it and no Codex "
            "session file holds it",
            code=Code.UNKNOWN_THREAD,
            thread_id=thread_id,
        )
    return TaskSpec(prompt=prompt, cwd=cwd, resume_thread_id=thread_id), None
