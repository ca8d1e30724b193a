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
from typing import TYPE_CHECKING, Any

from .. import git
from ..codex.command import ReviewTarget, TaskSpec, is_uuid
from . import branches
from .admission import find_session_cwd
from .errors import Code, TaskError, Term
from .phases import ACTIVE
from .plan import Checkout, Limits, WorktreeRequest
from .records import TaskExtra
from .store import TaskRow, backend_of

if TYPE_CHECKING:  # the engine calls these functions (its awaitable steer, fork and review)
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


def _check_text(text: Any, what: Term) -> str:
    field = "{" + what.value + "}"
    if not isinstance(text, str) or not text.strip():
        raise TaskError(field + " must be a non-empty string")
    if "\x00" in text:
        raise TaskError(field + " must not contain NUL characters")
    if len(text) > MESSAGE_LIMIT:
        raise TaskError(
            field + " is longer than {limit} characters; shorten it", limit=MESSAGE_LIMIT
        )
    return text


def _ended(row: TaskRow, verb: str) -> TaskError:
    if row.thread_id:
        hint = "continue its thread with {REPLY} instead (thread {thread_id})"
    else:
        hint = "it never reported a thread, so start {LAUNCH} instead"
    return TaskError(
        "task {task_id} has already ended ({phase}), so there is nothing to {verb}: " + hint,
        code=Code.ENDED,
        task_id=row.id,
        phase=row.phase,
        thread_id=row.thread_id,
        verb=verb,
    )


def steer(engine: Engine, task_id: str, message: str) -> Steered:
    """Redirect a task: see the module docstring. Raises TaskError with what to do instead."""
    _check_text(message, Term.MESSAGE)
    row = engine.get_sync(task_id)
    if row.terminal:
        raise _ended(row, "steer")
    if row.task.review is not None:
        raise TaskError(
            "task {task_id} is a code review, which cannot be steered; cancel it and start "
            "another review with {INSTRUCTIONS}",
            code=Code.UNSUPPORTED,
            task_id=row.id,
        )
    if "fork_thread_id" not in row.spec.get("task", {}):
        # Specs gained that field with steering: a task recorded before has a runner that
        # neither reads steers nor survives SIGUSR1.
        raise TaskError(
            "task {task_id} was started by an older version of codex-mcp-swarm that cannot be "
            "steered; cancel it and continue its thread with {REPLY}",
            code=Code.UNSUPPORTED,
            task_id=row.id,
        )
    if engine.settings.ephemeral and row.phase != "queued":
        raise TaskError(
            "this server runs with {EPHEMERAL}: Codex keeps no session files, so a running "
            "thread cannot be continued after an interrupt. Cancel the task and start {LAUNCH}.",
            code=Code.NOT_ALLOWED,
            task_id=row.id,
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
        raise TaskError("name the source with exactly one of {TASK_ID} and {THREAD_ID}")
    if task_id is not None:
        row = engine.get_sync(task_id)
        if not row.thread_id:
            raise TaskError(
                "task {task_id} has no thread yet ({phase}: Codex has not reported it); "
                "try again in a moment",
                code=Code.NOT_YET,
                task_id=row.id,
                phase=row.phase,
            )
        return row.thread_id, row
    if not isinstance(thread_id, str) or not is_uuid(thread_id):
        raise TaskError(
            "{THREAD_ID} {thread_id!r} is not a UUID; use the {THREAD_ID} a result reported",
            thread_id=thread_id,
        )
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
        raise TaskError.because(exc, code=Code.GIT, task_id=row.id) from None


def _checkout(engine: Engine, row: TaskRow, wt: git.Worktree, live: bool) -> Checkout:
    """A throwaway checkout of ``row``'s work so far, for a task that only looks at it."""
    if row.extra.removed_worktree:
        raise TaskError(
            "the worktree of task {task_id} was removed, so there is no checkout to look at; "
            "its branch {branch!r} still holds the work ({DIFF} shows it)",
            code=Code.GONE,
            task_id=row.id,
            branch=wt.branch,
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
    _check_text(prompt, Term.PROMPT)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FORKS:
        raise TaskError("{COUNT} must be a whole number from 1 to {most}", most=MAX_FORKS)
    thread, row = _source(engine, task_id, thread_id)
    if engine.settings.ephemeral:
        raise TaskError(
            "this server runs with {EPHEMERAL}: Codex keeps no session files, so a thread cannot "
            "be forked. Start {LAUNCH} instead.",
            code=Code.NOT_ALLOWED,
        )
    source_wt = branches.worktree_of(row) if row is not None else None
    if worktree is None:
        worktree = source_wt is not None
    if row is not None:
        base_spec = replace(
            row.task,
            prompt=prompt,
            fork_thread_id=thread,
            review=None,
            resume_thread_id=None,
            output_schema=None,
        )
    else:
        if not engine.sessions_here:
            raise TaskError(
                "no task of this server ran thread {thread_id}: its session files would be on "
                "a worker of the {backend} backend, found only through the task that ran it. "
                "Fork the thread of a task of this server, by its {TASK_ID} ({LIST} shows them).",
                code=Code.UNKNOWN_THREAD,
                thread_id=thread,
                backend=engine.backend.name,
            )
        cwd = find_session_cwd(thread)
        if cwd is None:
            raise TaskError(
                "unknown {THREAD_ID} {thread_id}: no task of this server ran it and no Codex "
                "session file holds it",
                code=Code.UNKNOWN_THREAD,
                thread_id=thread,
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
                engine.launch_sync(base_spec, parent=parent, worktree=request, checkout=checkout)
            )
        except TaskError as exc:
            if not started:
                raise
            ids = ", ".join(r.id for r in started)
            raise TaskError(
                "started {started} of {count} forks ({ids}, which run on); "
                "the next could not start: {reason}",
                code=Code.PARTIAL,
                started=len(started),
                count=count,
                ids=ids,
                task_ids=[r.id for r in started],
                reason=exc,
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
        _check_text(instructions, Term.INSTRUCTIONS)
    row = engine.get_sync(task_id)
    if row.task.review is not None:
        raise TaskError(
            "task {task_id} is itself a review; review the task it reviewed instead",
            code=Code.UNSUPPORTED,
            task_id=row.id,
        )
    wt = branches.worktree_of(row)
    title = f"Review of task {row.id}"
    checkout: Checkout | None = None
    if wt is not None:
        if row.extra.removed_worktree:
            raise TaskError(
                "the worktree of task {task_id} was removed, so there is no checkout to review "
                "in; its branch {branch!r} still holds the work ({DIFF} shows it)",
                code=Code.GONE,
                task_id=row.id,
                branch=wt.branch,
            )
        if engine.worktrees_here and backend_of(row) != engine.backend.name:
            raise TaskError(
                "task {task_id} ran under the {backend} backend, whose worktrees are checked "
                "out on its workers: review it from {BACKEND}",
                code=Code.OTHER_BACKEND,
                task_id=row.id,
                backend=backend_of(row),
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
    source = row.task
    config = {k: v for k, v in source.config.items() if k != "sandbox_mode"}
    spec = TaskSpec(
        prompt=prompt,
        cwd=cwd,
        model=source.model,
        profile=source.profile,
        config=config,
        sandbox="read-only",
        review=target,
    )
    return engine.launch_sync(spec, limits=Limits(), checkout=checkout)
