"""Landing a swarm's branches: which tasks, in which order, and what landed.

Owns: :func:`land` (choose the finished, unlanded worktree tasks of one repository in the order
they finished, or the ones named; land them through :func:`..git.batch.land_batch`, one batch
per target, with the outcome of landing them one by one, while holding the repository's
landing lock; record each landed task as merged so cleanup and later landings count it; name
the already-landed tasks a conflict collides with; start a resolving follow-up task per
conflict when asked, or, with ``on_failure: reply``, send each failure home to the task's own
thread through :mod:`.homes`; write where each task went on it when the landing is stored or
sends failures home) and the typed answer every face renders
(:class:`~.records.LandReport`).

A crash between two tasks leaves the target at a landed boundary (git moves it with a
compare-and-swap); a task whose work reached the target before its landing was recorded is
found there by the next landing ("already") and recorded then.

Must not: run git itself (the ``git`` package does) or talk MCP; wording names no tool.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import git
from ..git.batch import BatchProgress, land_batch
from ..git.checkcache import CheckCache
from ..git.landing import LandStep, Scratch, conflicted_merge, markers_left
from ..git.lock import landing_lock
from ..git.run import common_dir
from ..git.worktrees import repo_dir
from . import branches, homes
from .admission import check_cwd
from .errors import Code, TaskError
from .phases import TERMINAL
from .plan import WorktreeRequest
from .records import (
    CheckFailed,
    Conflicted,
    Landed,
    LandingMark,
    LandingProgress,
    LandReport,
    LandRequest,
    Merged,
    Resolving,
    SentHome,
    Skipped,
)
from .store import TaskRow

if TYPE_CHECKING:  # the engine calls land() (its awaitable land)
    from .tasks import Engine

__all__ = ["LandRequest", "default_check_parallel", "land", "landing_repository"]

log = logging.getLogger(__name__)


def default_check_parallel() -> int:
    """Candidates checked at once when the caller does not say: the machine's CPUs."""
    return max(1, os.cpu_count() or 1)


def _common(path: Path, cache: dict[Path, Path | None]) -> Path | None:
    if path not in cache:
        try:
            cache[path] = common_dir(git.repo_root(path))
        except git.GitError:
            cache[path] = None
    return cache[path]


def _target_of(row: TaskRow, wt: git.Worktree, request: LandRequest) -> str | None:
    return request.target or row.extra.land_target or wt.base_branch


def _candidates(engine: Engine, common: Path, cache: dict[Path, Path | None]) -> list[TaskRow]:
    rows = [
        row
        for row in engine.store.list(phases=("completed",))
        if row.extra.live_branch and row.extra.merged is None
    ]
    mine = []
    for row in rows:
        wt = branches.worktree_of(row)
        if wt is not None and _common(Path(wt.repo), cache) == common:
            mine.append(row)
    mine.sort(key=lambda r: (r.ended_at or 0.0, r.seq))
    return mine


def _files_of(row: TaskRow) -> set[str]:
    outcome = row.extra.outcome
    return {f.path for f in outcome.files} if outcome is not None else set()


def _resolver_prompt(row: TaskRow, target: str, paths: list[str], others: list[TaskRow]) -> str:
    landed = "; ".join(f"task {o.id}: {o.title}" for o in others) or "earlier work on the branch"
    return (
        f"Resolve a merge conflict. This worktree holds '{target}' (which now has {landed}) "
        f"merged with the branch of task {row.id}, whose goal was: {row.title}\n"
        f"These files contain git conflict markers (<<<<<<<, =======, >>>>>>>): "
        f"{', '.join(paths)}.\n"
        f"Edit them so that BOTH intentions are kept: what '{target}' already has and what "
        f"task {row.id} meant to do. Remove every conflict marker, keep everything else as it "
        f"is, and make sure the result still works. Do not start unrelated changes."
    )


def _start_resolver(
    engine: Engine, row: TaskRow, wt: git.Worktree, target: str, others: list[TaskRow]
) -> str:
    message = (
        f"conflicted merge of {wt.branch} into {target} (markers present)\n\n"
        f"Made by codex-swarm for a task that resolves the conflicts of task {row.id}."
    )
    commit, paths = conflicted_merge(wt.repo, wt.branch, target, message)
    spec = replace(
        row.task,
        prompt=_resolver_prompt(row, target, paths, others),
        resume_thread_id=None,
        cwd=str(Path(wt.repo) / wt.subdir) if wt.subdir else str(wt.repo),
    )
    follow = engine.launch_sync(spec, worktree=WorktreeRequest(base_ref=commit))
    engine.store.update_extra(
        follow.id,
        lambda e: replace(e, land_target=target, resolves=row.id, resolves_paths=tuple(paths)),
    )
    engine.store.update_extra(row.id, lambda e: replace(e, resolved_by=follow.id))
    return follow.id


def _chosen(engine: Engine, request: LandRequest) -> tuple[Path, list[TaskRow] | None]:
    """(the repository's top, the named tasks or None for "every finished one"), validated."""
    if request.strategy not in git.STRATEGIES:
        raise TaskError(
            "{STRATEGY} {strategy!r} is unknown; use one of {strategies}",
            strategy=request.strategy,
            strategies=", ".join(git.STRATEGIES),
        )
    if request.check is not None and not request.check.strip():
        raise TaskError("{CHECK} is empty: give a shell command, or leave {CHECK} out")
    cwd = Path(check_cwd(engine.settings, request.cwd))  # absolute, existing, allowed
    rows: list[TaskRow] | None = None
    if request.task_ids:
        rows = []
        for task_id in request.task_ids:
            row = engine.store.get(task_id)
            if row is None:
                raise TaskError(
                    "unknown task id {task_id!r}; {LIST} shows the known tasks",
                    code=Code.UNKNOWN_TASK,
                    task_id=task_id,
                )
            rows.append(row)
        first = branches.worktree_of(rows[0])
        where = cwd if request.cwd or first is None else Path(first.repo)
    else:
        where = cwd
    try:
        return git.repo_root(where), rows
    except git.GitError as exc:
        raise TaskError.because(exc, code=Code.GIT) from None


def landing_repository(engine: Engine, request: LandRequest) -> str:
    """The git common dir that keys ``request``'s queue (its arguments checked on the way)."""
    top, _rows = _chosen(engine, request)
    return str(common_dir(top))


def land(
    engine: Engine,
    request: LandRequest,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[LandingProgress], None] | None = None,
    landed_before: Collection[str] = (),
    landing_id: str | None = None,
) -> LandReport:
    """Land the tasks' branches in batches with the outcome of landing them one by one: which
    landed, conflicted, failed their check, were skipped or are being resolved, the target(s)
    and their new tips, and one line per task.

    ``stop``: when set, running checks are killed and the undecided tasks are skipped (the
    target stays at a landed boundary). ``on_progress`` hears where the landing is.
    ``landed_before``: tasks an interrupted run of the same landing landed (reported as
    landed again, not as already merged)."""
    cache: dict[Path, Path | None] = {}
    top, named = _chosen(engine, request)
    rows: list[TaskRow] = named or []
    common = common_dir(top)
    started = time.monotonic()
    landed: list[Landed] = []
    conflicted: list[Conflicted] = []
    check_failed: list[CheckFailed] = []
    skipped: list[Skipped] = []
    resolving: list[Resolving] = []
    lines: list[str] = []
    tips: dict[str, str] = {}
    checkout_notes: list[str] = []
    check_seconds = 0.0
    prepare_seconds = 0.0  # checking candidates out in the scratch worktree
    landed_rows: list[TaskRow] = []
    to_resolve: list[tuple[TaskRow, git.Worktree, str, list[TaskRow]]] = []
    to_home: list[tuple[TaskRow, git.Worktree, LandStep, list[TaskRow]]] = []
    sent_home: list[SentHome] = []
    replying = request.on_failure == "reply"

    def marked(row: TaskRow) -> bool:
        return landing_id is not None or replying or row.extra.landing is not None

    def given_up(row: TaskRow, reason: str) -> None:
        if marked(row):
            homes.mark(engine, row, LandingMark("given up", landing_id, reason=reason))

    def skip(row_id: str, reason: str) -> None:
        skipped.append(Skipped(task_id=row_id, reason=reason))
        lines.append(f"skipped {row_id}: {reason}")
        row = engine.store.get(row_id)
        # Not a task whose work is in (or on its way home through a reply): its mark stands.
        if row is not None and row.extra.merged is None and row.extra.resolved_by is None:
            given_up(row, reason)

    def handle(row: TaskRow, wt: git.Worktree, step: LandStep, record_it: bool = True) -> None:
        nonlocal check_seconds, prepare_seconds
        if step.check is not None and id(step.check) not in counted:
            counted.add(id(step.check))
            check_seconds += step.check.seconds
            prepare_seconds += step.check.prepare_seconds
        if step.commit:
            tips[step.target] = step.commit
        if step.status in ("landed", "already"):
            if record_it:
                _record(engine, row, step, landing_id)
            landed_rows.append(row)
            landed.append(
                Landed(
                    task_id=row.id,
                    branch=step.branch,
                    target=step.target,
                    commit=step.commit,
                    already=step.status == "already",
                )
            )
            if marked(row):
                homes.mark(engine, row, LandingMark("landed", landing_id, commit=step.commit))
            how = "was already in" if step.status == "already" else "landed on"
            lines.append(f"landed {row.id}: {how} {step.target} at {(step.commit or '')[:12]}")
            if step.checkout:
                checkout_notes.append(step.checkout)
        elif step.status == "conflicted":
            others = _colliding(engine, common, step, landed_rows, cache)
            conflicted.append(
                Conflicted(
                    task_id=row.id,
                    paths=tuple(step.conflicts),
                    colliding_tasks=tuple(o.id for o in others),
                )
            )
            with_whom = f" (collides with {', '.join(o.id for o in others)})"
            lines.append(
                f"conflicted {row.id}: {', '.join(step.conflicts) or 'some paths'}"
                + (with_whom if others else "")
            )
            if replying:
                to_home.append((row, wt, step, others))
            elif request.resolve:
                to_resolve.append((row, wt, step.target, others))
            else:
                given_up(row, f"conflicts in {', '.join(step.conflicts) or 'some paths'}")
        elif step.status == "check_failed":
            ran = step.check
            assert ran is not None
            check_failed.append(
                CheckFailed(
                    task_id=row.id,
                    exit_code=ran.exit_code,
                    timed_out=ran.timed_out,
                    seconds=ran.seconds,
                    output_tail=ran.output_tail,
                )
            )
            last = (ran.output_tail.strip().splitlines() or [""])[-1][:160]
            code = "timed out" if ran.timed_out else f"exit {ran.exit_code}"
            lines.append(f"check failed {row.id} ({code}): {last}")
            if replying:
                to_home.append((row, wt, step, []))
            else:
                given_up(row, f"the check failed ({code})")
        else:
            skip(row.id, step.reason or "not landed")

    counted: set[int] = set()
    counts = {"rounds": 0, "runs": 0, "cached": 0, "speculative": 0}  # the batches' checks
    git_seconds = 0.0
    parallel = request.check_parallel or default_check_parallel()
    scratch_root = repo_dir(engine.settings.worktree_dir, top)
    scratches = [
        Scratch(top, scratch_root / (".land-check" if i == 0 else f".land-check-{i}"), keep=True)
        for i in range(parallel if request.check else 0)
    ]
    verdicts = CheckCache(top) if request.check else None
    with landing_lock(top):
        # Chosen under the lock: a landing that just finished has recorded what it landed.
        if named is None:
            rows = _candidates(engine, common, cache)
        else:
            rows = [engine.store.get(r.id) or r for r in rows]
        progress = LandingProgress(total=len(rows))

        def tell(**changes: Any) -> None:
            nonlocal progress
            progress = replace(progress, **changes)
            if on_progress is not None:
                on_progress(progress)

        # Each target's tasks in order: one batch per target (targets do not interact).
        queues: dict[str, list[tuple[TaskRow, git.Worktree]]] = {}
        try:
            for row in rows:
                wt = branches.worktree_of(row)
                if wt is None:
                    skip(row.id, "it did not run in a worktree, so it has no branch to land")
                    continue
                if not row.terminal:
                    skip(row.id, f"it is still {row.phase}; wait for it first")
                    continue
                if row.extra.removed_branch:
                    skip(row.id, f"its branch {wt.branch} was deleted")
                    continue
                if _common(Path(wt.repo), cache) != common:
                    skip(row.id, f"its repository {wt.repo} is not the one at {top}")
                    continue
                record = row.extra.merged
                # Landed by an interrupted run of this landing: by its progress, or by the
                # record alone when the run died between recording it and its progress.
                ours = (
                    record is not None and landing_id is not None and record.landing == landing_id
                )
                if record is not None and (row.id in landed_before or ours):
                    step = LandStep(wt.branch, record.target, "landed", record.commit)
                    handle(row, wt, step, record_it=False)
                    continue
                if record is not None:
                    skip(row.id, f"already merged into {record.target}")
                    continue
                resolver = row.extra.resolved_by
                if resolver:
                    other = engine.store.get(resolver)
                    if other is not None and other.extra.merged is None:
                        skip(row.id, f"task {resolver} is resolving its conflicts; land that one")
                        continue
                unresolved = _unresolved(engine, row, wt)
                if unresolved:
                    skip(
                        row.id,
                        f"it was to resolve conflicts but {', '.join(unresolved)} still hold "
                        "conflict markers; continue it, or land its original task another way",
                    )
                    continue
                target = _target_of(row, wt, request)
                if target is None:
                    skip(row.id, f"it started from {wt.base_ref!r}, not a branch: give a target")
                    continue
                queues.setdefault(target, []).append((row, wt))
            decided = len(rows) - sum(len(queue) for queue in queues.values())
            tell(decided=decided, landed=tuple(item.task_id for item in landed))
            for target, queue in queues.items():

                def final(
                    index: int, step: LandStep, queue: list[tuple[TaskRow, git.Worktree]] = queue
                ) -> None:
                    nonlocal decided
                    row, wt = queue[index]
                    handle(row, wt, step)
                    decided += 1
                    tell(decided=decided, landed=tuple(item.task_id for item in landed))

                def moved(
                    at: BatchProgress, queue: list[tuple[TaskRow, git.Worktree]] = queue
                ) -> None:
                    by_branch = {wt.branch: row.id for row, wt in queue}
                    checking = tuple(by_branch.get(b, b) for b in at.checking)
                    tell(checking=checking, last_line=at.last_line)

                try:
                    batch = land_batch(
                        top,
                        [(wt.branch, branches.commit_message(row)) for row, wt in queue],
                        target=target,
                        strategy=request.strategy,
                        check=request.check,
                        check_timeout=request.check_timeout,
                        scratches=scratches,
                        cache=verdicts,
                        on_final=final,
                        on_progress=moved,
                        stop=stop,
                    )
                    spent = batch.stats
                    counts = {
                        "rounds": counts["rounds"] + spent.rounds,
                        "runs": counts["runs"] + spent.checks,
                        "cached": counts["cached"] + spent.cached,
                        "speculative": counts["speculative"] + spent.speculative,
                    }
                    git_seconds += spent.chain_seconds + spent.move_seconds
                except git.GitError as exc:
                    known = {item.task_id for item in landed}
                    known |= {item.task_id for item in conflicted}
                    known |= {item.task_id for item in check_failed}
                    known |= {item.task_id for item in skipped}
                    for row, _wt in queue:
                        if row.id not in known:
                            skip(row.id, str(exc))
        finally:
            for scratch in scratches:
                scratch.close()
        for row, wt, step, others in to_home:
            attempt = row.extra.home.attempt if row.extra.home is not None else 1
            failure = "conflict" if step.status == "conflicted" else "check"
            if attempt >= request.attempts:
                lines.append(f"gave up {row.id}: {attempt} of {request.attempts} landings failed")
                given_up(row, f"{attempt} of {request.attempts} landings failed ({failure})")
                continue
            try:
                ran = step.check
                reply = homes.send_home(
                    engine,
                    row,
                    wt,
                    step.target,
                    request,
                    conflicts=list(step.conflicts) if failure == "conflict" else None,
                    landed_by=others,
                    check=(ran.exit_code, ran.output_tail) if ran is not None else None,
                )
            except (TaskError, git.GitError) as exc:
                fallback = "resolving" if request.resolve and failure == "conflict" else "reported"
                lines.append(f"not sent home {row.id} ({exc}): {fallback}")
                if fallback == "resolving":
                    to_resolve.append((row, wt, step.target, others))
                else:
                    given_up(row, f"it could not be sent home: {exc}")
                continue
            sent_home.append(SentHome(task_id=row.id, reply=reply, why=failure))
            homes.mark(engine, row, LandingMark("sent home", landing_id, reply=reply))
            lines.append(f"sent home {row.id}: task {reply} continues its thread")
        for row, wt, target, others in to_resolve:
            try:
                follow = _start_resolver(engine, row, wt, target, others)
            except (TaskError, git.GitError) as exc:
                lines.append(f"resolving {row.id} could not start: {exc}")
                resolving.append(Resolving(task_id=row.id, follow_up=None, error=str(exc)))
                continue
            resolving.append(Resolving(task_id=row.id, follow_up=follow))
            lines.append(f"resolving {row.id}: started task {follow} on the conflicted merge")
    targets = sorted(tips) or ([request.target] if request.target else [])
    target = targets[0] if len(targets) == 1 else None
    checkout = checkout_notes[-1] if checkout_notes else None
    if not rows:
        lines.append(f"nothing to land: no finished, unlanded worktree task of {top}")
    summary = f"{len(landed)} of {len(rows)} landed"
    for name, tip in sorted(tips.items()):
        summary += f"; {name} is at {tip[:12]}"
    if checkout:
        summary += f"; {checkout}"
    return LandReport(
        landed=tuple(landed),
        conflicted=tuple(conflicted),
        check_failed=tuple(check_failed),
        skipped=tuple(skipped),
        resolving=tuple(resolving),
        target=target,
        new_tip=tips.get(target) if target else None,
        tips=tips,
        checkout=checkout,
        repository=str(top),
        strategy=request.strategy,
        check=request.check,
        check_seconds=round(check_seconds, 3),
        check_prepare_seconds=round(prepare_seconds, 3),
        seconds=round(time.monotonic() - started, 3),
        lines=(summary, *lines),
        sent_home=tuple(sent_home),
        check_rounds=counts["rounds"],
        check_runs=counts["runs"],
        check_cached=counts["cached"],
        check_speculative=counts["speculative"],
        git_seconds=round(git_seconds, 3),
    )


def _unresolved(engine: Engine, row: TaskRow, wt: git.Worktree) -> list[str]:
    """For a task started to resolve conflicts: the paths that still hold markers."""
    if not row.extra.resolves:
        return []
    paths = list(row.extra.resolves_paths)
    try:
        return markers_left(wt.repo, wt.branch, paths)
    except git.GitError:
        return []


def _record(engine: Engine, row: TaskRow, step: LandStep, landing_id: str | None) -> None:
    record = Merged(
        target=step.target,
        commit=step.commit,
        strategy="land",
        message=f"landed on {step.target}",
        at=time.time(),
        landed=True,
        landing=landing_id,
    )
    row.extra = engine.store.update_extra(row.id, lambda e: replace(e, merged=record)) or row.extra
    resolves = row.extra.resolves
    if resolves:  # the conflicted task's work came home through this one
        original = engine.store.get(resolves)
        if original is not None and original.extra.merged is None:
            via = replace(record, via=row.id)
            engine.store.update_extra(original.id, lambda e: replace(e, merged=via))


def _colliding(
    engine: Engine,
    common: Path,
    step: LandStep,
    landed_now: list[TaskRow],
    cache: dict[Path, Path | None],
) -> list[TaskRow]:
    """Landed tasks (this landing's, then earlier ones) that changed a conflicting path."""
    paths = set(step.conflicts)
    seen: set[str] = set()
    found: list[TaskRow] = []
    earlier = [
        row
        for row in engine.store.list(phases=TERMINAL, limit=500)
        if row.extra.merged is not None and row.extra.merged.target == step.target
    ]
    for row in [*reversed(landed_now), *earlier]:
        if row.id in seen:
            continue
        seen.add(row.id)
        wt = branches.worktree_of(row)
        if wt is None or _common(Path(wt.repo), cache) != common:
            continue
        if _files_of(row) & paths:
            found.append(row)
    return found
