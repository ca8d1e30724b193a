"""Argument errors as sentences that say what to change.

The SDK validates a tool call's arguments against the tool's parameter types and, when they do
not fit, answers with pydantic's dump ("1 validation error for codexArguments ... https://errors
.pydantic.dev/..."). This middleware re-validates such a call's arguments itself and replaces that
text with one sentence per problem, naming the argument as the model wrote it, what it must be,
and what it got.

The SDK ignores arguments a tool does not have, so a typo (``worktre``) or a parameter of another
tool would start a task as if it were not there. Before the tool runs, this middleware refuses an
argument that is not among the tool's advertised parameters, naming the nearest one that is.

Owns: the wording of argument errors, and the refusal of unknown arguments. Must not: change any
other answer, or validate anything else the SDK does not refuse.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from pydantic import ValidationError

from .handshake import MODERN_VERSION

PREFIX = "Error executing tool "


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def sentence(error: dict[str, Any]) -> str:
    """One pydantic error as a sentence: ``timeout`` must be greater than 0, not -1."""
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    name = loc[0] if loc else "the arguments"
    kind = str(error.get("type", ""))
    if kind == "missing":
        return f"`{name}` is required: add it."
    if kind == "extra_forbidden":
        return f"`{name}` is not an argument of this tool: remove it."
    what = str(error.get("msg", "is not valid"))
    what = what.removeprefix("Input should be ").removeprefix("Value should be ")
    what = what.removeprefix("Value error, ")
    if what.startswith("String should have at most"):
        what = what.replace("String should have", "have", 1)
    elif what.startswith("List should have"):
        what = what.replace("List should have", "have", 1)
    else:
        what = "be " + what
    where = "".join(f"[{p}]" for p in error.get("loc", ())[1:])
    got = error.get("input")
    return f"`{name}{where}` must {what}, not {_shown(got)}."


def explain(tool: str, exc: ValidationError) -> str:
    lines = [sentence(dict(e)) for e in exc.errors()]
    return f"Invalid arguments for {tool}: " + " ".join(lines) + " Change them and call again."


def unknown(tool: str, given: Collection[str], known: Collection[str]) -> str | None:
    """A sentence refusing the arguments in ``given`` that are not in ``known`` (None if all
    are known): each named with the nearest known parameter, when one is near."""
    parts = []
    for name in sorted(set(given) - set(known)):
        near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean `{near[0]}`?)" if near else ""
        parts.append(f"`{name}`{hint}")
    if not parts:
        return None
    which = "is not a parameter" if len(parts) == 1 else "are not parameters"
    return (
        f"Invalid arguments for {tool}: {', '.join(parts)} {which} of {tool}, so nothing was "
        f"done. Its parameters: {', '.join(sorted(known)) or 'none'}. Fix the name and call again."
    )


Validator = Callable[[dict[str, Any]], Any]


def argument_errors(
    validator_of: Callable[[str], Validator | None],
    parameters_of: Callable[[str], Collection[str] | None],
) -> ServerMiddleware[Any]:
    """A middleware; ``validator_of(name)`` validates a tool's arguments as the SDK does, and
    ``parameters_of(name)`` gives the tool's parameter names as the client sees them."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call":
            params = ctx.params or {}
            known = parameters_of(str(params.get("name")))
            arguments = params.get("arguments")
            if known is not None and isinstance(arguments, dict):
                refusal = unknown(str(params.get("name")), arguments, known)
                if refusal is not None:
                    refused: dict[str, Any] = {
                        "content": [{"type": "text", "text": refusal}],
                        "isError": True,
                    }
                    if ctx.protocol_version == MODERN_VERSION:
                        refused["resultType"] = "complete"
                    return refused
        result = await call_next(ctx)
        if ctx.method != "tools/call" or not isinstance(result, dict) or not result.get("isError"):
            return result
        content = result.get("content") or []
        first = content[0] if content and isinstance(content[0], dict) else {}
        if not str(first.get("text", "")).startswith(PREFIX):
            return result
        params = ctx.params or {}
        name = str(params.get("name"))
        validate = validator_of(name)
        if validate is None:
            return result
        try:
            validate(dict(params.get("arguments") or {}))
        except ValidationError as exc:
            return {**result, "content": [{"type": "text", "text": explain(name, exc)}]}
        return result

    return middleware
