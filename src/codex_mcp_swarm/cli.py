"""The command line: flags and environment variables -> :class:`Settings` -> a running server.

``codex-mcp-swarm [serve] [flags]`` serves MCP over stdio. Flags keep Codex's names and meanings
(``-c key=value``, ``--skip-git-repo-check``, ``--ephemeral``). A bad flag stops the server at
start with a sentence on stderr and exit code 2, rather than failing every task later.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__
from .engine.store import StoreError, make_private_dir
from .settings import ENV_CODEX_BIN, ENV_MAX_PARALLEL, ENV_TASK_DIR, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-mcp-swarm",
        description="MCP server that runs many OpenAI Codex CLI agents in parallel.",
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-c",
        "--config",
        dest="overrides",
        action="append",
        default=[],
        metavar="key=value",
        help="Codex config override passed to every run (repeatable; value parsed as TOML)",
    )
    parser.add_argument(
        "--skip-git-repo-check",
        action="store_true",
        help="let Codex run outside a git repository",
    )
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="Codex writes no session files (codex_reply is then unavailable)",
    )
    parser.add_argument(
        "--codex-bin", metavar="PATH", help=f"Codex binary (env {ENV_CODEX_BIN}; default: codex)"
    )
    parser.add_argument(
        "--task-dir", metavar="DIR", help=f"task store and logs (env {ENV_TASK_DIR})"
    )
    parser.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help=f"tasks running at once; more wait in a queue (env {ENV_MAX_PARALLEL})",
    )
    parser.add_argument(
        "--cancel-on-exit",
        action="store_true",
        help="cancel this server's running tasks when it exits (default: they keep running)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="default maximum runtime of a task (default: none)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="default: fail a task when Codex reports nothing this long while no command runs "
        "(default 600; 0 turns it off)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="default retries of a run that failed on a transient model error (default 0)",
    )
    parser.add_argument(
        "--allowed-root",
        action="append",
        default=[],
        metavar="DIR",
        help="tasks may only run in these directories (repeatable; default: anywhere)",
    )
    parser.add_argument(
        "--sandbox-ceiling",
        choices=["read-only", "workspace-write", "danger-full-access"],
        help="the strongest sandbox a call may ask for",
    )
    parser.add_argument(
        "--max-output-chars",
        type=int,
        metavar="N",
        help="cap on one tool answer (default 20000); cuts say where the rest is",
    )
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.build(
            overrides=args.overrides,
            codex_bin=args.codex_bin,
            task_dir=args.task_dir,
            skip_git_repo_check=args.skip_git_repo_check,
            ephemeral=args.ephemeral,
            max_parallel=args.max_parallel,
            cancel_on_exit=args.cancel_on_exit,
            timeout=args.timeout,
            idle_timeout=args.idle_timeout,
            retries=args.retries,
            allowed_roots=args.allowed_root,
            sandbox_ceiling=args.sandbox_ceiling,
            max_output_chars=args.max_output_chars,
        )
    except ValueError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    from .mcp.server import build_server  # the SDK import is only paid when serving

    try:
        server = build_server(settings)
    except StoreError as exc:
        print(f"codex-mcp-swarm: {exc}", file=sys.stderr)
        return 1
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
