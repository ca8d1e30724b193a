"""The command line: flags and environment variables -> :class:`Settings` -> a command.

``codex-mcp-swarm [serve] [flags]`` serves MCP over stdio (the default when no command is named).
The other commands are for people at a shell: ``tasks``, ``watch [ID]``, ``show ID``,
``cancel ID...``, ``run PROMPT...``, ``land [ID...]``, ``merge ID``, ``cleanup``, ``steer ID
MESSAGE``, ``fork ID PROMPT``, ``review ID``, ``doctor``, ``setup claude|codex`` (their code is
in ``console``) and ``board`` (in ``web``). Every command takes the server's flags, so
``--task-dir`` or ``CODEX_SWARM_TASK_DIR`` points them all at the same store. Flags keep Codex's
names and meanings (``-c key=value``, ``--skip-git-repo-check``, ``--ephemeral``). A bad flag
stops the command at start with a sentence on stderr and exit code 2, rather than failing every
task later. Commands that start Codex first install the per-user copy of the pinned Codex when
it is the one to run and is missing (``codex.install``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, heap
from .engine.store import StoreError, make_private_dir
from .settings import ENV_CODEX_BIN, ENV_MAX_PARALLEL, ENV_TASK_DIR, Settings

if TYPE_CHECKING:
    from mcp.server import MCPServer

COMMANDS = {
    "serve": "serve MCP over stdio (the default)",
    "tasks": "list the tasks in the store, newest first",
    "watch": "a live board of every task, or one task's events with an ID",
    "show": "a task's whole result and its branch's diffstat",
    "cancel": "stop tasks and everything they started, or landings",
    "run": "run prompts as parallel tasks from the shell and print their results",
    "doctor": "check Codex, login, git and the task store; print client config lines",
    "land": "land finished worktree tasks on their target, checked in batches",
    "merge": "merge one worktree task's branch into its target",
    "cleanup": "remove merged tasks' worktrees and branches",
    "steer": "redirect a running task with a message (same task, thread and files)",
    "fork": "new tasks that continue copies of a task's thread with a prompt",
    "review": "a read-only code review of a task's work, and its findings",
    "board": "serve the live web board of the task store (127.0.0.1:8766)",
    "setup": "write the client configuration for Claude Code or Codex (what doctor prints)",
}
# Commands that start Codex (land only with --resolve): the per-user copy of the pinned Codex is
# installed before them when it is the one to run and is missing (codex.install).
_STARTS_CODEX = frozenset({"serve", "run", "fork", "review", "land", "setup"})


@dataclass(frozen=True)
class _Flag:
    """A server flag, shared by every command."""

    names: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def takes_value(self) -> bool:
        return self.options.get("action") != "store_true"

    @property
    def dest(self) -> str:
        return str(self.options.get("dest") or self.names[-1].lstrip("-").replace("-", "_"))


_SETTINGS_FLAGS = (
    _Flag(
        ("-c", "--config"),
        dict(
            dest="overrides",
            action="append",
            default=[],
            metavar="key=value",
            help="Codex config override passed to every run (repeatable; value parsed as TOML)",
        ),
    ),
    _Flag(
        ("--skip-git-repo-check",),
        dict(action="store_true", help="let Codex run outside a git repository"),
    ),
    _Flag(
        ("--ephemeral",),
        dict(
            action="store_true",
            help="Codex writes no session files (codex_reply is then unavailable)",
        ),
    ),
    _Flag(
        ("--codex-bin",),
        dict(metavar="PATH", help=f"Codex binary (env {ENV_CODEX_BIN}; default: codex)"),
    ),
    _Flag(("--task-dir",), dict(metavar="DIR", help=f"task store and logs (env {ENV_TASK_DIR})")),
    _Flag(
        ("--land-sync-limit",),
        dict(
            type=float,
            metavar="S",
            help="a codex_land call that would wait longer answers with its landing id (240)",
        ),
    ),
    _Flag(
        ("--max-parallel",),
        dict(
            type=int,
            metavar="N",
            help=f"tasks running at once; more wait in a queue (env {ENV_MAX_PARALLEL})",
        ),
    ),
    _Flag(
        ("--cancel-on-exit",),
        dict(
            action="store_true",
            help="cancel this server's running tasks when it exits (default: they keep running)",
        ),
    ),
    _Flag(
        ("--timeout",),
        dict(
            type=float, metavar="SECONDS", help="default maximum runtime of a task (default: none)"
        ),
    ),
    _Flag(
        ("--idle-timeout",),
        dict(
            type=float,
            metavar="SECONDS",
            help="default: fail a task when Codex reports nothing this long while no command "
            "runs (default 600; 0 turns it off)",
        ),
    ),
    _Flag(
        ("--retries",),
        dict(
            type=int,
            metavar="N",
            help="default retries of a run that failed on a transient model error (default 0)",
        ),
    ),
    _Flag(
        ("--allowed-root",),
        dict(
            action="append",
            default=[],
            metavar="DIR",
            help="tasks may only run in these directories (repeatable; default: anywhere)",
        ),
    ),
    _Flag(
        ("--sandbox-ceiling",),
        dict(
            choices=["read-only", "workspace-write", "danger-full-access"],
            help="the strongest sandbox a call may ask for",
        ),
    ),
    _Flag(
        ("--max-output-chars",),
        dict(
            type=int,
            metavar="N",
            help="cap on one tool answer (default 20000); cuts say where the rest is",
        ),
    ),
    _Flag(
        ("--backend",),
        dict(
            choices=["local", "ray"],
            help="where tasks run: local runner processes (default) or a Ray cluster "
            "(needs codex-mcp-swarm[ray]; env CODEX_SWARM_BACKEND)",
        ),
    ),
    _Flag(
        ("--ray-address",),
        dict(metavar="ADDR", help="the Ray cluster to join (env RAY_ADDRESS; default: auto)"),
    ),
    _Flag(
        ("--git-remote",),
        dict(
            metavar="NAME|URL",
            help="ray: the git remote worktree tasks travel through (default: the "
            "repository's origin; env CODEX_SWARM_GIT_REMOTE)",
        ),
    ),
)
_VALUE_FLAGS = frozenset(
    name for flag in _SETTINGS_FLAGS if flag.takes_value for name in flag.names
) | {"--transport", "--host", "--port", "--auth-token-file", "--allowed-host"}


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    for flag in _SETTINGS_FLAGS:
        parser.add_argument(*flag.names, **flag.options)


def _parser() -> argparse.ArgumentParser:
    """The parser of ``serve`` (and of a command line that names no command)."""
    parser = argparse.ArgumentParser(
        prog="codex-mcp-swarm",
        description="MCP server that runs many OpenAI Codex CLI agents in parallel.",
        epilog="commands:\n"
        + "\n".join(f"  {name:<8} {text}" for name, text in COMMANDS.items())
        + "\n\n`codex-mcp-swarm COMMAND --help` describes each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", default="serve", choices=list(COMMANDS))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_settings_flags(parser)
    http = parser.add_argument_group("transport")
    http.add_argument(
        "--transport",
        choices=["stdio", "streamable-http"],
        default="stdio",
        help="stdio (default: one client) or streamable-http (/mcp, several clients)",
    )
    http.add_argument("--host", default="127.0.0.1", help="HTTP bind address (127.0.0.1)")
    http.add_argument("--port", type=int, default=8765, help="HTTP port (8765)")
    http.add_argument(
        "--auth-token-file",
        metavar="FILE",
        help="bearer token clients must send (or env CODEX_SWARM_AUTH_TOKEN); required for "
        "any --host but loopback",
    )
    http.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name clients may use (repeatable; DNS-rebinding guard)",
    )
    return parser


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="only tasks in this state: queued, starting, running, completed, failed, "
        "cancelled, lost, or active / finished (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--repo",
        metavar="DIR",
        help="only tasks that ran in this repository (their cwd or their worktree's origin)",
    )


def _command_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"codex-mcp-swarm {command}", description=COMMANDS[command].capitalize() + "."
    )
    if command == "tasks":
        _filters(parser)
        parser.add_argument(
            "--limit", type=int, default=50, metavar="N", help="newest N tasks (0: all; 50)"
        )
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "watch":
        parser.add_argument("task_id", nargs="?", metavar="ID", help="follow this task's events")
        _filters(parser)
    elif command == "show":
        parser.add_argument("task_id", metavar="ID")
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "cancel":
        parser.add_argument(
            "task_ids", nargs="+", metavar="ID", help="task ids, or landing ids (land...)"
        )
    elif command == "run":
        parser.add_argument("prompts", nargs="+", metavar="PROMPT", help="one task per prompt")
        parser.add_argument("--cwd", metavar="DIR", help="working directory (default: here)")
        parser.add_argument(
            "--worktree",
            action="store_true",
            help="run each task in its own git worktree on branch codex-swarm/<id>",
        )
        parser.add_argument(
            "--base-ref", metavar="REF", help="with --worktree: start from this ref (HEAD)"
        )
        parser.add_argument(
            "--include-uncommitted",
            action="store_true",
            help="with --worktree: carry your uncommitted changes into each worktree",
        )
        parser.add_argument(
            "-s",
            "--sandbox",
            choices=["read-only", "workspace-write", "danger-full-access"],
            help="Codex sandbox of every task (default: Codex's, read-only)",
        )
        parser.add_argument("-m", "--model", help="model of every task")
        parser.add_argument(
            "--json", action="store_true", help="print the results as JSON (progress on stderr)"
        )
    elif command == "doctor":
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "setup":
        parser.add_argument("client", choices=["claude", "codex"], help="the MCP client")
        parser.add_argument(
            "--scope",
            choices=["user", "project"],
            default="user",
            help="user: every project (~/.codex/config.toml, Claude Code's user scope); "
            "project: this directory (.codex/config.toml, .mcp.json)",
        )
        parser.add_argument(
            "--print",
            action="store_true",
            dest="print_only",
            help="show what would be written, change nothing",
        )
    elif command in ("land", "merge", "cleanup"):
        _branch_flags(command, parser)
    elif command == "steer":
        parser.add_argument("task_id", metavar="ID")
        parser.add_argument("message", metavar="MESSAGE", help="what the agent should do now")
    elif command == "fork":
        parser.add_argument("task_id", metavar="ID")
        parser.add_argument("prompt", metavar="PROMPT", help="what each fork should do")
        parser.add_argument("--count", type=int, default=1, metavar="N", help="forks (1-5; 1)")
        parser.add_argument(
            "--worktree",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="own worktree and branch per fork (default: as the source task)",
        )
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "review":
        parser.add_argument("task_id", metavar="ID")
        parser.add_argument("--instructions", metavar="TEXT", help="what to focus on")
        parser.add_argument("--json", action="store_true", help="JSON for scripts")
    elif command == "board":
        parser.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
        parser.add_argument("--port", type=int, default=8766, help="port (8766)")
        parser.add_argument("--open", action="store_true", help="open the board in a browser")
        parser.add_argument(
            "--auth-token-file",
            metavar="FILE",
            help="token the board asks for (or env CODEX_SWARM_AUTH_TOKEN); required for any "
            "--host but loopback",
        )
        parser.add_argument(
            "--allowed-host",
            action="append",
            default=[],
            metavar="NAME",
            help="another Host name browsers may use (repeatable; DNS-rebinding guard)",
        )
    group = parser.add_argument_group("server settings (as for serve)")
    for flag in _SETTINGS_FLAGS:
        group.add_argument(*flag.names, **flag.options)
    return parser


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, ``serve`` first: what the docs' command-line reference is
    generated from (scripts/docs_reference.py)."""
    return {"serve": _parser()} | {c: _command_parser(c) for c in COMMANDS if c != "serve"}


def _branch_flags(command: str, parser: argparse.ArgumentParser) -> None:
    """Flags of ``land``, ``merge`` and ``cleanup``."""
    strategies = ["merge", "squash", "rebase"]
    if command == "land":
        parser.add_argument(
            "task_ids", nargs="*", metavar="ID", help="tasks in this order (default: all finished)"
        )
        parser.add_argument("--check", metavar="CMD", help="shell command run on each candidate")
        parser.add_argument(
            "--check-timeout", type=float, default=900.0, metavar="S", help="seconds (900)"
        )
        parser.add_argument(
            "--check-parallel",
            type=int,
            metavar="N",
            help="candidates checked at once (default: the CPUs)",
        )
        parser.add_argument("--cwd", metavar="DIR", help="a directory in the repository (here)")
        parser.add_argument(
            "--resolve", action="store_true", help="start a task per conflict to resolve it"
        )
        parser.add_argument(
            "--on-failure",
            choices=("report", "reply"),
            default="report",
            help="reply: tell a failed task's own thread what failed; it lands again (report)",
        )
        parser.add_argument(
            "--attempts", type=int, default=2, metavar="N", help="landings per task (2)"
        )
        parser.add_argument(
            "--async",
            action="store_true",
            dest="queue",
            help="queue the landing and print its id; a server sharing the store runs it (with "
            "none running, this command runs it)",
        )
        parser.add_argument(
            "--watch",
            action="store_true",
            help="queue the landing (or, given a landing id, take that one) and follow it live "
            "until it ends; Ctrl-C stops following",
        )
    elif command == "merge":
        parser.add_argument("task_id", metavar="ID")
    else:
        parser.add_argument("task_id", nargs="?", metavar="ID")
        parser.add_argument(
            "--all-merged", action="store_true", help="every finished task whose work is merged"
        )
        parser.add_argument("--force", action="store_true", help="also delete unmerged work")
    if command != "cleanup":
        parser.add_argument("--strategy", choices=strategies, default="merge")
        parser.add_argument("--target", metavar="BRANCH", help="default: the task's base branch")
    parser.add_argument("--json", action="store_true", help="JSON for scripts")


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The command named on the line (before or after the server flags) and the other words.
    ``None`` when no command is named: the line is for ``serve``."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word.startswith("-"):
            i += 2 if word in _VALUE_FLAGS else 1
            continue
        if word in COMMANDS and word != "serve":
            return word, [*argv[:i], *argv[i + 1 :]]
        break
    return None, list(argv)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.build(
        overrides=args.overrides,
        codex_bin=args.codex_bin,
        task_dir=args.task_dir,
        skip_git_repo_check=args.skip_git_repo_check,
        ephemeral=args.ephemeral,
        max_parallel=args.max_parallel,
        land_sync_limit=args.land_sync_limit,
        cancel_on_exit=args.cancel_on_exit,
        timeout=args.timeout,
        idle_timeout=args.idle_timeout,
        retries=args.retries,
        allowed_roots=args.allowed_root,
        sandbox_ceiling=args.sandbox_ceiling,
        max_output_chars=args.max_output_chars,
        backend=args.backend,
        ray_address=args.ray_address,
        git_remote=args.git_remote,
    )


def settings_argv(args: argparse.Namespace) -> list[str]:
    """The server flags given on this command line, as words for a client's config."""
    words: list[str] = []
    for flag in _SETTINGS_FLAGS:
        value = getattr(args, flag.dest)
        name = flag.names[-1] if flag.names[0] != "-c" else "-c"
        if value in (None, False, []):
            continue
        if value is True:
            words.append(name)
        elif isinstance(value, list):
            words += [part for item in value for part in (name, str(item))]
        else:
            words += [name, str(value)]
    return words


def _setup_logging(settings: Settings) -> None:
    handler: logging.Handler
    if settings.log_file is not None:
        make_private_dir(settings.log_file.parent)
        fd = os.open(settings.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handler = logging.FileHandler(settings.log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def _backend_error(exc: BaseException) -> str | None:
    """The sentence of a BackendError in ``exc`` (or in the exception group it is), if any."""
    from .console.words import said
    from .engine.backends.base import BackendError

    if isinstance(exc, BackendError):
        return said(exc)
    for inner in getattr(exc, "exceptions", None) or ():
        found = _backend_error(inner)
        if found is not None:
            return found
    return None


def _serve(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    if args.transport == "stdio":
        from .mcp.stdio_front import serve_stdio  # answers the client before the SDK is loaded

        def build() -> MCPServer:
            from .mcp.server import build_server

            _ensure_codex(settings)  # after the opening answer: a first install keeps it waiting
            server = build_server(settings)
            heap.settle()
            return server

        try:
            serve_stdio(build)
        except StoreError as exc:
            from .console.words import said

            print(f"codex-mcp-swarm: {said(exc)}", file=sys.stderr)
            return 1
        except Exception as exc:  # a backend that cannot start says why in one sentence
            why = _backend_error(exc)
            if why is None:
                raise
            print(f"codex-mcp-swarm: {why}", file=sys.stderr)
            return 1
        return 0
    from .engine.tasks import Engine
    from .mcp.server import build_server  # the SDK import is only paid when serving

    try:
        _ensure_codex(settings)
        engine = Engine(settings)
        server = build_server(settings, engine)
    except StoreError as exc:
        from .console.words import said

        print(f"codex-mcp-swarm: {said(exc)}", file=sys.stderr)
        return 1
    from .mcp.http import HttpConfigError, load_token, serve_http
    from .web.access import Access
    from .web.app import board_app

    try:
        token = load_token(args.auth_token_file)
        if not 0 < args.port < 65536:
            raise HttpConfigError("--port must be between 1 and 65535")

        def board(hosts: list[str]) -> Any:  # the web board under / beside /mcp, same engine
            return board_app(engine, Access(token=token, hosts=hosts))

        heap.settle()
        serve_http(
            server,
            host=args.host,
            port=args.port,
            token=token,
            extra_hosts=args.allowed_host,
            log_level=settings.log_level,
            board=board,
        )
    except HttpConfigError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 2
    return 0


def _board(args: argparse.Namespace, settings: Settings) -> int:
    """``board``: the web board alone, with the HTTP server's token and Host rules."""
    from .mcp.http import HttpConfigError, allowed_names, is_loopback, load_token
    from .web.serve import serve_board

    try:
        token = load_token(args.auth_token_file)
        if token is None and not is_loopback(args.host):
            raise HttpConfigError(
                f"binding to {args.host} (not loopback) needs a token: pass --auth-token-file "
                "FILE or set CODEX_SWARM_AUTH_TOKEN"
            )
        if not 0 < args.port < 65536:
            raise HttpConfigError("--port must be between 1 and 65535")
    except HttpConfigError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 2
    return serve_board(
        settings,
        host=args.host,
        port=args.port,
        token=token,
        hosts=allowed_names(args.host, args.allowed_host),
        open_browser=args.open,
    )


def _ensure_codex(settings: Settings) -> None:
    """Install the per-user copy of the pinned Codex when it is the one to run and is missing
    (a line of progress on stderr; the first start takes as long as npm does)."""
    from .codex.install import CodexInstallError, ensure_pinned, pinned_binary

    if settings.codex_bin != str(pinned_binary()) or Path(settings.codex_bin).exists():
        return
    try:
        ensure_pinned()
    except CodexInstallError as exc:  # launches then say how to get a Codex, as before
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)


def _console(command: str, args: argparse.Namespace, settings: Settings) -> int:
    from .console import common

    starts = command in _STARTS_CODEX and (
        command != "land" or args.resolve or args.on_failure == "reply"
    )
    if starts and not getattr(args, "print_only", False):
        _ensure_codex(settings)
    if command == "setup":
        from .console.setup import setup_command

        return setup_command(
            args.client,
            scope=args.scope,
            print_only=args.print_only,
            server_args=settings_argv(args),
        )
    if command == "doctor":
        from .console.doctor import doctor_command

        return doctor_command(settings, server_args=settings_argv(args), as_json=args.json)
    if command == "board":
        return _board(args, settings)
    if command == "show":
        from .console.show import show_command

        return show_command(settings, args.task_id, as_json=args.json)
    if command == "cancel":
        from .console.show import cancel_command

        return cancel_command(settings, args.task_ids)
    if command == "run":
        from .console.run import RunRequest, run_command
        from .console.words import said
        from .engine.requests import worktree_request
        from .engine.tasks import TaskError

        try:
            worktree = worktree_request(args.worktree, args.base_ref, args.include_uncommitted)
        except TaskError as exc:
            raise ValueError(said(exc)) from None
        cwd = Path(args.cwd).expanduser() if args.cwd else Path.cwd()
        request = RunRequest(
            prompts=tuple(args.prompts),
            cwd=str(cwd.absolute()),
            worktree=worktree,
            sandbox=args.sandbox,
            model=args.model,
            as_json=args.json,
        )
        return run_command(settings, request)
    if command in ("land", "merge", "cleanup"):
        return _branch_console(command, args, settings)
    if command == "steer":
        from .console.steer import steer_command

        return steer_command(settings, args.task_id, args.message)
    if command == "fork":
        from .console.fork import fork_command

        return fork_command(
            settings,
            args.task_id,
            args.prompt,
            count=args.count,
            worktree=args.worktree,
            as_json=args.json,
        )
    if command == "review":
        from .console.review import review_command

        return review_command(
            settings, args.task_id, instructions=args.instructions, as_json=args.json
        )
    if command == "watch" and args.task_id:
        from .console.follow import follow_command

        return follow_command(settings, args.task_id)
    statuses = common.parse_statuses(args.status)
    repo = common.repo_root_of(args.repo) if args.repo else None
    if command == "watch":
        from .console.watch import watch_command

        return watch_command(settings, statuses=statuses, repo=repo)
    from .console.table import tasks_command

    if args.limit < 0:
        raise ValueError("--limit must be 0 (all) or a positive number")
    return tasks_command(
        settings, statuses=statuses, repo=repo, limit=args.limit, as_json=args.json
    )


def _branch_console(command: str, args: argparse.Namespace, settings: Settings) -> int:
    if command == "merge":
        from .console.merge import merge_command

        return merge_command(
            settings, args.task_id, strategy=args.strategy, target=args.target, as_json=args.json
        )
    if command == "cleanup":
        from .console.cleanup import cleanup_command

        return cleanup_command(
            settings, args.task_id, all_merged=args.all_merged, force=args.force, as_json=args.json
        )
    from .console.land import land_command
    from .engine.landing import LandRequest

    if args.check_timeout <= 0:
        raise ValueError("--check-timeout must be a positive number of seconds")
    if args.check_parallel is not None and not 1 <= args.check_parallel <= 64:
        raise ValueError("--check-parallel must be a whole number from 1 to 64")
    if not 1 <= args.attempts <= 10:
        raise ValueError("--attempts must be a whole number from 1 to 10")
    from .console.landings import queued_land_command
    from .engine import is_landing_id

    if args.queue or args.watch:
        named = [i for i in args.task_ids if is_landing_id(i)]
        if named:
            if not args.watch or len(args.task_ids) != 1:
                raise ValueError(
                    "a landing id goes alone, with --watch: `land --watch LANDING_ID` follows it"
                )
            return queued_land_command(
                settings, None, landing_id=named[0], watch=True, as_json=args.json
            )
    cwd = Path(args.cwd).expanduser().absolute() if args.cwd else Path.cwd()
    request = LandRequest(
        task_ids=tuple(args.task_ids) or None,
        cwd=str(cwd),
        target=args.target,
        strategy=args.strategy,
        check=args.check,
        check_timeout=args.check_timeout,
        check_parallel=args.check_parallel,
        resolve=args.resolve,
        on_failure=args.on_failure,
        attempts=args.attempts,
    )
    if args.queue or args.watch:
        return queued_land_command(settings, request, watch=args.watch, as_json=args.json)
    return land_command(settings, request, as_json=args.json)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    command, rest = split_command(words)
    if command is None:
        return _serve(words)
    args = _command_parser(command).parse_args(rest)
    try:
        settings = _settings(args)
        _setup_logging(settings)
        return _console(command, args, settings)
    except ValueError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
