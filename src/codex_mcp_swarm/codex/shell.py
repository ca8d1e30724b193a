"""How a command Codex ran reads for a person: its shell wrapper taken off.

Owns: :func:`command_text`. Codex runs a model's command as ``/bin/bash -lc '<command>'`` (or
``zsh``/``sh``, as a string or an argv list); people want ``<command>`` as the model wrote it.

Must not: do I/O or know any face (the console, the board and the engine's "doing now" all use it).
"""

from __future__ import annotations

import re
import shlex

# ``[/any/dir/]bash|zsh|sh -lc <one shell word>``: Codex's wrapper around a model's command.
_SHELL_WRAPPER = re.compile(r"(?:\S*/)?(?:bash|zsh|sh) -lc (.+)", re.DOTALL)
_SHELLS = re.compile(r"(?:\S*/)?(?:bash|zsh|sh)")


def command_text(command: object) -> str:
    """``command`` (a string or an argv list) as its author wrote it: the wrapper taken off.
    Anything that is not exactly a wrapper around one shell word is returned as it is."""
    if isinstance(command, list):
        words = [str(word) for word in command]
        if len(words) == 3 and _SHELLS.fullmatch(words[0]) and words[1] == "-lc":
            return words[2]
        return " ".join(words)
    text = str(command or "")
    wrapped = _SHELL_WRAPPER.fullmatch(text)
    if wrapped:
        try:
            words = shlex.split(wrapped.group(1))
        except ValueError:
            return text
        if len(words) == 1:
            return words[0]
    return text
