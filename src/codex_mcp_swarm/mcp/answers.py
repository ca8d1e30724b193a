"""What a model reads: the compact ``structuredContent`` of every task answer, and its caps.

Clients hand the model ``structuredContent`` as JSON (Claude Code drops the text content when it
is present), so an answer carries what a model needs and nothing else: ids and the agent's final
message first, the status and any error, one token figure, warnings once each, a worktree task's
branch and merge outlook, and what to call next. No nulls, no empty lists. The whole record of a
task stays in ``codex_status`` and the ``codex-swarm:///tasks/...`` resources.

Owns: the shapes of those answers, declared once here as TypedDicts (the tools' output schemas
are made from them), their construction from the engine's views, and the size caps.

Must not: read the store or decide anything about tasks; word text for people (``render``).
"""

from __future__ import annotations

import json
from typing import Any

# pydantic (which makes the output schemas) needs typing_extensions' TypedDict before 3.12.
from typing_extensions import NotRequired, Required, TypedDict

from ..engine.phases import FAILED, is_terminal
from ..engine.records import ConflictPair, Overlap

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


class WaitAnswer(TypedDict):
    """``codex_wait``: whether the wait's condition was met, and each task."""

    done: bool
    tasks: list[TaskAnswer]
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


class StatusList(TypedDict):
    tasks: list[StatusAnswer]
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


def strip_empty(value: Any) -> Any:
    """``value`` without None, empty lists, empty dicts and empty strings, at every level."""
    if isinstance(value, dict):
        out = {k: strip_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [strip_empty(v) for v in value]
    return value


def warnings_once(warnings: list[str] | None) -> list[str]:
    seen: list[str] = []
    for warning in warnings or []:
        if warning not in seen and not warning.startswith(NOISE):
            seen.append(warning)
    return seen


def total_tokens(usage: dict[str, Any] | None) -> int | None:
    """One figure: the tokens of this task's own turn (input, cached included, plus output)."""
    turn = (usage or {}).get("turn") or {}
    if not turn:
        return None
    return int(turn.get("input_tokens") or 0) + int(turn.get("output_tokens") or 0)


def worktree_answer(wt: dict[str, Any] | None) -> WorktreeAnswer | None:
    if not wt:
        return None
    answer: dict[str, Any] = {"branch": wt.get("branch")}
    if not wt.get("removed_worktree"):
        answer["path"] = wt.get("path")
    answer["base"] = wt.get("base_branch") or (wt.get("base_commit") or "")[:12]
    if "head_commit" in wt:
        answer["files"] = wt.get("files_total") or 0
        for key in ("insertions", "deletions"):  # lines added and removed; 0 goes unsaid
            answer[key] = wt.get(key) or None
        if wt.get("merges_cleanly") is not None:
            answer["merges_cleanly"] = wt["merges_cleanly"]
        answer["conflicts"] = wt.get("conflicts")
    merged = wt.get("merged")
    if isinstance(merged, dict):
        answer["merged_into"] = f"{merged.get('target')} ({merged.get('strategy')})"
    if wt.get("removed_worktree"):
        answer["removed"] = "worktree" + (" and branch" if wt.get("removed_branch") else "")
    if wt.get("error"):
        answer["problem"] = wt["error"]
    return strip_empty(answer)  # type: ignore[no-any-return]


def next_step(view: dict[str, Any], wt: WorktreeAnswer | None) -> str | None:
    """What to call next for this task, when there is something to do."""
    status = view["status"]
    if not is_terminal(status):
        return "codex_wait"
    if wt and status == "completed" and "merged_into" not in wt and "removed" not in wt:
        if not wt.get("files"):
            return "codex_cleanup (nothing changed)"
        if wt.get("merges_cleanly") is False:
            return "codex_reply to resolve the conflicts, then codex_merge"
        return "codex_merge, or codex_diff first"
    if status in FAILED and view.get("threadId"):
        return "codex_reply to continue the thread"
    return None


def task_answer(view: dict[str, Any]) -> TaskAnswer:
    """The compact answer for one task, from ``engine.views.result_view`` (or a status view)."""
    ended = is_terminal(view["status"])
    wt = worktree_answer(view.get("worktree"))
    answer: dict[str, Any] = {"task_id": view["task_id"], "threadId": view.get("threadId")}
    if ended:
        answer["content"] = view.get("content")
    answer["status"] = view["status"]
    answer["error"] = view.get("error")
    if view.get("exit_code") not in (None, 0):
        answer["exit_code"] = view["exit_code"]
    answer["exit_signal"] = view.get("exit_signal")
    answer["elapsed_s"] = round(float(view.get("elapsed_s") or 0), 1)
    answer["tool_calls"] = view.get("tool_calls") or None
    answer["tokens"] = total_tokens(view.get("usage"))
    answer["warnings"] = warnings_once(view.get("warnings"))
    answer["queue_position"] = view.get("queue_position")
    answer["waiting_for"] = view.get("waiting_for")
    answer["worktree"] = wt
    if wt and view.get("cwd") and view["cwd"] != wt.get("path"):
        answer["cwd"] = view["cwd"]  # a subdirectory of the worktree
    answer["steered"] = view.get("steered")
    answer["node"] = view.get("node")
    answer["truncated"] = view.get("truncated") or None
    answer["next"] = next_step(view, wt)
    answer["result_error"] = view.get("result_error")
    out: TaskAnswer = strip_empty(answer)
    if "result" in view:  # the agent's JSON as it is (its nulls and empty values too)
        out["result"] = view["result"]
        out.pop("content", None)  # the same JSON as text: it is in the text content
    return out


def wait_answer(views: list[dict[str, Any]], done: bool, running: list[str]) -> WaitAnswer:
    answer: WaitAnswer = {"done": done, "tasks": [task_answer(v) for v in views]}
    if running:
        answer["still_running"] = running
        answer["next"] = "codex_wait again to keep waiting (tasks are never killed by a wait)"
    return answer


# ---- caps ------------------------------------------------------------------------------------


def _cut_note(task_id: str, field: str, total: int) -> str:
    where = (
        f"codex-swarm:///tasks/{task_id}/result"
        if field == "content"
        else f"codex-swarm:///tasks/{task_id}"
    )
    return f"\n… [cut: {total} chars in all; read {where} for the whole text]"


def fit_views(views: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Shorten the long text fields of ``views`` so their JSON fits in about ``budget`` chars.

    Each task gets an equal share; within a task the longest field is cut first, and every cut
    says how long the text was and which resource holds all of it. Views that fit are untouched.
    """
    if len(json.dumps(views)) <= budget or not views:
        return views
    share = max(600, budget // len(views))
    fitted = []
    for view in views:
        view = dict(view)
        size = len(json.dumps(view))
        if "result" in view and size > share:  # an output_schema's JSON is not cut: it goes
            whole = len(json.dumps(view.pop("result")))
            view["result_error"] = (
                f"the result ({whole} characters of JSON) is too long for this answer: "
                f"codex-swarm:///tasks/{view['task_id']}/result holds the whole message"
            )
            view["truncated"] = True
            size = len(json.dumps(view))
        for field in sorted(TEXT_FIELDS, key=lambda f: -len(str(view.get(f) or ""))):
            value = view.get(field)
            if size <= share or not isinstance(value, str) or len(value) < 200:
                continue
            keep = max(150, len(value) - (size - share) - 120)
            if keep >= len(value):
                continue
            view[field] = value[:keep] + _cut_note(view["task_id"], field, len(value))
            view["truncated"] = True
            size = len(json.dumps(view))
        if size > share and view.get("warnings"):
            view["warnings"] = view["warnings"][-2:]
        fitted.append(view)
    return fitted


def cap_text(text: str, budget: int, more: str) -> str:
    """Cut ``text`` at a line boundary near ``budget`` chars, saying where the rest is."""
    if len(text) <= budget:
        return text
    cut = text.rfind("\n", 0, budget)
    cut = cut if cut > budget // 2 else budget
    return text[:cut] + f"\n… [answer cut at {cut} of {len(text)} chars; {more}]"
