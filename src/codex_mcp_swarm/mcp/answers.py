"""What a model reads: the compact ``structuredContent`` of every task answer, and its caps.

Clients hand the model ``structuredContent`` as JSON (Claude Code drops the text content when it
is present), so an answer carries what a model needs and nothing else: ids and the agent's final
message first, the status and any error, one token figure, warnings once each, a worktree task's
branch and merge outlook, and what to call next (``codex_land`` once two or more tasks wait to
land in one repository). No nulls, no empty lists. The whole record of a task stays in
``codex_status`` and the ``codex-swarm:///tasks/...`` resources. A landing's answer names each
task once, in the list of its fate, with 12-hex commits and a failed check's last lines.

Owns: the shapes of those answers, declared once here as TypedDicts (the tools' output schemas
are made from them; parts that are engine records, such as overlaps and conflicting pairs, are
typed by those records), their construction from the engine's views and its landing report, and
the size caps.

Must not: read the store or decide anything about tasks; word text for people (``render``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

# pydantic (which makes the output schemas) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import NotRequired, Required, TypedDict

from ..engine import (
    FAILED,
    ConflictPair,
    LandingView,
    LandReport,
    Overlap,
    ResultView,
    StatusView,
    UsageView,
    WorktreeView,
    as_data,
    is_terminal,
)

TEXT_FIELDS = ("content", "message", "reasoning", "error")
# Codex warnings that say nothing about the task's work (and repeat in every task).
NOISE = ("Model metadata for `",)


class WorktreeAnswer(TypedDict, total=False):
    """A worktree task's branch and merge outlook."""

    branch: Required[str]
    path: str
    base: str
    files: int
    insertions: int
    deletions: int
    merges_cleanly: bool
    conflicts: list[str]
    merged_into: str
    removed: str
    problem: str


class LandingMarkAnswer(TypedDict, total=False):
    """Where a task went to land: ``state`` queued, checking, landed (``commit``), sent home
    (``reply``: the task continuing its thread) or given up (``reason``)."""

    id: Required[str | None]
    state: Required[str]
    commit: str
    reply: str
    reason: str


class TaskAnswer(TypedDict, total=False):
    """One task in an answer: ``content`` is the agent's final message once it ended."""

    task_id: Required[str]
    threadId: str
    content: str
    status: Required[str]
    error: str
    exit_code: int
    exit_signal: int
    elapsed_s: float
    tool_calls: int
    tokens: int
    warnings: list[str]
    queue_position: int
    waiting_for: str
    worktree: WorktreeAnswer
    cwd: str
    steered: dict[str, Any]
    node: dict[str, Any]
    overlaps: list[Overlap]
    truncated: bool
    next: str
    result: Any
    result_error: str
    landing: LandingMarkAnswer


class WaitAnswer(TypedDict):
    """``codex_wait``: whether the wait's condition was met, and each task."""

    done: bool
    tasks: list[TaskAnswer]
    landings: NotRequired[list[LandingAnswer]]
    still_running: NotRequired[list[str]]
    conflicts: NotRequired[list[ConflictPair]]
    next: NotRequired[str]


class LastTool(TypedDict, total=False):
    kind: str
    summary: str
    status: str
    exit_code: int


class Reconnecting(TypedDict):
    reason: str
    attempt: int


class StatusAnswer(TypedDict, total=False):
    """One task in ``codex_status``: what it is doing now (empty facts left out)."""

    task_id: Required[str]
    status: Required[str]
    threadId: str
    title: str
    cwd: str
    elapsed_s: float
    tool_calls: int
    last_tool: LastTool
    reasoning: str
    message: str
    todo: str
    reconnecting: Reconnecting
    usage: dict[str, dict[str, int]]
    warnings: list[str]
    queue_position: int
    waiting_for: str
    worktree: dict[str, str]
    exit_code: int
    exit_signal: int
    error: str
    cancel_requested: bool
    steered: dict[str, Any]
    node: dict[str, Any]
    truncated: bool
    next: str  # only codex_land, when it and others wait to land in one repository


class StatusList(TypedDict):
    tasks: list[StatusAnswer]
    landings: NotRequired[list[LandingAnswer]]
    conflicts: NotRequired[list[ConflictPair]]


class TaskLine(TypedDict, total=False):
    """One task in ``codex_list``."""

    task_id: Required[str]
    status: Required[str]
    elapsed_s: float
    title: str
    branch: str
    threadId: str


class TaskList(TypedDict):
    tasks: list[TaskLine]
    total: int
    landings: NotRequired[list[LandingAnswer]]


class LandedTask(TypedDict, total=False):
    """A landed task: the target's tip once it landed (12 hex); ``already``: its work was in
    the target before; ``target`` only when the landing had several."""

    task_id: Required[str]
    commit: str
    already: bool
    target: str


class ConflictedTask(TypedDict, total=False):
    """A task whose branch conflicts with the target in ``paths``; ``colliding_tasks`` landed
    changes to them; ``follow_up`` (``resolve``) is the task resolving it."""

    task_id: Required[str]
    paths: list[str]
    colliding_tasks: list[str]
    follow_up: str
    follow_up_error: str
    sent_home: str  # on_failure reply: the reply task continuing its thread


class FailedCheck(TypedDict, total=False):
    """A task whose merge failed the check: its exit code (or ``timed_out``) and the output's
    last lines (the text content has the longer tail)."""

    task_id: Required[str]
    exit_code: int
    timed_out: bool
    tail: str
    sent_home: str  # on_failure reply: the reply task continuing its thread


class SkippedTask(TypedDict):
    task_id: str
    reason: str


class LandSeconds(TypedDict, total=False):
    """Seconds the landing took: in all, running the check (the runs that let branches in or
    kept them out), checking candidates out, git building merges and moving the target."""

    total: Required[float]
    check: float
    checkout: float
    git: float


class LandChecks(TypedDict, total=False):
    """The merge queue's checks: ``rounds`` in sequence (its length in checks), ``runs``
    started (``speculative`` of them for a rest whose culprit was not known yet), verdicts
    reused from the cache (``cached``)."""

    rounds: int
    runs: int
    cached: int
    speculative: int


class LandingAnswer(TypedDict, total=False):
    """A landing seen from outside: queued (``position``: landings before it), running
    (``checking``: tasks whose candidates are being checked, ``landed`` so far, ``decided`` of
    ``total``, ``last_line`` of the latest check), or ended (``result``: its landing answer)."""

    landing_id: Required[str]
    status: Required[str]
    position: int
    elapsed_s: float
    checking: list[str]
    landed: list[str]
    decided: int
    total: int
    last_line: str
    cancel_requested: bool
    error: str
    result: dict[str, Any]  # the landing's answer, as codex_land gives it


class LandAnswer(TypedDict, total=False):
    """``codex_land``: each task once, in the list of its fate; the target and its new tip.
    A landing that is queued or still running answers with ``landing`` (and ``note``)."""

    landed: list[LandedTask]
    conflicted: list[ConflictedTask]
    check_failed: list[FailedCheck]
    skipped: list[SkippedTask]
    target: str
    new_tip: str
    tips: dict[str, str]
    checkout: str
    note: str
    seconds: LandSeconds
    checks: LandChecks
    landing: LandingAnswer


def strip_empty(value: Any) -> Any:
    """``value`` without None, empty lists, empty dicts and empty strings, at every level."""
    if isinstance(value, dict):
        out = {k: strip_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [strip_empty(v) for v in value]
    return value


def warnings_once(warnings: Sequence[str] | None) -> list[str]:
    seen: list[str] = []
    for warning in warnings or []:
        if warning not in seen and not warning.startswith(NOISE):
            seen.append(warning)
    return seen


def total_tokens(usage: UsageView) -> int | None:
    """One figure: the tokens of this task's own turn (input, cached included, plus output)."""
    turn = usage.turn or {}
    if not turn:
        return None
    return int(turn.get("input_tokens") or 0) + int(turn.get("output_tokens") or 0)


def worktree_answer(wt: WorktreeView | None) -> WorktreeAnswer | None:
    if wt is None:
        return None
    answer: dict[str, Any] = {"branch": wt.branch}
    if not wt.removed_worktree:
        answer["path"] = wt.path
    answer["base"] = wt.base_branch or (wt.base_commit or "")[:12]
    if wt.head_commit is not None:
        answer["files"] = wt.files_total or 0
        # lines added and removed; 0 goes unsaid
        answer["insertions"] = wt.insertions or None
        answer["deletions"] = wt.deletions or None
        if wt.merges_cleanly is not None:
            answer["merges_cleanly"] = wt.merges_cleanly
        answer["conflicts"] = list(wt.conflicts)
    if wt.merged is not None:
        answer["merged_into"] = f"{wt.merged.target} ({wt.merged.strategy})"
    if wt.removed_worktree:
        answer["removed"] = "worktree" + (" and branch" if wt.removed_branch else "")
    if wt.error:
        answer["problem"] = wt.error
    return strip_empty(answer)  # type: ignore[no-any-return]


def land_next(waiting: int) -> str:
    """``next`` for a task that waits to land beside others of its repository."""
    return f"codex_land: {waiting} tasks wait to land in this repository (or codex_diff first)"


def next_step(view: ResultView, waiting: int = 0) -> str | None:
    """What to call next for this task, when there is something to do (``waiting``: how many
    tasks wait to land in its repository, itself included; two or more land together)."""
    status = view.status
    if not is_terminal(status):
        return "codex_wait"
    wt = view.worktree
    if wt is not None and status == "completed" and wt.merged is None and not wt.removed_worktree:
        if not wt.files_total:
            return "codex_cleanup (nothing changed)"
        if wt.merges_cleanly is False:
            return "codex_reply to resolve the conflicts, then codex_merge"
        if waiting >= 2:
            return land_next(waiting)
        return "codex_merge, or codex_diff first"
    if status in FAILED and view.thread_id:
        return "codex_reply to continue the thread"
    return None


def has_result(view: ResultView) -> bool:
    """The task was asked for an output schema and its final message parsed as JSON (the
    answer then carries ``result``, as the view's JSON does)."""
    return view.structured and view.result_error is None


def task_answer(view: ResultView, waiting: int = 0, *, truncated: bool = False) -> TaskAnswer:
    """The compact answer for one task, from its result view (as :func:`fit_views` left it:
    ``truncated`` when it cut something); ``waiting`` as for :func:`next_step`."""
    ended = is_terminal(view.status)
    wt = worktree_answer(view.worktree)
    answer: dict[str, Any] = {"task_id": view.task_id, "threadId": view.thread_id}
    if ended:
        answer["content"] = view.content
    answer["status"] = view.status
    answer["error"] = view.error
    if view.exit_code not in (None, 0):
        answer["exit_code"] = view.exit_code
    answer["exit_signal"] = view.exit_signal
    answer["elapsed_s"] = round(float(view.elapsed_s or 0), 1)
    answer["tool_calls"] = view.tool_calls or None
    answer["tokens"] = total_tokens(view.usage)
    answer["warnings"] = warnings_once(view.warnings)
    answer["worktree"] = wt
    home = view.worktree
    if home is not None and view.cwd and (home.removed_worktree or view.cwd != home.path):
        answer["cwd"] = view.cwd  # a subdirectory of the worktree, or it is gone
    answer["steered"] = as_data(view.steered)
    answer["node"] = as_data(view.node)
    answer["truncated"] = truncated or None
    answer["next"] = next_step(view, waiting)
    answer["result_error"] = view.result_error
    answer["landing"] = as_data(view.landing)  # where it went to land, if it went
    out: TaskAnswer = strip_empty(answer)
    if has_result(view):  # the agent's JSON as it is (its nulls and empty values too)
        out["result"] = view.result
        out.pop("content", None)  # the same JSON as text: it is in the text content
    return out


def status_answer(fitted: Fitted[StatusView], waiting: int = 0) -> StatusAnswer:
    """One task in ``codex_status``: its status view's JSON without empty values, as
    :func:`fit_views` left it; ``next`` when it and others wait to land (``waiting``)."""
    answer: dict[str, Any] = strip_empty(fitted.data)
    if fitted.truncated:
        answer["truncated"] = True
    if waiting >= 2:
        answer["next"] = land_next(waiting)
    return cast(StatusAnswer, answer)


def wait_answer(
    views: Sequence[Fitted[ResultView]],
    done: bool,
    running: list[str],
    waiting: Mapping[str, int] | None = None,
) -> WaitAnswer:
    """``waiting``: per task id, how many tasks wait to land in its repository."""
    waiting = waiting or {}
    tasks = [
        task_answer(f.view, waiting.get(f.view.task_id, 0), truncated=f.truncated) for f in views
    ]
    answer: WaitAnswer = {"done": done, "tasks": tasks}
    if running:
        answer["still_running"] = running
        answer["next"] = "codex_wait again to keep waiting (tasks are never killed by a wait)"
    return answer


COMMIT = 12  # hex digits of a commit id in an answer
TAIL_CHARS = 300  # characters of a failed check's output in a landing answer
TAIL_LINES = 5


def short_tail(output: str) -> str:
    """The last lines of a check's output (at most :data:`TAIL_LINES` lines and about
    :data:`TAIL_CHARS` characters), starting with "…" when something was cut."""
    lines = output.strip().splitlines()
    tail = "\n".join(lines[-TAIL_LINES:])
    cut = len(lines) > TAIL_LINES
    if len(tail) > TAIL_CHARS:
        start = tail.find("\n", len(tail) - TAIL_CHARS)
        tail = tail[start + 1 :] if start != -1 else tail[-TAIL_CHARS:]
        cut = True
    return "…" + tail if cut and tail else tail


def land_answer(report: LandReport) -> LandAnswer:
    """The compact answer of a landing: no empty lists, short commits, and no line of the
    text content repeated (each task appears once, in the list of what happened to it)."""
    several = report.target is None and len(report.tips) > 1
    follow = {r.task_id: r for r in report.resolving}
    home = {h.task_id: h.reply for h in report.sent_home}
    landed: list[dict[str, Any]] = [
        {
            "task_id": item.task_id,
            "commit": (item.commit or "")[:COMMIT],
            "already": item.already or None,
            "target": item.target if several else None,
        }
        for item in report.landed
    ]
    conflicted: list[dict[str, Any]] = []
    for item in report.conflicted:
        resolving = follow.get(item.task_id)
        conflicted.append(
            {
                "task_id": item.task_id,
                "paths": list(item.paths),
                "colliding_tasks": list(item.colliding_tasks),
                "follow_up": resolving.follow_up if resolving else None,
                "follow_up_error": resolving.error if resolving else None,
                "sent_home": home.get(item.task_id),
            }
        )
    failed = [
        {
            "task_id": item.task_id,
            "exit_code": item.exit_code,
            "timed_out": item.timed_out or None,
            "tail": short_tail(item.output_tail),
            "sent_home": home.get(item.task_id),
        }
        for item in report.check_failed
    ]
    seconds = {
        "total": report.seconds,
        "check": report.check_seconds or None,
        "checkout": report.check_prepare_seconds or None,
        "git": report.git_seconds or None,
    }
    checks = {
        "rounds": report.check_rounds or None,
        "runs": report.check_runs or None,
        "cached": report.check_cached or None,
        "speculative": report.check_speculative or None,
    }
    answer = {
        "landed": landed,
        "conflicted": conflicted,
        "check_failed": failed,
        "skipped": [{"task_id": s.task_id, "reason": s.reason} for s in report.skipped],
        "target": report.target,
        "new_tip": (report.new_tip or "")[:COMMIT],
        "tips": {k: v[:COMMIT] for k, v in report.tips.items()} if several else None,
        "checkout": report.checkout,
        "seconds": seconds,
        "checks": checks,
    }
    if not (report.landed or report.conflicted or report.check_failed or report.skipped):
        answer["note"] = f"nothing to land in {report.repository}"
    return strip_empty(answer)  # type: ignore[no-any-return]


# ---- caps ------------------------------------------------------------------------------------


def _cut_note(task_id: str, field: str, total: int) -> str:
    where = (
        f"codex-swarm:///tasks/{task_id}/result"
        if field == "content"
        else f"codex-swarm:///tasks/{task_id}"
    )
    return f"\n… [cut: {total} chars in all; read {where} for the whole text]"


V = TypeVar("V", StatusView, ResultView)


@dataclass(frozen=True, slots=True)
class Fitted(Generic[V]):
    """A view as an answer holds it: its long text fields cut to fit (``truncated`` when one
    was, or a too long ``result`` left out), and its JSON (``as_data``) as it stands."""

    view: V
    data: dict[str, Any]
    truncated: bool = False


def _sized(view: V, truncated: bool) -> tuple[dict[str, Any], int]:
    """The view's JSON, and the length of the answer's JSON of it (``truncated`` included)."""
    data: dict[str, Any] = as_data(view)
    return data, len(json.dumps({**data, "truncated": True} if truncated else data))


def fit_views(views: Sequence[V], budget: int) -> list[Fitted[V]]:
    """Shorten the long text fields of ``views`` so their JSON fits in about ``budget`` chars.

    Each task gets an equal share; within a task the longest field is cut first, and every cut
    says how long the text was and which resource holds all of it. Views that fit are untouched.
    """
    found = [as_data(view) for view in views]
    if len(json.dumps(found)) <= budget or not views:
        return [Fitted(view, data) for view, data in zip(views, found, strict=True)]
    share = max(600, budget // len(views))
    fitted = []
    for view, data in zip(views, found, strict=True):
        truncated = False
        size = len(json.dumps(data))
        if isinstance(view, ResultView) and has_result(view) and size > share:
            # an output_schema's JSON is not cut: it goes
            whole = len(json.dumps(as_data(view.result)))
            view = replace(
                view,
                result=None,
                result_error=(
                    f"the result ({whole} characters of JSON) is too long for this answer: "
                    f"codex-swarm:///tasks/{view.task_id}/result holds the whole message"
                ),
            )
            truncated = True
            data, size = _sized(view, truncated)
        for field in sorted(TEXT_FIELDS, key=lambda f: -len(getattr(view, f, None) or "")):
            value = getattr(view, field, None)
            if size <= share or not isinstance(value, str) or len(value) < 200:
                continue
            keep = max(150, len(value) - (size - share) - 120)
            if keep >= len(value):
                continue
            cut = value[:keep] + _cut_note(view.task_id, field, len(value))
            changes: dict[str, Any] = {field: cut}
            view = replace(view, **changes)
            truncated = True
            data, size = _sized(view, truncated)
        if size > share and view.warnings:
            view = replace(view, warnings=view.warnings[-2:])
            data = {**data, "warnings": list(view.warnings)}  # as as_data writes them
        fitted.append(Fitted(view, data, truncated))
    return fitted


def fit_statuses(views: Sequence[StatusView], budget: int) -> list[Fitted[StatusView]]:
    """``codex_status``'s views: each warning once, then :func:`fit_views`."""
    once = []
    for view in views:
        warnings = tuple(warnings_once(view.warnings))
        once.append(view if warnings == view.warnings else replace(view, warnings=warnings))
    return fit_views(once, budget)


def cap_text(text: str, budget: int, more: str) -> str:
    """Cut ``text`` at a line boundary near ``budget`` chars, saying where the rest is."""
    if len(text) <= budget:
        return text
    cut = text.rfind("\n", 0, budget)
    cut = cut if cut > budget // 2 else budget
    return text[:cut] + f"\n… [answer cut at {cut} of {len(text)} chars; {more}]"


def landing_answer(view: LandingView, report: LandReport | None) -> LandingAnswer:
    """A landing's view for a model: no empty values; an ended one carries its result."""
    data = {k: v for k, v in as_data(view).items() if k != "repository"}
    if report is not None:
        data["result"] = dict(land_answer(report))
    return cast(LandingAnswer, strip_empty(data))
