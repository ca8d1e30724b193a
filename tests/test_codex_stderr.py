"""Codex's own reason from its stderr (codex_mcp_swarm.codex.stderr)."""

from __future__ import annotations

import pytest

from codex_mcp_swarm.codex.stderr import MAX_CHARS, codex_error

pytestmark = pytest.mark.unit

# What Codex 0.171 printed for `-c approval_policy="untrusted"` (exit 1), verbatim.
UNTRUSTED = """\
WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper \
binaries under temporary dir "/tmp" (codex_home: AbsolutePathBuf("/tmp/ev-try/home"))
Error: approval_policy = "untrusted" is no longer supported; remove this setting

Stack backtrace:
   0: <unknown>
   1: <unknown>
   2: <unknown>
   3: <unknown>
"""


def test_the_error_sentence_without_the_backtrace() -> None:
    assert codex_error(UNTRUSTED) == (
        'approval_policy = "untrusted" is no longer supported; remove this setting'
    )


def test_causes_are_joined() -> None:
    text = (
        "Error: failed to load configuration\n\nCaused by:\n    0: bad file\n    1: no such key\n"
        "\nStack backtrace:\n   0: <unknown>\n"
    )
    assert codex_error(text) == "failed to load configuration: bad file: no such key"
    assert codex_error("Error: a\n\nCaused by:\n    only cause\n") == "a: only cause"


def test_a_sentence_over_two_lines() -> None:
    assert codex_error("Error: the first half\nand the second\n\nStack backtrace:\n") == (
        "the first half and the second"
    )


def test_the_last_error_wins() -> None:
    assert codex_error("Error: old\n\nError: new\n") == "new"


def test_no_error_line() -> None:
    assert codex_error("") is None
    assert codex_error("panicked at src/main.rs\n   0: <unknown>\n") is None
    assert codex_error("  Error: indented is not Codex's top-level error\n") is None
    assert codex_error("Error: \n") is None


def test_long_errors_are_capped() -> None:
    text = codex_error("Error: " + "x" * 10_000)
    assert text is not None and len(text) == MAX_CHARS and text.endswith("…")
