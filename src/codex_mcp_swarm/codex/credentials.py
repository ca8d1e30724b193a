"""Whether Codex will find credentials for its model provider, told without running it.

Owns: the rule, in this order: a provider configured with its own ``env_key`` needs that variable
(set: credentials; unset: none); otherwise ``OPENAI_API_KEY`` or ``CODEX_API_KEY`` in the
environment, a ``codex login`` ($CODEX_HOME/auth.json), or a provider that needs no OpenAI auth.
Each answer is a sentence, and when nothing is found, the fix.

Must not: read a secret (variables are only tested for being set, auth.json for existing),
print one, or change anything.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

API_KEY_VARIABLES = ("OPENAI_API_KEY", "CODEX_API_KEY")


@dataclass(frozen=True)
class Credentials:
    """``found``: Codex has what it needs to reach its model; ``said``: how we know (or why
    not); ``fix``: what to do when it has not."""

    found: bool
    said: str
    fix: str | None = None


def codex_home(environ: Mapping[str, str]) -> Path:
    home = environ.get("CODEX_HOME")
    if home:
        return Path(home).expanduser()
    return Path(environ.get("HOME") or Path.home()) / ".codex"


def find_credentials(environ: Mapping[str, str], provider: str | None = None) -> Credentials:
    """What Codex, started with ``environ`` (and ``-c model_provider=<provider>`` when given),
    would use to reach its model."""
    home = codex_home(environ)
    config_path = home / "config.toml"
    config: dict[str, Any] = {}
    if config_path.is_file():
        try:
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return Credentials(
                False,
                f"{config_path} cannot be read as TOML ({exc})",
                f"Fix {config_path} or move it aside: Codex refuses to start with it too.",
            )
    provider = str(provider or config.get("model_provider") or "openai")
    providers = config.get("model_providers")
    entry = providers.get(provider) if isinstance(providers, dict) else None
    if isinstance(entry, dict) and entry.get("env_key"):
        key = str(entry["env_key"])
        if environ.get(key):
            return Credentials(True, f"model provider {provider!r} reads its key from {key} (set)")
        return Credentials(
            False,
            f"model provider {provider!r} needs the environment variable {key}, which is not set",
            f"Set {key} in the environment your MCP client starts the server with.",
        )
    for name in API_KEY_VARIABLES:
        if environ.get(name):
            return Credentials(True, f"API key in {name} (set)")
    if (home / "auth.json").is_file():
        return Credentials(True, f"Codex login found ({home / 'auth.json'})")
    if isinstance(entry, dict) and not entry.get("requires_openai_auth"):
        return Credentials(True, f"model provider {provider!r} needs no API key")
    return Credentials(
        False,
        f"no Codex login or API key found (no OPENAI_API_KEY, no {home / 'auth.json'})",
        "Run `codex login`, or set OPENAI_API_KEY in the environment your MCP client starts "
        "the server with.",
    )
