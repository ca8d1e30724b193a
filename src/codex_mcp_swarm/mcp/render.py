"""Text for people: how a task's status and result read in a tool answer.

Owns: the human-readable text content of tool results and progress messages. The same facts go
out as ``structuredContent`` for programs; this module only words them.

Must not: read the store or decide anything. Input is the engine's typed views
(:class:`~..engine.views.StatusView`, :class:`~..engine.views.ResultView`,
:class:`~..engine.views.LandingView`...), as the answers fitted them (``answers.fit_views``),
and a landing's :class:`~..engine.records.LandReport`; never their JSON.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..codex.progress import reconnect_text
from ..engine import (
    ConflictPair,
    LandingView,
    LandReport,
    ListingView,
    Overlap,
    ResultView,
    StatusView,
    WorktreeView,
    is_terminal,
)
from ..engine import doing as engine_doing
from ..wording import duration, node_text, tokens, worktree_outlook
from .answers import TEXT_FIELDS, TaskLine, cap_text, fit_views  # noqa: F401  (importable here)


def doing(view: StatusView) -> str:
    """What a task is doing now, in a few words (the engine's :func:`~..engine.doing.doing`)."""
    return engine_doing.doing(view).text(limit=80)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_text(view: ResultView) -> str:
    """A finished (or still running) task's result, for a person."""
    head = f"Task {view.task_id} {view.status}"
    if is_terminal(view.status):
        head += f" after {duration(view.elapsed_s)}"
    else:
        head += f" ({duration(view.elapsed_s)} so far; not finished)"
    if view.thread_id:
        head += f" · thread {view.thread_id}"
    lines = [head]
    if view.error:
        lines.append(f"Error: {view.error}")
    if view.content:
        lines += ["", view.content]
    if view.worktree is not None:
        lines += ["", worktree_text(view.worktree)]
    facts = [f"{view.tool_calls} tool calls"]
    if tokens(view.usage):
        facts.append("tokens " + tokens(view.usage))
    if view.exit_code is not None:
        facts.append(f"exit code {view.exit_code}")
    if view.exit_signal is not None:
        facts.append(f"signal {view.exit_signal}")
    node = view.node
    if node is not None and node.known:
        facts.append(f"node {node_text(node)}")
    lines += ["", " · ".join(facts)]
    return "\n".join(lines)


def worktree_text(wt: WorktreeView) -> str:
    """Branch, files and merge outlook of a worktree task, for a person."""
    lines = [f"Branch {wt.branch} (worktree {wt.path})"]
    if wt.head_commit:
        base = (wt.base_commit or "")[:10]
        head = wt.head_commit[:10]
        if wt.files_total:
            lines.append(
                f"  {wt.files_total} file(s) changed, +{wt.insertions or 0} "
                f"-{wt.deletions or 0} ({base}..{head})"
            )
            for change in wt.files:
                ins = "bin" if change.insertions is None else f"+{change.insertions}"
                dels = "" if change.deletions is None else f" -{change.deletions}"
                lines.append(f"    {change.path} {ins}{dels}")
            if wt.files_total > len(wt.files):
                lines.append("    … (codex_diff with stat_only lists them all)")
        else:
            lines.append("  no changes")
    lines += [f"  {line}" for line in worktree_outlook(wt)]
    return "\n".join(lines)


def status_text(view: StatusView) -> str:
    """A running task's live view, for a person (as ``codex_status`` answers it: text fields
    cut to fit, warnings once each)."""
    state = view.status
    if view.queue_position:
        state += f" (#{view.queue_position} in the queue)"
    if view.waiting_for:
        state += f" (waiting for {view.waiting_for})"
    lines = [
        f"Task {view.task_id}: {state} for {duration(view.elapsed_s)}"
        + (f" · thread {view.thread_id}" if view.thread_id else ""),
        f"  prompt: {_short(view.title or '', 100)}",
    ]
    if cut_off := view.reconnecting:
        lines.append("  " + reconnect_text(_short(cut_off.reason, 160), cut_off.attempt))
    last = view.last_tool
    if last is not None:
        state = last.status
        if last.exit_code is not None:
            state += f", exit {last.exit_code}"
        lines.append(f"  last tool ({last.kind}, {state}): {_short(last.summary, 160)}")
    if view.worktree is not None:
        lines.append(f"  branch: {view.worktree.branch} in {view.worktree.path}")
    lines.append(f"  tool calls: {view.tool_calls}")
    if view.steered is not None:
        when = time.strftime("%H:%M:%S", time.localtime(view.steered.last_at or 0))
        lines.append(f"  steered: {view.steered.count} time(s), last at {when}")
    node = view.node
    if node is not None and node.known:
        lines.append(f"  node: {node_text(node)}")
    if view.todo:
        lines.append(f"  plan: {view.todo} done")
    if view.reasoning:
        lines.append(f"  reasoning: {_short(view.reasoning, 200)}")
    if view.message:
        lines.append(f"  message: {_short(view.message, 200)}")
    if tokens(view.usage):
        lines.append(f"  tokens: {tokens(view.usage)}")
    for warning in view.warnings[-3:]:
        lines.append(f"  warning: {_short(warning, 160)}")
    if view.error:
        lines.append(f"  error: {view.error}")
    return "\n".join(lines)


def progress_line(views: Sequence[StatusView]) -> str:
    """One line for a progress notification: '1/3 done; abc123: running `pytest -q` (41 s)'."""
    done = [v for v in views if is_terminal(v.status)]
    live = [v for v in views if v not in done]
    parts = []
    if len(views) > 1:
        parts.append(f"{len(done)}/{len(views)} done")
    for view in live[:3]:
        parts.append(f"{view.task_id}: {doing(view)} ({duration(view.elapsed_s)})")
    if len(live) > 3:
        parts.append(f"+{len(live) - 3} more running")
    return "; ".join(parts)


def list_item(view: ListingView) -> TaskLine:
    """One ``codex_list`` entry: its facts, the empty ones left out (as ``answers.strip_empty``
    would, without walking a dict for each of a long list)."""
    item: TaskLine = {"task_id": view.task_id, "status": view.status, "elapsed_s": view.elapsed_s}
    if view.title:
        item["title"] = view.title
    if view.branch:
        item["branch"] = view.branch
    if view.thread_id:
        item["threadId"] = view.thread_id
    return item


def list_line(view: ListingView) -> str:
    """``a1b2c3d4e5f6  running    41.0 s  Fix the flaky test  [codex-swarm/a1b2c3d4e5f6]``"""
    line = (
        f"{view.task_id}  {view.status:<9}  {duration(view.elapsed_s):>10}  "
        f"{_short(view.title or '', 70)}"
    )
    if view.branch:
        line += f"  [{view.branch}]"
    return line


def overlap_text(overlaps: list[Overlap]) -> str:
    """One sentence naming the running tasks whose declared paths overlap a new task's."""
    parts = [f"{o.task_id} ({', '.join(o.paths[:5])})" for o in overlaps]
    return (
        "its paths overlap those of running task(s) "
        + "; ".join(parts)
        + ": their edits may conflict (started anyway)."
    )


def conflict_lines(conflicts: list[ConflictPair]) -> list[str]:
    """The conflict outlook as one line per pair of conflicting branches (none when empty)."""
    if not conflicts:
        return []
    pairs = [f"{c.tasks[0]} x {c.tasks[1]} in {', '.join(c.paths[:5])}" for c in conflicts]
    return [
        "Branches that conflict with each other (land one, then resolve the other): "
        + "; ".join(pairs)
    ]


def land_text(report: LandReport) -> str:
    """A landing for a person: a summary and one line per task, then the tail of each failed
    check's output as the check left it (the structured answer keeps only its last lines)."""
    parts = ["\n".join(report.lines)]
    for item in report.check_failed:
        tail = item.output_tail.strip()
        if tail:
            parts.append(f"The check's output for {item.task_id}, its end:\n{tail}")
    return "\n\n".join(parts)


def landing_text(view: LandingView) -> str:
    """One landing in a line: its state, and where it is (how far it got, until it ended)."""
    head = f"landing {view.landing_id}: {view.status}"
    if view.position is not None:
        ahead = view.position
        head += f", {ahead} landing(s) of its repository before it" if ahead else ", next"
    if not view.ended:
        if view.checking:
            head += f"; checking {', '.join(view.checking)}"
        if view.total:
            head += f"; {view.decided} of {view.total} tasks decided"
        if view.landed:
            head += f", landed so far: {', '.join(view.landed)}"
        if view.last_line:
            head += f"; last check line: {view.last_line[:160]}"
    if view.cancel_requested:
        head += "; stopping"
    if view.error:
        head += f": {view.error}"
    return head
