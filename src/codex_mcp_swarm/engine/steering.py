"""Correcting agents in flight: steer a task, fork its thread, review its work.

Owns: the rules of ``steer`` (a running task is interrupted and continued by its own runner, a
queued one gets the message in its prompt, a finished one is refused), of ``fork`` (new tasks
that continue copies of a thread, each on its own branch from the source's work so far) and of
``review`` (a read-only ``codex exec review`` task against the source task's base).

Must not: know MCP, start Codex itself (tasks are launched through :class:`~.tasks.Engine`, the
steer is carried out by the task's runner), or run git beyond asking the backend for the commit
that holds a task's work so far (``Backend.work_so_far``: on Ray the worker makes it).

Where the source's worktree is not on this machine (``Engine.worktrees_here`` is false: Ray), a
review, or a fork without its own worktree, runs in a throwaway checkout of the source's work so
far (:class:`~.plan.Checkout`) that the backend makes where the task runs.

What an interrupted turn keeps (checked on Codex 0.169): the thread's rollout keeps everything
up to the interrupt: messages, reasoning, every finished command with its output, file changes.
The command running at the interrupt is stopped; the model later sees its call with the output
``aborted by user`` (its partial output is NOT passed on, though the event log has it), then a
``<turn_aborted>`` note, then the steer message. A model answer still streaming is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import git
from ..codex.command import ReviewTarget, TaskSpec, is_uuid
from . import branches
from .admission import TaskError, find_session_cwd
from .phases import ACTIVE
from .plan import Checkout, Limits, WorktreeRequest
from .records import TaskExtra
from .store import TaskRow, backend_of
from .tasks import Engine

MAX_FORKS = 5
MESSAGE_LIMIT = 100_000

INTERRUPT_NOTE = (
    "The current turn is interrupted the way Codex stops gracefully, and the same thread goes "
    "on with your message. Kept: every message, finished command and its output, and every file "
    "change so far. Lost: the partial output of a command still running at the interrupt (the "
    "model sees only that it was aborted) and any answer the model was still streaming."
)


@dataclass(frozen=True)
class Steered:
    """What a steer did: ``how`` is ``prompt`` (a queued task's prompt grew), ``interrupting``
    (the runner is stopping the turn) or ``queued`` (an earlier steer is still interrupting:
    this message joins it)."""

    row: TaskRow
    how: str
    note: str


def _check_text(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise TaskError(f"{what} must be a non-empty string")
    if "\x00" in text:
        raise TaskError(f"{what} must not contain NUL characters")
    if len(text) > MESSAGE_LIMIT:
        raise TaskError(f"{what} is longer than {MESSAGE_LIMIT} characters; shorten it")
    return text


def _ended(row: TaskRow, verb: str) -> TaskError:
    if row.thread_id:
        hint = f"continue its thread with a reply instead (threadId {row.thread_id})"
    else:
        hint = "it never reported a thread, so start a new task instead"
    return TaskError(
        f"task {row.id} has already ended ({row.phase}), so there is nothing to {verb}: {hint}"
    )


def steer(engine: Engine, task_id: str, message: str) -> Steered:
    """Redirect a task: see the module docstring. Raises TaskError with what to do instead."""
    _check_text(message, "message")
    row = engine.get(task_id)
    if row.terminal:
        raise _ended(row, "steer")
    if row.spec.get("task", {}).get("review"):
        raise TaskError(
            f"task {row.id} is a code review, which cannot be steered; cancel it and start "
            "another review with instructions"
        )
    if "fork_thread_id" not in row.spec.get("task", {}):
        # Specs gained that field with steering: a task recorded before has a runner that
        # neither reads steers nor survives SIGUSR1.
        raise TaskError(
            f"task {row.id} was started by an older version of codex-mcp-swarm that cannot be "
            "steered; cancel it and continue its thread with a reply"
        )
    if engine.settings.ephemeral and row.phase != "queued":
        raise TaskError(
            "this server runs with --ephemeral: Codex keeps no session files, so a running "
            "thread cannot be continued after an interrupt. Cancel the task and start a new one."
        )
    waiting = engine.store.pending_steers(row.id)
    phase = engine.store.add_steer(row.id, message)
    fresh = engine.store.get(row.id) or row
    if phase is None or phase not in ACTIVE:
        raise _ended(fresh, "steer")
    if phase == "queued":
        return Steered(
            fresh, "prompt", "The task had not started: the message was added to its prompt."
        )
    # The supervisor looks at the store on its ticks; the backend makes it look now.
    engine.backend.steer(fresh)
    if waiting:
        return Steered(
            fresh,
            "queued",
            "An earlier steer is still interrupting the turn: this "
            "message is delivered together with it, in order. " + INTERRUPT_NOTE,
        )
    return Steered(fresh, "interrupting", INTERRUPT_NOTE)


# ---- fork ------------------------------------------------------------------------------------


def _source(
    engine: Engine, task_id: str | None, thread_id: str | None
) -> tuple[str, TaskRow | None]:
    if (task_id is None) == (thread_id is None):
        raise TaskError("name the source with exactly one of task_id and threadId")
    if task_id is not None:
        row = engine.get(task_id)
        if not row.thread_id:
            raise TaskError(
                f"task {row.id} has no thread yet ({row.phase}: Codex has not reported it); "
                "try again in a moment"
            )
        return row.thread_id, row
    if not isinstance(thread_id, str) or not is_uuid(thread_id):
        raise TaskError(f"threadId {thread_id!r} is not a UUID; use the threadId a result reported")
    return thread_id, engine.store.latest_for_thread(thread_id)


def _where_it_ran(row: TaskRow) -> TaskExtra:
    return TaskExtra(backend=row.extra.backend, node=row.extra.node)


def _origin(wt: git.Worktree) -> Path:
    """The directory of the user's repository a worktree task was started in."""
    return wt.repo / wt.subdir if wt.subdir else wt.repo


def _work_so_far(engine: Engine, row: TaskRow, wt: git.Worktree, live: bool) -> str:
    try:
        return engine.backend.work_so_far(row, wt, live=live)
    except git.GitError as exc:
        raise TaskError(str(exc)) from None


def _checkout(engine: Engine, row: TaskRow, wt: git.Worktree, live: bool) -> Checkout:
    """A throwaway checkout of ``row``'s work so far, for a task that only looks at it."""
    if row.extra.removed_worktree:
        raise TaskError(
            f"the worktree of task {row.id} was removed, so there is no checkout to look at; "
            f"codex_diff still shows its branch {wt.branch!r}"
        )
    commit = _work_so_far(engine, row, wt, live)
    return Checkout(repo=str(wt.repo), commit=commit, subdir=wt.subdir, of_task=row.id)


def _usage_now(row: TaskRow) -> dict[str, int]:
    usage = row.usage or row.progress.get("usage") or {}
    return {k: int(v) for k, v in usage.items()}


def fork(
    engine: Engine,
    prompt: str,
    *,
    task_id: str | None = None,
    thread_id: str | None = None,
    count: int = 1,
    worktree: bool | None = None,
) -> list[TaskRow]:
    """Start ``count`` tasks that continue copies of the source thread with ``prompt``.

    With worktrees each fork gets its own branch starting at the source's work so far (for a
    running source, a snapshot of its worktree now), measured from the source's own base.
    Without, a fork of a running task or of a worktree task runs read-only in the source's
    directory, so it can ask a question without disturbing the source. Git work: call this
    from a thread."""
    _check_text(prompt, "prompt")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FORKS:
        raise TaskError(f"count must be a whole number from 1 to {MAX_FORKS}")
    thread, row = _source(engine, task_id, thread_id)
    if engine.settings.ephemeral:
        raise TaskError(
            "this server runs with --ephemeral: Codex keeps no session files, so a thread cannot "
            "be forked. Start a new task with codex or codex_async instead."
        )
    source_wt = branches.worktree_of(row) if row is not None else None
    if worktree is None:
        worktree = source_wt is not None
    if row is not None:
        fields = dict(row.spec["task"])
        for key in ("review", "resume_thread_id", "output_schema"):
            fields.pop(key, None)
        base_spec = TaskSpec(**{**fields, "prompt": prompt, "fork_thread_id": thread})
    else:
        if not engine.sessions_here:
            raise TaskError(
                f"no task of this server ran thread {thread}: its session files would be on a "
                f"worker of the {engine.backend.name} backend, found only through the task that "
                "ran it. Fork a thread a task_id of this server reported (codex_list finds it)."
            )
        cwd = find_session_cwd(thread)
        if cwd is None:
            raise TaskError(
                f"unknown threadId {thread}: no task of this server ran it and no Codex session "
                "file holds it"
            )
        base_spec = TaskSpec(prompt=prompt, cwd=cwd, fork_thread_id=thread)
    live = row is not None and not row.terminal
    request: WorktreeRequest | None = None
    checkout: Checkout | None = None
    if worktree and source_wt is not None:
        assert row is not None
        start = _work_so_far(engine, row, source_wt, live)
        base_spec = replace(base_spec, cwd=str(_origin(source_wt)))
        request = WorktreeRequest(base_ref=start, fork_of=source_wt)
    elif worktree:
        request = WorktreeRequest()
    elif live or source_wt is not None:
        base_spec = replace(base_spec, sandbox="read-only")
        base_spec = replace(
            base_spec, config={k: v for k, v in base_spec.config.items() if k != "sandbox_mode"}
        )
        if source_wt is not None and not engine.worktrees_here:
            # The source's worktree is on a worker: the fork looks at a checkout of its work.
            assert row is not None
            checkout = _checkout(engine, row, source_wt, live)
            base_spec = replace(base_spec, cwd=str(_origin(source_wt)))
    # The fork's usage counts from the source's thread total (Codex reports the copy's history
    # in it); the source's worktree record stays the source's own (the backend and node that
    # hold its thread stay known).
    parent = (
        replace(row, extra=_where_it_ran(row), usage=_usage_now(row)) if row is not None else None
    )
    started: list[TaskRow] = []
    for _ in range(count):
        try:
            started.append(
                engine.launch(base_spec, parent=parent, worktree=request, checkout=checkout)
            )
        except TaskError as exc:
            if not started:
                raise
            ids = ", ".join(r.id for r in started)
            raise TaskError(
                f"started {len(started)} of {count} forks ({ids}, which run on); "
                f"the next could not start: {exc}"
            ) from None
    return started


# ---- review ----------------------------------------------------------------------------------


def _review_request(target: str, instructions: str) -> str:
    return (
        f"Review the code changes {target}. Provide prioritized, actionable findings.\n\n"
        f"Additional review instructions:\n{instructions}"
    )


def review(engine: Engine, task_id: str, instructions: str | None = None) -> TaskRow:
    """Start a read-only ``codex exec review`` task over ``task_id``'s changes: against its
    base commit for a worktree task, its directory's uncommitted changes otherwise."""
    if instructions is not None and not instructions.strip():
        instructions = None
    if instructions is not None:
        _check_text(instructions, "instructions")
    row = engine.get(task_id)
    if row.spec.get("task", {}).get("review"):
        raise TaskError(f"task {row.id} is itself a review; review the task it reviewed instead")
    wt = branches.worktree_of(row)
    title = f"Review of task {row.id}"
    checkout: Checkout | None = None
    if wt is not None:
        if row.extra.removed_worktree:
            raise TaskError(
                f"the worktree of task {row.id} was removed, so there is no checkout to review "
                f"in; codex_diff still shows its branch {wt.branch!r}"
            )
        if engine.worktrees_here and backend_of(row) != engine.backend.name:
            raise TaskError(
                f"task {row.id} ran under the {backend_of(row)} backend, whose worktrees are "
                f"checked out on its workers: review it from a server started with --backend "
                f"{backend_of(row)}"
            )
        if engine.worktrees_here:
            cwd = str(wt.path / wt.subdir) if wt.subdir else str(wt.path)
        else:  # the review runs on a worker, in a checkout of the task's work so far
            checkout = _checkout(engine, row, wt, not row.terminal)
            cwd = str(_origin(wt))
        base = wt.base_commit
        if instructions is None:
            target, prompt = ReviewTarget(base=base), f"{title} against its base {base[:12]}"
        else:
            where = (
                f"against the base commit {base} (the commit this branch, {wt.branch}, started "
                f"from). Run `git diff {base}` to inspect the changes relative to it"
            )
            target, prompt = ReviewTarget(custom=True), _review_request(where, instructions)
    else:
        cwd = row.cwd
        if instructions is None:
            target, prompt = ReviewTarget(uncommitted=True), f"{title}: uncommitted changes"
        else:
            where = "in this checkout (staged, unstaged, and untracked files)"
            target, prompt = ReviewTarget(custom=True), _review_request(where, instructions)
    source = row.spec.get("task", {})
    config = {k: v for k, v in (source.get("config") or {}).items() if k != "sandbox_mode"}
    spec = TaskSpec(
        prompt=prompt,
        cwd=cwd,
        model=source.get("model"),
        profile=source.get("profile"),
        config=config,
        sandbox="read-only",
        review=target,
    )
    return engine.launch(spec, limits=Limits(), checkout=checkout)
