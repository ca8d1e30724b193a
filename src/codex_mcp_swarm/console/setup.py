"""``codex-mcp-swarm setup claude|codex [--scope user|project] [--print]``: plug the server in.

Owns: writing the client configuration that ``doctor`` prints (the same lines, from
:func:`doctor.client_config`) where each client reads it. Codex: the ``[mcp_servers.codex-swarm]``
table merged into ``config.toml`` (``$CODEX_HOME``, or ``.codex/`` of the current directory for
``--scope project``) with tomlkit, so the file's comments, order and other tables stay as they
were and keys the user added to the table are kept. Claude Code: ``claude mcp add`` when
``claude`` is on ``PATH``, otherwise the same entry merged into ``~/.claude.json`` (user) or
``.mcp.json`` (project). Running it again changes nothing when the configuration is already
there; ``--print`` shows what it would write and changes nothing.

Must not: touch any other server's entry, or write a file other than the one named above.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
import tomlkit.items

from ..codex.credentials import codex_home
from .doctor import SERVER_NAME, client_config

CLIENTS = ("claude", "codex")
SCOPES = ("user", "project")


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename, keeping its mode (0600 for a new file)."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


# ---- Codex -----------------------------------------------------------------------------------


def codex_config_path(scope: str, environ: Mapping[str, str], cwd: Path) -> Path:
    if scope == "project":
        return cwd / ".codex" / "config.toml"
    return codex_home(environ) / "config.toml"


def merged_codex_config(existing: str, block: str) -> str:
    """``existing`` (a config.toml's text) with the server's table from ``block`` merged in."""
    document = tomlkit.parse(existing)
    wanted = tomlkit.parse(block)["mcp_servers"][SERVER_NAME]
    servers = document.get("mcp_servers")
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        document["mcp_servers"] = servers
    if not isinstance(servers, tomlkit.items.Table):
        raise ValueError("mcp_servers in the Codex config is not a table")
    entry = servers.get(SERVER_NAME)
    if entry is None:
        servers[SERVER_NAME] = wanted
    elif isinstance(entry, tomlkit.items.Table):
        for key, value in wanted.items():
            if entry.get(key) != value:
                entry[key] = value
        if "env" not in wanted and "env" in entry:
            del entry["env"]  # the server's variables are now none: the old ones would linger
    else:
        raise ValueError(f"mcp_servers.{SERVER_NAME} in the Codex config is not a table")
    text = document.as_string()
    return text if text.endswith("\n") or not text else text + "\n"


PROJECT_NOTE = (
    "Codex reads a project's .codex/config.toml only when the project is trusted (Codex asks "
    "the first time it runs there)."
)


def setup_codex(path: Path, block: str, *, print_only: bool, scope: str) -> tuple[str, bool]:
    """(what was done, whether the file changed)."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        merged = merged_codex_config(existing, block)
    except (ValueError, tomlkit.exceptions.TOMLKitError) as exc:
        raise ValueError(
            f"{path} cannot be merged ({exc}); fix it or add the lines by hand"
        ) from None
    if merged == existing:
        return f"Codex: {path} already starts this server as [mcp_servers.{SERVER_NAME}].", False
    if print_only:
        return f"Codex: would write [mcp_servers.{SERVER_NAME}] into {path}:\n{block}", False
    _write_atomically(path, merged)
    note = f" {PROJECT_NOTE}" if scope == "project" else ""
    return f"Codex: wrote [mcp_servers.{SERVER_NAME}] into {path}.{note}", True


# ---- Claude Code ---------------------------------------------------------------------------------


def claude_json_path(scope: str, environ: Mapping[str, str], cwd: Path) -> Path:
    if scope == "project":
        return cwd / ".mcp.json"
    config_dir = environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config_dir) if config_dir else Path(environ.get("HOME") or Path.home())
    return base.expanduser() / ".claude.json"


def _same_entry(found: Any, wanted: dict[str, Any]) -> bool:
    if not isinstance(found, dict):
        return False
    return (
        found.get("command") == wanted["command"]
        and list(found.get("args") or []) == wanted["args"]
        and dict(found.get("env") or {}) == dict(wanted.get("env") or {})
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def setup_claude(
    path: Path,
    scope: str,
    server: dict[str, Any],
    *,
    claude: str | None,
    print_only: bool,
    environ: Mapping[str, str],
    cwd: Path,
) -> tuple[str, bool]:
    """(what was done, whether anything changed). ``claude``: the CLI, when it is on PATH."""
    data = _read_json(path)
    servers = data.get("mcpServers")
    if _same_entry(servers.get(SERVER_NAME) if isinstance(servers, dict) else None, server):
        return f"Claude Code: {path} already starts this server as {SERVER_NAME}.", False
    if claude is not None:
        env_flags = [w for k, v in (server.get("env") or {}).items() for w in ("-e", f"{k}={v}")]
        add = [claude, "mcp", "add", "--scope", scope, SERVER_NAME, *env_flags, "--"]
        add += [server["command"], *server["args"]]
        if print_only:
            return f"Claude Code: would run {shlex.join(add)}", False
        if isinstance(servers, dict) and SERVER_NAME in servers:  # an older entry: replace it
            _claude(
                claude, "mcp", "remove", "--scope", scope, SERVER_NAME, environ=environ, cwd=cwd
            )
        _claude(*add, environ=environ, cwd=cwd)
        return f"Claude Code: ran {shlex.join(add)}", True
    entry = {"type": "stdio", **server}
    if print_only:
        text = json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2)
        return (
            f"Claude Code: would write {SERVER_NAME} into {path} (no `claude` on PATH):\n{text}",
            False,
        )
    if not isinstance(servers, dict):
        servers = data["mcpServers"] = {}
    servers[SERVER_NAME] = entry
    _write_atomically(path, json.dumps(data, indent=2) + "\n")
    return f"Claude Code: wrote {SERVER_NAME} into {path} (no `claude` on PATH).", True


def _claude(*argv: str, environ: Mapping[str, str], cwd: Path) -> None:
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=dict(environ),
        cwd=cwd,
    )
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ValueError(f"`{shlex.join(argv[1:4])}` failed (exit {done.returncode}): {said[0]}")


# ---- the command ---------------------------------------------------------------------------------


def setup_command(
    client: str,
    *,
    scope: str,
    print_only: bool,
    server_args: Sequence[str],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Exit code 0 when the client is set up (or would be, with ``--print``), 2 when it cannot."""
    env = dict(os.environ if environ is None else environ)
    here = cwd or Path.cwd()
    config = client_config(server_args, env)
    try:
        if client == "codex":
            path = codex_config_path(scope, env, here)
            said, _ = setup_codex(path, config["codex_toml"], print_only=print_only, scope=scope)
        else:
            server = config["claude_code_json"]["mcpServers"][SERVER_NAME]
            claude = shutil.which("claude", path=env.get("PATH", os.defpath))
            said, _ = setup_claude(
                claude_json_path(scope, env, here),
                scope,
                server,
                claude=claude,
                print_only=print_only,
                environ=env,
                cwd=here,
            )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"codex-mcp-swarm setup: {exc}", file=sys.stderr)
        return 2
    print(said)
    if config.get("note"):
        print(config["note"])
    return 0
