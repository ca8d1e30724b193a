"""Server-wide settings: flags and environment variables resolved once at start.

Owns: defaults (per-user private state directory, parallelism), the environment variable names,
and validation that turns a bad flag into an error at start rather than a surprise per task.

Must not: start anything. ``cli`` builds a :class:`Settings`; the engine and the faces read it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .codex.command import SANDBOX_MODES, parse_override
from .codex.install import default_codex_bin

ENV_TASK_DIR = "CODEX_SWARM_TASK_DIR"
ENV_LOG = "CODEX_SWARM_LOG"
ENV_LOG_LEVEL = "CODEX_SWARM_LOG_LEVEL"
ENV_CODEX_BIN = "CODEX_SWARM_CODEX_BIN"
ENV_MAX_PARALLEL = "CODEX_SWARM_MAX_PARALLEL"
ENV_DEPTH = "CODEX_SWARM_DEPTH"
ENV_WORKTREE_DIR = "CODEX_SWARM_WORKTREE_DIR"
ENV_TASK_MAX_AGE = "CODEX_SWARM_TASK_MAX_AGE"
ENV_BACKEND = "CODEX_SWARM_BACKEND"
ENV_RAY_ADDRESS = "RAY_ADDRESS"
ENV_GIT_REMOTE = "CODEX_SWARM_GIT_REMOTE"
BACKENDS = ("local", "ray")
MAX_DEPTH = 2  # a task's Codex may start this server again at most this many levels deep


def state_dir() -> Path:
    """The per-user state directory: XDG on Linux, Application Support on macOS."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "codex-mcp-swarm"


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``24h`` or ``7d``. ValueError otherwise."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:])
    number = text[:-1] if scale else text
    value = float(number) * (scale or 1)
    if not value > 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return value


def default_max_parallel() -> int:
    return max(2, min(16, (os.cpu_count() or 2) * 2))


@dataclass(frozen=True)
class Settings:
    """Everything the engine needs to know about how it was started."""

    task_dir: Path = field(default_factory=lambda: state_dir() / "tasks")
    worktree_dir: Path = field(default_factory=lambda: state_dir() / "worktrees")
    task_max_age: float = 24 * 3600.0  # finished tasks' worktrees are removed after this
    codex_bin: str = "codex"
    overrides: tuple[tuple[str, str], ...] = ()  # server-wide -c key=value, value TOML-encoded
    raw_overrides: tuple[str, ...] = ()  # as given, for the config resource
    skip_git_repo_check: bool = False
    ephemeral: bool = False
    max_parallel: int = field(default_factory=default_max_parallel)
    cancel_grace: float = 5.0
    cancel_on_exit: bool = False
    timeout: float | None = None  # default per-task maximum runtime, seconds
    idle_timeout: float | None = 600.0  # default: fail a task whose model is silent this long
    retries: int = 0  # default retries of a run that failed on a transient model error
    allowed_roots: tuple[Path, ...] = ()  # cwd must resolve inside one of these (if any)
    sandbox_ceiling: str | None = None  # strongest sandbox a call may ask for
    max_output_chars: int = 20_000  # cap on one tool answer's text (and its structured twin)
    land_sync_limit: float = 240.0  # a waiting codex_land answers with its landing id after this
    log_file: Path | None = None
    log_level: str = "WARNING"
    backend: str = "local"  # where tasks run: "local" (runner processes) or "ray" (a cluster)
    ray_address: str | None = None  # the Ray cluster to join (None: RAY_ADDRESS, else "auto")
    git_remote: str | None = None  # ray: the remote (name or URL) code travels through

    @classmethod
    def build(
        cls,
        *,
        overrides: list[str] | None = None,
        codex_bin: str | None = None,
        task_dir: str | None = None,
        skip_git_repo_check: bool = False,
        ephemeral: bool = False,
        max_parallel: int | None = None,
        cancel_on_exit: bool = False,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        retries: int | None = None,
        allowed_roots: list[str] | None = None,
        sandbox_ceiling: str | None = None,
        max_output_chars: int | None = None,
        land_sync_limit: float | None = None,
        backend: str | None = None,
        ray_address: str | None = None,
        git_remote: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Flags win over environment variables, which win over defaults. ValueError if bad."""
        env = os.environ if environ is None else environ
        parsed = tuple(parse_override(text) for text in overrides or [])
        if max_parallel is None and env.get(ENV_MAX_PARALLEL):
            try:
                max_parallel = int(env[ENV_MAX_PARALLEL])
            except ValueError:
                raise ValueError(f"{ENV_MAX_PARALLEL} must be a whole number") from None
        if max_parallel is not None and not 1 <= max_parallel <= 1000:
            raise ValueError("--max-parallel must be between 1 and 1000")
        level = (env.get(ENV_LOG_LEVEL) or "WARNING").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{ENV_LOG_LEVEL} must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        if timeout is not None and timeout <= 0:
            raise ValueError("--timeout must be a positive number of seconds")
        if idle_timeout is not None and idle_timeout < 0:
            raise ValueError("--idle-timeout must be 0 (off) or a positive number of seconds")
        if retries is not None and not 0 <= retries <= 10:
            raise ValueError("--retries must be between 0 and 10")
        if sandbox_ceiling is not None and sandbox_ceiling not in SANDBOX_MODES:
            raise ValueError(f"--sandbox-ceiling must be one of {', '.join(SANDBOX_MODES)}")
        if max_output_chars is not None and not 2_000 <= max_output_chars <= 10_000_000:
            raise ValueError("--max-output-chars must be between 2000 and 10000000")
        if land_sync_limit is not None and not 0 <= land_sync_limit <= 86400:
            raise ValueError("--land-sync-limit must be between 0 and 86400 seconds")
        backend = backend or env.get(ENV_BACKEND) or "local"
        if backend not in BACKENDS:
            raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}")
        if backend != "ray" and (ray_address or git_remote):
            raise ValueError("--ray-address and --git-remote need --backend ray")
        if git_remote is not None and (not git_remote or git_remote.startswith("-")):
            raise ValueError("--git-remote must name a remote or be a URL (not an option)")
        roots = []
        for root in allowed_roots or []:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise ValueError(f"--allowed-root {root!r} is not an existing directory")
            roots.append(path.resolve())
        max_age = 24 * 3600.0
        if env.get(ENV_TASK_MAX_AGE):
            try:
                max_age = parse_duration(env[ENV_TASK_MAX_AGE])
            except ValueError:
                raise ValueError(
                    f"{ENV_TASK_MAX_AGE} must be a duration such as 86400, 24h or 7d"
                ) from None
        worktrees = env.get(ENV_WORKTREE_DIR)
        directory = task_dir or env.get(ENV_TASK_DIR)
        log = env.get(ENV_LOG)
        tasks = Path(directory).expanduser().resolve() if directory else state_dir() / "tasks"
        return cls(
            task_dir=tasks,
            # Beside the task dir (for the default task dir: the state dir's "worktrees").
            worktree_dir=(
                Path(worktrees).expanduser().resolve() if worktrees else tasks.parent / "worktrees"
            ),
            task_max_age=max_age,
            codex_bin=codex_bin or env.get(ENV_CODEX_BIN) or default_codex_bin(env),
            overrides=parsed,
            raw_overrides=tuple(overrides or []),
            skip_git_repo_check=skip_git_repo_check,
            ephemeral=ephemeral,
            max_parallel=max_parallel or default_max_parallel(),
            cancel_on_exit=cancel_on_exit,
            timeout=timeout,
            idle_timeout=(idle_timeout or None) if idle_timeout is not None else 600.0,
            retries=retries or 0,
            allowed_roots=tuple(roots),
            sandbox_ceiling=sandbox_ceiling,
            max_output_chars=max_output_chars or 20_000,
            land_sync_limit=240.0 if land_sync_limit is None else land_sync_limit,
            log_file=Path(log).expanduser() if log else None,
            log_level=level,
            backend=backend,
            ray_address=ray_address or env.get(ENV_RAY_ADDRESS) or None,
            git_remote=git_remote or env.get(ENV_GIT_REMOTE) or None,
        )
