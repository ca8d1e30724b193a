"""A stub of the Codex CLI for fast engine tests: no model, no network.

``write_stub(dir)`` writes an executable ``codex`` that reads the prompt on stdin and prints a
short ``codex exec --json`` stream. A prompt line ``STUB: sleep N`` makes it sleep N seconds
first (a running task to cancel or steer); ``STUB: fail`` makes the turn fail (exit 1).
"""

from __future__ import annotations

import stat
from pathlib import Path

STUB = """#!/bin/sh
prompt=$(cat)
case "$prompt" in
  *"STUB: sleep "*)
    seconds=$(printf '%s\\n' "$prompt" | sed -n 's/.*STUB: sleep \\([0-9.]*\\).*/\\1/p' | head -n 1)
    echo '{"type":"thread.started","thread_id":"01a21195-0000-7000-8000-000000000000"}'
    echo '{"type":"turn.started"}'
    sleep "$seconds"
    ;;
esac
case "$prompt" in
  *"STUB: fail"*)
    echo '{"type":"thread.started","thread_id":"01a21195-0000-7000-8000-000000000000"}'
    echo '{"type":"turn.failed","error":{"message":"stub failure"}}'
    exit 1
    ;;
esac
echo '{"type":"thread.started","thread_id":"01a21195-0000-7000-8000-000000000000"}'
echo '{"type":"turn.started"}'
echo '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"stub"}}'
echo '{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}'
"""


def write_stub(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "codex"
    path.write_text(STUB)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
