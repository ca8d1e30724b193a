"""A :class:`TaskSpec` -> the argv of ``codex exec`` / ``resume`` / ``fork`` / ``review``.

Owns: what one Codex run is asked to do (the spec), which values the pinned Codex refuses
(:data:`REFUSED_VALUES`, each with what to use instead), how each setting reaches Codex (always as a
single ``--config=key=<TOML>`` token, so no caller text can ever be read as a flag; an output
schema as one ``--output-schema=FILE`` token), and the TOML encoding of values (so a string
stays a string: the text ``true`` is sent as ``"true"``).

Must not: start processes, touch the store, or know about MCP. The prompt is never in argv: it is
given on stdin with ``-`` as the prompt argument, so a prompt that starts with ``-`` stays a prompt.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")  # every one Codex had
# Values the pinned Codex (0.171) refuses at start, with what to use instead. Older versions took
# them; the parameters stay, and these values are refused before a task is recorded.
REFUSED_VALUES: dict[tuple[str, str], str] = {
    ("approval_policy", "untrusted"): (
        'approval-policy "untrusted" is refused by Codex 0.171, the pinned version (older ones '
        "took it): use "
        '"on-request" (the agent asks when it needs more, and codex exec, which cannot ask, '
        "refuses those requests) or leave approval-policy out"
    ),
}

_KEY_PART = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_KEY_RE = re.compile(rf"{_KEY_PART}(\.{_KEY_PART})*")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_PROFILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class SpecError(ValueError):
    """A spec or override that cannot be turned into a safe Codex command; the text says why."""


def is_uuid(text: str) -> bool:
    return bool(_UUID_RE.fullmatch(text))


def check_config_key(key: str) -> str:
    """Accept a dotted config key made of bare TOML keys (``a.b_c.d-e``), or raise SpecError."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise SpecError(
            f"config key {key!r} is not a dotted key of letters, digits, '_' and '-' "
            "(for example 'model_reasoning_effort' or 'shell_environment_policy.inherit')"
        )
    return key


def check_profile(name: str) -> str:
    if not _PROFILE_RE.fullmatch(name):
        raise SpecError(
            f"profile {name!r} must be 1-64 letters, digits, '_', '.' or '-', not starting with "
            "'-' or '.' (it names $CODEX_HOME/<profile>.config.toml)"
        )
    return name


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\uFFFD")  # a lone surrogate cannot be encoded; TOML forbids it
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    """Encode a JSON-like value as one TOML value (inline tables for objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise SpecError(f"config value {value} does not fit TOML's 64-bit integers")
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (bytes, bytearray)):
        raise SpecError("config values cannot be bytes")
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        parts = []
        for k, v in value.items():
            key = str(k)
            key_text = key if _BARE_KEY_RE.fullmatch(key) else _toml_string(key)
            parts.append(f"{key_text} = {toml_value(v)}")
        return "{" + ", ".join(parts) + "}"
    if value is None:
        raise SpecError("config values cannot be null: TOML has no null; leave the key out")
    raise SpecError(f"config value of type {type(value).__name__} cannot be encoded as TOML")


def refused_in_config(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(where, why)`` for each value of a parsed config.toml that the pinned Codex refuses:
    top-level keys, and each ``[profiles.<name>]`` table's."""
    tables: list[tuple[str, Any]] = [("", config)]
    profiles = config.get("profiles")
    if isinstance(profiles, Mapping):
        tables += [(f"profiles.{name}.", table) for name, table in profiles.items()]
    found = []
    for prefix, table in tables:
        if not isinstance(table, Mapping):
            continue
        for (key, value), why in REFUSED_VALUES.items():
            if table.get(key) == value:
                found.append((f"{prefix}{key} = {toml_value(value)}", why))
    return found


def check_supported(key: str, value: Any) -> None:
    """Raise SpecError when the pinned Codex refuses ``value`` for config ``key``."""
    why = REFUSED_VALUES.get((key, value)) if isinstance(value, str) else None
    if why is not None:
        raise SpecError(why)


def parse_override(text: str) -> tuple[str, str]:
    """Parse a server-wide ``key=value`` like Codex's ``-c``: value as TOML, else a literal string.

    Returns ``(key, toml_text)`` with the value re-encoded, so what reaches Codex is exactly what
    was meant. Raises SpecError for an entry without ``=`` or with a bad key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:
        raise SpecError(f'-c {text!r}: expected key=value (for example -c model="o3")')
    check_config_key(key)
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    check_supported(key, value)
    return key, toml_value(value)


_SHA_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


@dataclass(frozen=True)
class ReviewTarget:
    """What ``codex exec review`` looks at: the changes since ``base`` (a full commit id, so no
    caller text ever reaches argv) or the uncommitted changes. ``custom`` means the run's prompt
    is a whole review request of ours (Codex refuses ``--base`` together with a prompt)."""

    base: str | None = None
    uncommitted: bool = False
    custom: bool = False

    def check(self) -> ReviewTarget:
        if self.custom:
            if self.base is not None or self.uncommitted:
                raise SpecError("a custom review request names its target in its prompt")
            return self
        if (self.base is None) == (not self.uncommitted):
            raise SpecError("a review needs exactly one target: a base commit or uncommitted")
        if self.base is not None and not _SHA_RE.fullmatch(self.base):
            raise SpecError(f"review base {self.base!r} is not a full commit id")
        return self

    def args(self) -> list[str]:
        self.check()
        if self.custom:
            return ["-"]
        if self.base is not None:
            return [f"--base={self.base}"]
        return ["--uncommitted"]


@dataclass(frozen=True)
class TaskSpec:
    """Everything one Codex run is asked to do. :meth:`check` validates it (the engine calls
    it before a task is recorded)."""

    prompt: str
    cwd: str
    model: str | None = None
    sandbox: str | None = None
    approval_policy: str | None = None
    profile: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    base_instructions: str | None = None
    developer_instructions: str | None = None
    compact_prompt: str | None = None
    resume_thread_id: str | None = None
    fork_thread_id: str | None = None  # ``exec fork``: a new thread from a copy of this one
    review: ReviewTarget | None = None  # ``exec review``: what to review (the prompt is ignored
    # unless ``review.instructions`` is set: then the prompt is the whole review request)
    # ``exec --output-schema FILE``: a JSON Schema the final message must follow. The file is
    # written by the task's supervisor, where Codex runs (see :func:`with_output_schema`).
    output_schema: Mapping[str, Any] | None = None

    def check(self) -> TaskSpec:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise SpecError("prompt must be a non-empty string")
        if "\x00" in self.prompt:
            raise SpecError("prompt must not contain NUL characters")
        if self.sandbox is not None and self.sandbox not in SANDBOX_MODES:
            raise SpecError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}")
        if self.approval_policy is not None and self.approval_policy not in APPROVAL_POLICIES:
            raise SpecError(f"approval-policy must be one of {', '.join(APPROVAL_POLICIES)}")
        check_supported("approval_policy", self.approval_policy)
        if self.profile is not None:
            check_profile(self.profile)
        if self.resume_thread_id is not None and not is_uuid(self.resume_thread_id):
            raise SpecError(f"threadId {self.resume_thread_id!r} is not a UUID")
        if self.fork_thread_id is not None and not is_uuid(self.fork_thread_id):
            raise SpecError(f"threadId {self.fork_thread_id!r} is not a UUID")
        if (
            sum(x is not None for x in (self.resume_thread_id, self.fork_thread_id, self.review))
            > 1
        ):
            raise SpecError("a run resumes, forks or reviews: at most one of them")
        if self.review is not None:
            self.review.check()
        if self.output_schema is not None:
            check_output_schema(self.output_schema)
            if self.review is not None:
                raise SpecError("a review answers in its own format: it takes no output schema")
        for key, value in self.config.items():
            check_config_key(key)
            toml_value(value)
            try:
                check_supported(key, value)
            except SpecError as exc:
                raise SpecError(f"config {key}: {exc}") from None
        return self

    def overrides(self) -> list[tuple[str, str]]:
        """The spec's settings as ``(key, toml)`` pairs; named parameters win over ``config``."""
        pairs = [(key, toml_value(value)) for key, value in self.config.items()]
        named = {
            "model": self.model,
            "sandbox_mode": self.sandbox,
            "approval_policy": self.approval_policy,
            "instructions": self.base_instructions,
            "developer_instructions": self.developer_instructions,
            "compact_prompt": self.compact_prompt,
        }
        pairs += [(key, toml_value(value)) for key, value in named.items() if value is not None]
        return pairs


OUTPUT_SCHEMA_LIMIT = 100_000  # characters of JSON


def check_output_schema(schema: Any) -> Mapping[str, Any]:
    """Accept a JSON Schema object of a sane size, or raise SpecError."""
    if not isinstance(schema, Mapping):
        raise SpecError('output_schema must be a JSON Schema object, e.g. {"type": "object"}')
    try:
        size = len(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError):
        raise SpecError("output_schema must be plain JSON") from None
    if size > OUTPUT_SCHEMA_LIMIT:
        raise SpecError(
            f"output_schema is {size} characters of JSON; at most {OUTPUT_SCHEMA_LIMIT}"
        )
    return schema


def with_output_schema(argv: Sequence[str], path: str) -> list[str]:
    """A :func:`build_argv` result that also asks Codex for a final message following the JSON
    Schema in the file at ``path`` (the option goes before the subcommand, so a continued or
    steered thread keeps it)."""
    if len(argv) < 2 or argv[1] != "exec":
        raise SpecError("not an argv of build_argv")
    return [argv[0], "exec", f"--output-schema={path}", *argv[2:]]


def build_argv(
    codex_bin: str,
    spec: TaskSpec,
    defaults: Sequence[tuple[str, str]] = (),
    *,
    skip_git_repo_check: bool = False,
    ephemeral: bool = False,
) -> list[str]:
    """The full argv for ``spec``: server ``defaults`` first, the spec's own settings after them
    (Codex applies ``--config`` in order, so the later, more specific one wins)."""
    argv = [codex_bin, "exec", "--json"]
    if skip_git_repo_check:
        argv.append("--skip-git-repo-check")
    if ephemeral:
        argv.append("--ephemeral")
    argv.append(f"--cd={spec.cwd}")
    if spec.profile:
        argv.append(f"--profile={check_profile(spec.profile)}")
    for key, value in [*defaults, *spec.overrides()]:
        argv.append(f"--config={check_config_key(key)}={value}")
    if spec.review is not None:
        if spec.resume_thread_id is not None or spec.fork_thread_id is not None:
            raise SpecError("a review cannot also resume or fork a thread")
        return [*argv, "review", *spec.review.args()]  # its prompt (if any) comes on stdin
    if spec.resume_thread_id is not None and spec.fork_thread_id is not None:
        raise SpecError("a run resumes or forks a thread, not both")
    if spec.resume_thread_id is not None:
        return continue_argv(argv, spec.resume_thread_id)
    if spec.fork_thread_id is not None:
        if not is_uuid(spec.fork_thread_id):
            raise SpecError(f"threadId {spec.fork_thread_id!r} is not a UUID")
        return [*argv, "fork", spec.fork_thread_id, "-"]
    argv.append("-")  # the prompt comes on stdin
    return argv


def continue_argv(prefix: Sequence[str], thread_id: str) -> list[str]:
    """``prefix`` (a :func:`build_argv` result without its subcommand and prompt, as
    :func:`exec_prefix` gives it) continuing ``thread_id``, the prompt on stdin."""
    if not is_uuid(thread_id):
        raise SpecError(f"threadId {thread_id!r} is not a UUID")
    return [*prefix, "resume", thread_id, "-"]


def exec_prefix(argv: Sequence[str]) -> list[str]:
    """The part of a :func:`build_argv` result before its subcommand and prompt: the binary,
    ``exec --json`` and every setting. A steered task continues its thread with these."""
    for i, token in enumerate(argv):
        if i > 1 and (token in ("resume", "fork", "review", "-")):
            return list(argv[:i])
    raise SpecError("not an argv of build_argv")
