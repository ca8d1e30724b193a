"""The tools' schemas: parameter types (with their descriptions and limits) and result models.

Owns: what a model reads in ``tools/list``: every parameter's name, type, bounds and one-line
description, and the ``outputSchema`` of each tool. Pydantic validates calls against these before
a tool runs, so a wrong type or an out-of-range value is an ``isError`` result naming the field.
A client sends every tool definition to its model on every request, so they are kept lean:
:func:`lean` drops what pydantic adds and a model does not need (titles, ``null`` alternatives
of optional parameters, ``default: null``), descriptions are a few words, and the long story of
each parameter is in docs/tools.md. Output schemas are also :func:`inline` (no ``$ref``), which
is what makes the SDK client's check of every answer against them cheap.

Must not: contain behaviour.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from ..engine import PHASES, CleanupReport, DiffReport, MergeReport, Phase

PROMPT_LIMIT = 1_000_000  # characters
MAX_IDS = 200
MAX_WAIT = 3600.0  # seconds one codex_wait call may block
DEFAULT_WAIT = 300.0
PHASE_NAMES = PHASES  # named once, in engine.phases


NULL = {"type": "null"}
NAMED = ("properties", "$defs", "patternProperties")  # their keys are names, not keywords


def lean(schema: Any, *, nulls: bool = False) -> Any:
    """``schema`` without pydantic's noise: no ``title``; unless ``nulls`` (an output schema,
    whose values may be null), an optional parameter's ``anyOf: [X, {"type": "null"}]`` with
    ``default: null`` becomes X (omitting it means null; validation still accepts a null)."""
    if isinstance(schema, list):
        return [lean(item, nulls=nulls) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in NAMED and isinstance(value, dict):
            out[key] = {name: lean(sub, nulls=nulls) for name, sub in value.items()}
        elif key != "title":
            out[key] = lean(value, nulls=nulls)
    options = out.get("anyOf")
    optional = "default" in out and out["default"] is None and not nulls
    if optional and isinstance(options, list) and len(options) == 2 and NULL in options:
        kept = options[1 - options.index(NULL)]
        out.pop("anyOf")
        out = {**kept, **out}
    if "default" in out and out["default"] is None and not nulls:
        out.pop("default")
    return out


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each ``$ref`` to its ``$defs`` replaced by the definition itself.

    The SDK's client checks every answer against the tool's output schema, and a ``$ref``
    costs a lookup per object it describes (20 tasks in a ``codex_status`` answer: 40 lookups,
    a fifth of the check). A definition that refers to itself keeps its ``$ref``."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema

    kept = False

    def resolve(value: Any, seen: tuple[str, ...]) -> Any:
        nonlocal kept
        if isinstance(value, list):
            return [resolve(item, seen) for item in value]
        if not isinstance(value, dict):
            return value
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in defs and name not in seen:
                rest = {k: v for k, v in value.items() if k != "$ref"}
                return resolve({**defs[name], **rest}, (*seen, name))
            kept = True
        return {k: resolve(v, seen) for k, v in value.items()}

    out = {k: resolve(v, ()) for k, v in schema.items() if k != "$defs"}
    if kept:  # a recursive definition still refers to itself
        out["$defs"] = defs
    return out


Prompt = Annotated[
    str,
    Field(min_length=1, max_length=PROMPT_LIMIT, description="what the agent should do"),
]
Model = Annotated[str | None, Field(max_length=200, description="e.g. gpt-5.5")]
Sandbox = Annotated[
    Literal["read-only", "workspace-write", "danger-full-access"] | None,
    Field(description="default read-only"),
]
ApprovalPolicy = Annotated[
    Literal["untrusted", "on-failure", "on-request", "never"] | None,
    Field(alias="approval-policy"),
    # Advertised without "untrusted", which the pinned Codex refuses (the refusal says so).
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["on-failure", "on-request", "never"],
            "description": "exec cannot ask: escalations are refused",
        }
    ),
]
Cwd = Annotated[
    str | None,
    Field(max_length=4096, description="absolute working directory"),
]
Profile = Annotated[str | None, Field(max_length=64, description="Codex profile")]
Config = Annotated[
    dict[str, Any] | None,
    Field(description='Codex config, e.g. {"model_reasoning_effort":"high"}'),
]
BaseInstructions = Annotated[
    str | None,
    Field(
        alias="base-instructions",
        max_length=PROMPT_LIMIT,
        description="replaces Codex's",
    ),
]
DeveloperInstructions = Annotated[
    str | None,
    Field(
        alias="developer-instructions",
        max_length=PROMPT_LIMIT,
        description="extra developer message",
    ),
]
CompactPrompt = Annotated[
    str | None,
    Field(alias="compact-prompt", max_length=PROMPT_LIMIT, description="for compacting history"),
]
Timeout = Annotated[
    float | None,
    Field(
        gt=0,
        le=7 * 24 * 3600,
        description="seconds before the task is stopped and fails",
    ),
]
IdleTimeout = Annotated[
    float | None,
    Field(
        ge=0,
        le=7 * 24 * 3600,
        description="seconds of silence before the task fails (0: never; default 600)",
    ),
]
Retries = Annotated[
    int | None,
    Field(
        ge=0,
        le=10,
        description="retries after transient model errors",
    ),
]
OutputSchema = Annotated[
    dict[str, Any] | None,
    Field(description="JSON Schema for the final message; result holds it parsed"),
]
TaskIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(min_length=1, max_length=MAX_IDS, description="task ids"),
]


Priority = Annotated[
    int,
    Field(ge=-100, le=100, description="higher starts first"),
]
OptionalTaskIds = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(
        max_length=MAX_IDS,
        description="default: all this client started",
    ),
]
WaitMode = Annotated[
    Literal["all", "any"],
    Field(description="until all tasks or any task ended"),
]
WaitTimeout = Annotated[
    float,
    Field(ge=0, le=MAX_WAIT, description="seconds"),
]
StatusFilter = Annotated[
    list[Phase] | None,
    Field(description="only these phases"),
]
ListLimit = Annotated[int, Field(ge=1, le=500)]
UseWorktree = Annotated[
    bool,
    Field(description="own git worktree and branch, committed at the end"),
]
BaseRef = Annotated[
    str | None,
    Field(
        max_length=255,
        description="worktree from this ref (default HEAD)",
    ),
]
IncludeUncommitted = Annotated[
    bool,
    Field(description="worktree gets your uncommitted changes"),
]
TaskId = Annotated[str, Field(max_length=64)]
Paths = Annotated[
    list[Annotated[str, Field(max_length=4096)]] | None,
    Field(max_length=200, description="only these paths"),
]
TouchPaths = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]] | None,
    Field(
        max_length=200,
        description="paths it will touch (warns of overlaps)",
    ),
]
Strategy = Annotated[
    Literal["merge", "squash", "rebase"],
    Field(),
]
Target = Annotated[
    str | None,
    Field(max_length=255, description="default: the task's base branch"),
]
OnFailure = Annotated[
    Literal["report", "reply"],
    Field(description="reply: tell the failed task's own thread, then land it again"),
]


class LandOnEnd(BaseModel):
    """A launch's ``land``: the task's branch joins its repository's landing queue when the
    task completes."""

    model_config = {"extra": "forbid"}

    target: Target = None
    check: Annotated[str | None, Field(max_length=4096)] = None
    strategy: Strategy = "merge"
    on_failure: OnFailure = "report"


AutoLandArg = Annotated[
    LandOnEnd | None,
    Field(description="with worktree: land the branch once completed (a queue; batched)"),
]


#: ``codex_diff``: the engine's record of the diff is the answer.
DiffResult = DiffReport


#: ``codex_merge``: the engine's record of the merge is the answer.
MergeAnswer = MergeReport


class CleanupAnswer(BaseModel):
    cleaned: list[CleanupReport] = Field(
        description="per task: removed_worktree, deleted_branch, kept_reason, lost_commits"
    )
