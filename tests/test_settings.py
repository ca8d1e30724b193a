"""Settings: flags over environment over defaults, and every bad value refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_mcp_swarm.codex.install import pinned_binary
from codex_mcp_swarm.settings import Settings, default_max_parallel, parse_duration


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.build(environ={})
    # No codex on PATH: the per-user copy of the pinned Codex (codex.install).
    assert settings.codex_bin == str(pinned_binary({}))
    (tmp_path / "codex").write_text("#!/bin/sh\n")
    (tmp_path / "codex").chmod(0o755)
    assert Settings.build(environ={"PATH": str(tmp_path)}).codex_bin == "codex"  # as before
    assert settings.max_parallel == default_max_parallel()
    assert settings.idle_timeout == 600.0
    assert settings.retries == 0
    assert settings.max_output_chars == 20_000
    assert settings.log_level == "WARNING"


def test_flags_win_over_environment(tmp_path: Path) -> None:
    env = {
        "CODEX_SWARM_TASK_DIR": str(tmp_path / "from-env"),
        "CODEX_SWARM_CODEX_BIN": "/env/codex",
        "CODEX_SWARM_MAX_PARALLEL": "3",
    }
    from_env = Settings.build(environ=env)
    assert from_env.task_dir == (tmp_path / "from-env").resolve()
    assert from_env.codex_bin == "/env/codex"
    assert from_env.max_parallel == 3
    flags = Settings.build(
        environ=env, task_dir=str(tmp_path / "flag"), codex_bin="/flag/codex", max_parallel=5
    )
    assert flags.task_dir == (tmp_path / "flag").resolve()
    assert (flags.codex_bin, flags.max_parallel) == ("/flag/codex", 5)


def test_overrides_are_encoded_as_toml() -> None:
    settings = Settings.build(environ={}, overrides=["model=o3", 'effort="high"', "n=3"])
    assert settings.overrides == (("model", '"o3"'), ("effort", '"high"'), ("n", "3"))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"max_parallel": 0}, "--max-parallel"),
        ({"timeout": -1.0}, "--timeout"),
        ({"idle_timeout": -1.0}, "--idle-timeout"),
        ({"retries": 11}, "--retries"),
        ({"sandbox_ceiling": "root"}, "--sandbox-ceiling"),
        ({"max_output_chars": 10}, "--max-output-chars"),
        ({"overrides": ["no-equals-sign"]}, "key=value"),
        ({"allowed_roots": ["/does/not/exist"]}, "--allowed-root"),
    ],
)
def test_bad_values_are_refused_with_the_flag_named(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.build(environ={}, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CODEX_SWARM_MAX_PARALLEL": "many"}, "CODEX_SWARM_MAX_PARALLEL"),
        ({"CODEX_SWARM_LOG_LEVEL": "LOUD"}, "CODEX_SWARM_LOG_LEVEL"),
        ({"CODEX_SWARM_TASK_MAX_AGE": "soon"}, "CODEX_SWARM_TASK_MAX_AGE"),
    ],
)
def test_bad_environment_is_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.build(environ=env)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("24h", 86400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_idle_timeout_zero_turns_it_off() -> None:
    assert Settings.build(environ={}, idle_timeout=0).idle_timeout is None
