"""Argument errors as sentences that say what to change.

The SDK validates a tool call's arguments against the tool's parameter types and, when they do
not fit, answers with pydantic's dump ("1 validation error for codexArguments ... https://errors
.pydantic.dev/..."). This middleware re-validates such a call's arguments itself and replaces that
text with one sentence per problem, naming the argument as the model wrote it, what it must be,
and what it got.

Owns: the wording of argument errors. Must not: change any other answer, or validate anything
the SDK did not already refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from pydantic import ValidationError

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


Validator = Callable[[dict[str, Any]], Any]


def argument_errors(
    validator_of: Callable[[str], Validator | None],
) -> ServerMiddleware[Any]:
    """A middleware; ``validator_of(name)`` validates a tool's arguments as the SDK does."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
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
