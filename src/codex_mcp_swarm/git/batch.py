"""Landing many branches at once, with the outcome of landing them one at a time.

Owns: :func:`land_batch`. The branches are merged in order into a chain of candidates on the
target's tip (each on top of the previous one: exactly the merges one-by-one landing would
make); a branch that conflicts, or whose work the chain already holds, is set aside as it is
built, before any check runs. The chain's tip is checked once; when it passes, the target moves
to it in one compare-and-swap. When it fails, the chain is bisected: the longest passing prefix
lands, the first failing branch is taken out with its check's output, and the rest is built
again on the new tip. With ``parallel`` > 1, several candidates of the chain are checked at once,
each in its own scratch worktree: beside the tip, the points bisection would check next if the
tip failed (speculation); a verdict that makes another run pointless stops that run's process
group at once. Verdicts are remembered per tree and command (:mod:`.checkcache`).

The outcome equals one-by-one landing in the given order (the same branches land, conflict or
fail, and the target ends at the same tree) for checks whose failures persist as branches are
added: a tree that fails the check keeps failing when more branches are merged on top. That is
the assumption of every batching merge queue (bors, GitHub, GitLab, Zuul); a later branch that
repairs an earlier breakage would land both here, while one-by-one would reject the first.

A crash or a stop leaves the target at a landed boundary: it only moves by compare-and-swap to
a candidate whose check passed, under the repository's merge lock.

Must not: know about tasks or the store (callers name branches and messages and record what
``on_final`` reports), or move the target to a candidate that was not checked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from .checkcache import CachedCheck, CheckCache
from .landing import ATTEMPTS, CHECK_TIMEOUT, CheckRun, LandStep, Scratch, move_target
from .lock import repository_lock
from .merging import Candidate, build_candidate
from .refs import branch_tip
from .run import GitError, commit_of

CANCELLED = "the landing was stopped before this branch was decided"


@dataclass
class BatchStats:
    """What a batch cost: check runs started, verdicts reused, runs stopped early, rounds of
    checks (the landing's length in units of one check's time), and moves of the target."""

    checks: int = 0
    cached: int = 0
    stopped: int = 0
    rounds: int = 0
    moves: int = 0


@dataclass
class BatchProgress:
    """Where a batch is: the branches whose candidates are being checked, how many branches are
    decided, and the last line of the latest finished check."""

    checking: list[str] = field(default_factory=list)
    decided: int = 0
    total: int = 0
    last_line: str = ""


@dataclass
class BatchResult:
    steps: list[LandStep]  # one per branch, in the caller's order
    stats: BatchStats


@dataclass
class _Link:
    index: int  # position in the caller's list
    branch: str
    step: LandStep  # its status if every clean link below it lands
    tree: str | None = None  # the candidate's tree, for clean links


class _Stopped(Exception):
    """The caller's stop event was set while checks ran."""


def _spread(lo: int, hi: int, count: int) -> list[int]:
    """Up to ``count`` points strictly between ``lo`` and ``hi``, evenly spaced."""
    points = {lo + (i * (hi - lo)) // (count + 1) for i in range(1, count + 1)}
    return sorted(p for p in points if lo < p < hi)


def _build_chain(
    top: Path,
    todo: Sequence[tuple[int, str, str]],
    target: str,
    tip: str,
    strategy: str,
) -> list[_Link]:
    links: list[_Link] = []
    onto = tip
    for index, branch, message in todo:
        try:
            name, branch_head = branch_tip(top, branch, "branch")
            if name == target:
                raise GitError(f"cannot land branch '{name}' on itself")
            found: Candidate = build_candidate(
                top, name, branch_head, target, onto, strategy=strategy, message=message
            )
        except GitError as exc:
            step = LandStep(branch, target, "skipped", onto, reason=str(exc))
            links.append(_Link(index, branch, step))
            continue
        if found.already:
            step = LandStep(branch, target, "already", onto, reason=found.reason)
            links.append(_Link(index, branch, step))
        elif found.commit is None:
            step = LandStep(
                branch, target, "conflicted", onto, conflicts=found.conflicts, reason=found.reason
            )
            links.append(_Link(index, branch, step))
        else:
            onto = found.commit
            links.append(_Link(index, branch, LandStep(branch, target, "landed", onto), found.tree))
    return links


class _Checker:
    """Runs rounds of checks on chain candidates: cached verdicts first, the rest in parallel
    scratch worktrees, stopping runs whose verdict another run made pointless."""

    def __init__(
        self,
        command: str,
        timeout: float,
        scratches: Sequence[Scratch],
        cache: CheckCache | None,
        stop: threading.Event | None,
        stats: BatchStats,
        report: Callable[[list[str], str], None],
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.scratches = list(scratches)
        self.cache = cache
        self.stop = stop
        self.stats = stats
        self.report = report

    def _cached(self, tree: str | None) -> CheckRun | None:
        if self.cache is None or tree is None:
            return None
        hit = self.cache.get(tree, self.command)
        if hit is None:
            return None
        return CheckRun(self.command, hit.exit_code, hit.seconds, hit.output_tail, cached=True)

    def _remember(self, tree: str | None, run: CheckRun) -> None:
        if self.cache is None or tree is None or run.stopped or run.timed_out:
            return
        verdict = CachedCheck(run.passed, run.exit_code, run.seconds, run.output_tail)
        self.cache.put(tree, self.command, verdict)

    def round(self, points: list[int], clean: list[_Link]) -> dict[int, CheckRun]:
        """Verdicts for the candidates after ``points`` clean links (1-based prefix lengths).
        Runs stopped because another verdict made them pointless are left out."""
        verdicts: dict[int, CheckRun] = {}
        pending: list[int] = []
        for point in points:
            hit = self._cached(clean[point - 1].tree)
            if hit is not None:
                self.stats.cached += 1
                verdicts[point] = hit
            else:
                pending.append(point)
        if not pending or self._settled(verdicts, pending):
            return verdicts
        self.stats.rounds += 1  # one check's time, however many run side by side
        stops = {point: threading.Event() for point in pending}
        self.report([clean[p - 1].branch for p in pending], "")
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures: dict[Future[CheckRun], int] = {}
            for slot, point in enumerate(pending):
                link = clean[point - 1]
                commit = link.step.commit
                assert commit is not None
                scratch = self.scratches[slot]
                futures[
                    pool.submit(scratch.run, self.command, commit, self.timeout, stops[point])
                ] = point
                self.stats.checks += 1
            outstanding = set(futures)
            while outstanding:
                done, outstanding = wait(outstanding, timeout=0.1, return_when=FIRST_COMPLETED)
                if self.stop is not None and self.stop.is_set():
                    for event in stops.values():
                        event.set()
                for future in done:
                    point = futures[future]
                    run = future.result()
                    if run.stopped:
                        self.stats.stopped += 1
                        continue
                    verdicts[point] = run
                    self._remember(clean[point - 1].tree, run)
                    lines = run.output_tail.strip().splitlines()
                    self.report([], lines[-1][:200] if lines else "")
                    for other, event in stops.items():
                        pointless = other < point if run.passed else other > point
                        if other not in verdicts and pointless:
                            event.set()
        if self.stop is not None and self.stop.is_set():
            raise _Stopped
        return verdicts

    @staticmethod
    def _settled(verdicts: dict[int, CheckRun], pending: list[int]) -> bool:
        """Whether the cached verdicts already make every pending run pointless."""
        passes = [p for p, v in verdicts.items() if v.passed]
        fails = [p for p, v in verdicts.items() if not v.passed]
        return all(any(p >= q for p in passes) or any(f <= q for f in fails) for q in pending)


def _passing_prefix(
    clean: list[_Link], checker: _Checker, parallel: int
) -> tuple[int, dict[int, CheckRun]]:
    """(k, verdicts): the first k clean links pass together; when k < len(clean), link k+1 is
    the first that fails, and ``verdicts[k + 1]`` is its failing run."""
    n = len(clean)
    lo, hi = 0, None
    verdicts: dict[int, CheckRun] = {}
    while True:
        if hi is None:
            points = [n, *_spread(lo, n, parallel - 1)]
        elif hi - lo <= 1:
            return lo, verdicts
        else:
            points = _spread(lo, hi, parallel)
        points = sorted(set(points) - set(verdicts))
        verdicts.update(checker.round(points, clean))
        fails = [p for p, v in verdicts.items() if not v.passed]
        hi = min(fails) if fails else None
        lo = max([0] + [p for p, v in verdicts.items() if v.passed and (hi is None or p < hi)])
        if hi is None and lo == n:
            return n, verdicts


def land_batch(
    repo: Path,
    branches: Sequence[tuple[str, str]],
    *,
    target: str,
    strategy: str,
    check: str | None = None,
    check_timeout: float = CHECK_TIMEOUT,
    scratches: Sequence[Scratch] = (),
    cache: CheckCache | None = None,
    on_final: Callable[[int, LandStep], None] | None = None,
    on_progress: Callable[[BatchProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> BatchResult:
    """Land ``branches`` ((branch, commit message) pairs, in order) on ``target``.

    ``scratches``: one scratch worktree per candidate checked at once (at least one when there
    is a check). ``on_final(index, step)`` is called as each branch's outcome becomes final, in
    order, after the target moved for the branches that landed (record them then: a crash
    after the move finds them ``already`` on the next landing). ``stop``: when set, running
    checks are killed and the undecided branches are reported ``skipped``.
    """
    top = Path(repo)
    if check and not scratches:
        raise GitError("a check needs a scratch worktree to run in")
    parallel = max(1, len(scratches))
    stats = BatchStats()
    steps: dict[int, LandStep] = {}
    progress = BatchProgress(total=len(branches))

    def report(checking: list[str], line: str) -> None:
        if checking:
            progress.checking = checking
        if line:
            progress.last_line = line
        if on_progress is not None:
            on_progress(replace(progress, checking=list(progress.checking)))

    def final(index: int, step: LandStep) -> None:
        steps[index] = step
        progress.decided = len(steps)
        if on_final is not None:
            on_final(index, step)

    checker = _Checker(check or "", check_timeout, scratches, cache, stop, stats, report)
    todo = [(i, branch, message) for i, (branch, message) in enumerate(branches)]
    moved_elsewhere = 0
    while todo:
        name, tip = branch_tip(top, target, "target")
        if stop is not None and stop.is_set():
            break
        chain = _build_chain(top, todo, name, tip, strategy)
        clean = [link for link in chain if link.step.status == "landed"]
        verdicts: dict[int, CheckRun] = {}
        if clean and check:
            try:
                k, verdicts = _passing_prefix(clean, checker, parallel)
            except _Stopped:
                break
        else:
            k = len(clean)
        note: str | None = None
        if k:
            new_tip = clean[k - 1].step.commit
            assert new_tip is not None
            action = f"codex-swarm land {strategy} {k} branch{'es' if k > 1 else ''}"
            with repository_lock(top):
                if commit_of(top, f"refs/heads/{name}") != tip:
                    moved_elsewhere += 1  # another writer moved the target: build again
                    if moved_elsewhere >= ATTEMPTS:
                        raise GitError(
                            f"'{name}' kept moving while a batch was being landed ({ATTEMPTS} "
                            f"attempts); land again when the other writers are done"
                        )
                    continue
                moved, note = move_target(top, name, tip, new_tip, action)
            if not moved:
                for link in chain:
                    status = "skipped" if link.step.status == "landed" else link.step.status
                    reason = note if status == "skipped" else link.step.reason
                    final(link.index, replace(link.step, status=status, commit=tip, reason=reason))
                done = {link.index for link in chain}
                for index, branch, _message in todo:
                    if index not in done:
                        final(index, LandStep(branch, name, "skipped", tip, reason=note))
                todo = []
                break
            stats.moves += 1
        culprit = clean[k] if k < len(clean) else None
        cut = chain.index(culprit) if culprit is not None else len(chain)
        passes = sorted(p for p, v in verdicts.items() if v.passed)
        position = 0
        for link in chain[:cut]:
            step = link.step
            if step.status == "landed":
                position += 1
                proof = next((verdicts[p] for p in passes if p >= position), None)
                step = replace(step, check=proof, checkout=note if position == k else None)
            final(link.index, step)
        if culprit is None:
            todo = []
            continue
        ran = verdicts[k + 1]
        new_tip = clean[k - 1].step.commit if k else tip
        final(culprit.index, LandStep(culprit.branch, name, "check_failed", new_tip, check=ran))
        todo = [entry for entry in todo if entry[0] > culprit.index]
    for index, branch, _message in todo:
        if index not in steps:
            final(index, LandStep(branch, target, "skipped", None, reason=CANCELLED))
    with contextlib.suppress(KeyError):
        return BatchResult([steps[i] for i in range(len(branches))], stats)
    raise GitError("a batch landing lost track of a branch")  # unreachable: every index is final
