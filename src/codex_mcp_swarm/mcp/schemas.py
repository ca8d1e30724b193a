"""The tools' schemas: parameter types (with their descriptions and limits) and result models.

Owns: what a model reads in ``tools/list``: every parameter's name, type, bounds and one-line
description, and the ``outputSchema`` of each tool. Pydantic validates calls against these before
a tool runs, so a wrong type or an out-of-range value is an ``isError`` result naming the field.

Must not: contain behaviour.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ..engine.phases import PHASES, Phase
from ..engine.records import CleanupReport, MergeReport

PROMPT_LIMIT = 1_000_000  # characters
MAX_IDS = 200
MAX_WAIT = 3600.0  # seconds one codex_wait call may block
DEFAULT_WAIT = 300.0
PHASE_NAMES = PHASES  # named once, in engine.phases


Prompt = Annotated[
    str,
    Field(min_length=1, max_length=PROMPT_LIMIT, description="what the Codex agent should do"),
]
Model = Annotated[str | None, Field(max_length=200, description="model name, e.g. gpt-5.5")]
Sandbox = Annotated[
    Literal["read-only", "workspace-write", "danger-full-access"] | None,
    Field(description="sandbox for the agent's commands (Codex's default: read-only)"),
]
ApprovalPolicy = Annotated[
    Literal["untrusted", "on-failure", "on-request", "never"] | None,
    Field(
        alias="approval-policy",
        description="approval policy (codex exec runs unattended, so escalations are refused)",
    ),
]
Cwd = Annotated[
    str | None,
    Field(max_length=4096, description="absolute working directory (default: the server's)"),
]
Profile = Annotated[
    str | None, Field(max_length=64, description="Codex profile: $CODEX_HOME/<name>.config.toml")
]
Config = Annotated[
    dict[str, Any] | None,
    Field(description='Codex config overrides, e.g. {"model_reasoning_effort": "high"}'),
]
BaseInstructions = Annotated[
    str | None,
    Field(
        alias="base-instructions",
        max_length=PROMPT_LIMIT,
        description="replace Codex's base instructions",
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
    Field(
        alias="compact-prompt", max_length=PROMPT_LIMIT, description="prompt used when compacting"
    ),
]
Timeout = Annotated[
    float | None,
    Field(
        gt=0,
        le=7 * 24 * 3600,
        description="maximum runtime in seconds; the task is stopped and fails when it is exceeded",
    ),
]
IdleTimeout = Annotated[
    float | None,
    Field(
        ge=0,
        le=7 * 24 * 3600,
        description="fail the task when Codex reports nothing this many seconds while no command "
        "runs (a silent model); 0 turns it off (server default 600)",
    ),
]
Retries = Annotated[
    int | None,
    Field(
        ge=0,
        le=10,
        description="retry a run that failed on a transient model error (HTTP 5xx/429, dropped "
        "stream) this many times, with backoff (default 0)",
    ),
]
TaskIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(min_length=1, max_length=MAX_IDS, description="task ids from codex_async or codex_list"),
]


Priority = Annotated[
    int,
    Field(ge=-100, le=100, description="queue priority: higher starts first (FIFO within a level)"),
]
OptionalTaskIds = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(
        max_length=MAX_IDS,
        description="task ids to wait for (default: every unfinished task this client started)",
    ),
]
WaitMode = Annotated[
    Literal["all", "any"],
    Field(description="all: until every task has finished; any: until one has"),
]
WaitTimeout = Annotated[
    float,
    Field(ge=0, le=MAX_WAIT, description=f"seconds to wait (max {MAX_WAIT:g})"),
]
StatusFilter = Annotated[
    list[Phase] | None,
    Field(description="only tasks in these phases"),
]
ListLimit = Annotated[int, Field(ge=1, le=500, description="at most this many tasks")]
UseWorktree = Annotated[
    bool,
    Field(
        description="run in a new git worktree on branch codex-swarm/<task_id>, made from the "
        "repository that contains cwd; everything the task changed is committed there when it "
        "ends (then codex_diff, codex_merge, codex_cleanup)"
    ),
]
BaseRef = Annotated[
    str | None,
    Field(
        max_length=255,
        description="with worktree: branch, tag or commit to start from (default HEAD); "
        "another task's branch lets a follow-up build on its work",
    ),
]
IncludeUncommitted = Annotated[
    bool,
    Field(
        description="with worktree: carry your uncommitted and untracked changes into the new "
        "worktree (your checkout is not touched)"
    ),
]
TaskId = Annotated[str, Field(max_length=64, description="a task id")]
Paths = Annotated[
    list[Annotated[str, Field(max_length=4096)]] | None,
    Field(max_length=200, description="only these paths (relative to the repository top)"),
]
TouchPaths = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]] | None,
    Field(
        max_length=200,
        description="files or directories (relative to cwd) the task expects to touch; a "
        "launch whose paths overlap a running task's gets a warning",
    ),
]
Strategy = Annotated[
    Literal["merge", "squash", "rebase"],
    Field(description="merge: a merge commit; squash: one commit; rebase: replay the commits"),
]
Target = Annotated[
    str | None,
    Field(max_length=255, description="branch to merge into (default: the task's base branch)"),
]


class DiffResult(BaseModel):
    task_id: str
    branch: str
    base_commit: str
    stat: str
    patch: str | None
    truncated: bool
    total_chars: int
    shown_chars: int
    cut_in_path: str | None = None
    omitted_paths: list[str] = Field(default_factory=list)


#: ``codex_merge``: the engine's record of the merge is the answer.
MergeAnswer = MergeReport


class CleanupAnswer(BaseModel):
    cleaned: list[CleanupReport] = Field(
        description="per task: removed_worktree, deleted_branch, kept_reason, lost_commits"
    )
