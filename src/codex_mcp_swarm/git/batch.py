"""Landing many branches at once, with the outcome of landing them one at a time.

Owns: :func:`land_batch`. The branches are merged in order into a chain of candidates on the
target's tip (each on top of the previous one: exactly the merges one-by-one landing would
make); a branch that conflicts, or whose work the chain already holds, is set aside as it is
built, before any check runs. The chain's tip is checked once; when it passes, the target moves
to it in one compare-and-swap. When it fails, the chain is bisected: the longest passing prefix
lands, the first failing branch (the culprit) is taken out with its check's output, and the
rest is built again on the new tip and goes on the same way.

Checks run in ``parallel`` scratch worktrees, each check a job started as soon as a slot is free
and stopped (its process group killed) as soon as another verdict makes it pointless. Slots
bisection cannot use are filled with speculation, as merge trains do: once the checks running
will name the culprit, whichever it is, the rest one-by-one landing would build after each
possible culprit (the branches after it, on the prefix before it) is built while they run, and
checked in the idle slots, the latest culprit first (it assumes the branches ahead pass). When
the culprit is named, the rest's check is already running or done, and starts before the
target moves otherwise; a rest that passes lands in the same move as the prefix before it. A
passing rest also proves the prefix it was built on. Verdicts are remembered per tree and
command (:mod:`.checkcache`), so a rest built again on the same tree is not checked again.

With 12 branches and the 8th breaking the check this takes 6 checks' time with one slot (the
tip, four bisection steps, the rest: a binary search cannot do better) and 3 with two (the tip
and the middle; two more points; the last point beside the rest); twelve clean branches take
one, and a conflicting branch costs no check. Measured (bench section 8, 20,000-file tree, a
one-second check, 2-CPU machine, quiet or partly busy): 6.8-7.8 and 4.0-4.5 checks' time for
those two, 1.4-1.6 clean; git's part is mostly each candidate's checkout in its scratch
worktree, the chain's first build and the target's final move.

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
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from .checkcache import CachedCheck, CheckCache
from .landing import ATTEMPTS, CHECK_TIMEOUT, CheckRun, LandStep, Scratch, move_target
from .lock import repository_lock
from .merging import Candidate, build_candidate
from .refs import branch_name, branch_tip, check_rev_text, local_branches
from .run import GitError, commit_of, identity_options, tree_of

CANCELLED = "the landing was stopped before this branch was decided"

_Entry = tuple[int, str, str]  # (position in the caller's list, branch, commit message)


@dataclass
class BatchStats:
    """What a batch cost: check runs started (``speculative`` of them for a rest whose culprit
    was not known yet), verdicts reused, runs stopped early, rounds of checks (the landing's
    length in units of one check's time: the longest sequence of checks each started on a
    verdict of the one before), moves of the target, and seconds of git work on the landing's
    own thread (building chains, moving the target) and in the slots (checkouts)."""

    checks: int = 0
    cached: int = 0
    stopped: int = 0
    rounds: int = 0
    moves: int = 0
    speculative: int = 0
    chain_seconds: float = 0.0
    move_seconds: float = 0.0
    checkout_seconds: float = 0.0


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


class _Chains:
    """Builds chains of candidates (branch tips read once per pass) and keeps every chain it
    built, keyed by its base commit and its branches, so a rest built ahead is reused."""

    def __init__(self, top: Path, strategy: str, stats: BatchStats) -> None:
        self.top = top
        self.strategy = strategy
        self.stats = stats
        self.identity: list[str] | None = None  # read when the first merge is built
        self.target = ""
        self.names: dict[str, str | GitError] = {}
        self.tips: dict[str, str | None] = {}
        self.trees: dict[str, str] = {}
        self.built: dict[tuple[str, tuple[int, ...]], list[_Link]] = {}

    def begin(self, target: str, todo: Sequence[_Entry]) -> tuple[str, str]:
        """A pass on the target's current tip: (target's short name, its tip); the branches'
        tips are read again, all in one git process (a name is checked on its own only when
        no branch has it, to say why)."""
        branches = local_branches(self.top)
        check_rev_text(target, "target")
        short = target.removeprefix("refs/heads/")
        name, tip = (
            (short, branches[short])
            if short in branches
            else branch_tip(self.top, target, "target")
        )
        self.target = name
        for _index, branch, _message in todo:
            if branch in self.names:
                continue
            try:
                check_rev_text(branch, "branch")
                short = branch.removeprefix("refs/heads/")
                self.names[branch] = (
                    short if short in branches else branch_name(self.top, branch, "branch")
                )
            except GitError as exc:
                self.names[branch] = exc
        tips = {n: branches.get(n) for n in self.names.values() if isinstance(n, str)}
        if tips != self.tips:
            self.built.clear()  # a branch moved: what was built from its old tip is stale
        self.tips = tips
        return name, tip

    def tree(self, commit: str) -> str:
        if commit not in self.trees:
            self.trees[commit] = tree_of(self.top, commit)
        return self.trees[commit]

    def build(self, todo: Sequence[_Entry], onto: str) -> list[_Link]:
        key = (onto, tuple(index for index, _branch, _message in todo))
        if key in self.built:
            return self.built[key]
        started = time.monotonic()
        target = self.target
        if self.identity is None:
            self.identity = identity_options(self.top)
        links: list[_Link] = []
        onto_tree = self.tree(onto)
        for index, branch, message in todo:
            try:
                name = self.names[branch]
                if isinstance(name, GitError):
                    raise name
                head = self.tips.get(name)
                if head is None:
                    raise GitError(f"branch '{name}' is not a branch in {self.top}")
                if name == target:
                    raise GitError(f"cannot land branch '{name}' on itself")
                found: Candidate = build_candidate(
                    self.top,
                    name,
                    head,
                    target,
                    onto,
                    strategy=self.strategy,
                    message=message,
                    target_tree=onto_tree,
                    identity=self.identity,
                )
            except GitError as exc:
                step = LandStep(branch, target, "skipped", onto, reason=str(exc))
                links.append(_Link(index, branch, step))
                continue
            if found.already:
                step = LandStep(branch, target, "already", onto, reason=found.reason)
                links.append(_Link(index, branch, step))
            elif found.commit is None or found.tree is None:
                step = LandStep(
                    branch,
                    target,
                    "conflicted",
                    onto,
                    conflicts=found.conflicts,
                    reason=found.reason,
                )
                links.append(_Link(index, branch, step))
            else:
                onto, onto_tree = found.commit, found.tree
                self.trees[onto] = onto_tree
                step = LandStep(branch, target, "landed", onto)
                links.append(_Link(index, branch, step, onto_tree))
        self.built[key] = links
        self.stats.chain_seconds += time.monotonic() - started
        return links


@dataclass
class _Job:
    tree: str
    label: str  # the branch whose candidate is checked
    generation: int  # how many checks' times in sequence its verdict comes after
    slot: int
    stop: threading.Event
    future: Future[CheckRun]


class _Checker:
    """Check jobs on candidates, one per free scratch worktree, keyed by tree: verdicts already
    known (this batch's, or the cache's) are never run again, and a job nobody needs any more
    is stopped (its process group killed at once)."""

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
        self.free = list(range(len(self.scratches)))
        self.jobs: dict[str, _Job] = {}
        self.memo: dict[str, CheckRun] = {}
        self.unknown: set[str] = set()  # trees the cache had no verdict for
        self.generations: dict[str, int] = {}  # tree -> its job's generation (cache: 0)
        self.pool: ThreadPoolExecutor | None = None

    def verdict(self, tree: str | None) -> CheckRun | None:
        if tree is None:
            return None
        if tree in self.memo:
            return self.memo[tree]
        if self.cache is None or tree in self.unknown or tree in self.jobs:
            return None
        hit = self.cache.get(tree, self.command)
        if hit is None:
            self.unknown.add(tree)
            return None
        self.stats.cached += 1
        run = CheckRun(self.command, hit.exit_code, hit.seconds, hit.output_tail, cached=True)
        self.memo[tree] = run
        return run

    def running(self, tree: str | None) -> bool:
        return tree is not None and tree in self.jobs

    def generation(self, tree: str | None) -> int:
        return self.generations.get(tree, 0) if tree is not None else 0

    def start(self, link: _Link, after: int, *, speculative: bool = False) -> bool:
        """Check ``link``'s candidate unless its verdict is known or coming; False when every
        slot is busy (the caller asks again after the next verdict). ``after``: the generation
        of the verdicts that chose it (its own is one more)."""
        tree, commit = link.tree, link.step.commit
        assert tree is not None and commit is not None
        if tree in self.jobs or self.verdict(tree) is not None:
            return True
        if not self.free:
            return False
        slot = self.free.pop(0)
        stop = threading.Event()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=len(self.scratches))
        future = self.pool.submit(
            self.scratches[slot].run, self.command, commit, self.timeout, stop
        )
        self.jobs[tree] = _Job(tree, link.branch, after + 1, slot, stop, future)
        self.generations[tree] = after + 1
        self.stats.checks += 1
        self.stats.speculative += speculative
        self.report([job.label for job in self.jobs.values()], "")
        return True

    def stop_except(self, keep: set[str]) -> None:
        for tree, job in self.jobs.items():
            if tree not in keep:
                job.stop.set()

    def running_since(self, generation: int) -> bool:
        """Whether a job chosen on verdicts no later than ``generation`` runs."""
        return any(job.generation <= generation for job in self.jobs.values())

    def ended(self) -> bool:
        return any(job.future.done() for job in self.jobs.values())

    def wait(self) -> None:
        """Block until a running job ends (at least one must run), then take in every verdict
        that came."""
        if not self.jobs:
            raise GitError("a batch landing waited for a check that was not running")
        futures = {job.future: job for job in self.jobs.values()}
        done: set[Future[CheckRun]] = set()
        while not done:
            done, _ = wait(futures, timeout=0.1, return_when=FIRST_COMPLETED)
            if self.stop is not None and self.stop.is_set():
                self.stop_except(set())
        for future in done:
            job = futures[future]
            del self.jobs[job.tree]
            self.free.append(job.slot)
            run = future.result()
            self.stats.checkout_seconds += run.prepare_seconds
            if run.stopped:
                self.stats.stopped += 1
                continue
            self.memo[job.tree] = run
            if self.cache is not None and not run.timed_out:
                verdict = CachedCheck(run.passed, run.exit_code, run.seconds, run.output_tail)
                self.cache.put(job.tree, self.command, verdict)
            lines = run.output_tail.strip().splitlines()
            self.report([], lines[-1][:200] if lines else "")
        self.free.sort()
        if self.stop is not None and self.stop.is_set():
            raise _Stopped

    def close(self) -> None:
        """Stop every job and wait for them (each ends within a kill)."""
        self.stop_except(set())
        for job in list(self.jobs.values()):
            with contextlib.suppress(Exception):
                job.future.result()
        self.jobs.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


class _Bisection:
    """Finds how many clean links of one chain pass together (the first k: link k+1 is the
    culprit), checking prefixes of the chain and, in slots bisection leaves idle, the rests
    built after the possible culprits."""

    def __init__(
        self,
        chains: _Chains,
        checker: _Checker,
        parallel: int,
        chain: list[_Link],
        todo: Sequence[_Entry],
        base: str,
        after: int,
    ) -> None:
        self.chains = chains
        self.after = after  # the generation of the verdicts that decided its base
        self.decision = after  # the generation of the verdicts that decided it
        self.checker = checker
        self.parallel = parallel
        self.todo = todo
        self.base = base
        self.clean = [link for link in chain if link.step.status == "landed"]
        self.n = len(self.clean)
        self.rests: dict[int, _Link | None] = {}  # culprit (1-based) -> its rest's tip

    def _tree(self, m: int) -> str | None:
        return self.clean[m - 1].tree

    def rest(self, c: int) -> list[_Link]:
        """The chain one-by-one landing builds when clean link ``c`` is the first to fail: the
        branches after it, on the prefix before it."""
        culprit = self.clean[c - 1]
        base = self.clean[c - 2].step.commit if c > 1 else self.base
        assert base is not None
        return self.chains.build([e for e in self.todo if e[0] > culprit.index], base)

    def _rest_tip(self, c: int) -> _Link | None:
        if c not in self.rests:
            clean = [link for link in self.rest(c) if link.step.status == "landed"]
            self.rests[c] = clean[-1] if clean else None
        return self.rests[c]

    def _known(self) -> tuple[dict[int, CheckRun], dict[int, int]]:
        """The prefixes' verdicts known, and their generations."""
        verdicts: dict[int, CheckRun] = {}
        generations: dict[int, int] = {}
        for m in range(1, self.n + 1):
            found = self.checker.verdict(self._tree(m))
            if found is not None:
                verdicts[m] = found
                generations[m] = self.checker.generation(self._tree(m))
        for c, tip in self.rests.items():
            found = self.checker.verdict(tip.tree) if tip is not None else None
            if tip is not None and found is not None and found.passed and c - 1 not in verdicts:
                verdicts[c - 1] = found  # the prefix a passing rest was built on passes
                generations[c - 1] = self.checker.generation(tip.tree)
        verdicts.pop(0, None)
        return verdicts, generations

    def step(self, block: bool) -> tuple[int, dict[int, CheckRun]] | None:
        """(k, verdicts) once known: the first k clean links pass together and, when k < n,
        ``verdicts[k + 1]`` is the culprit's failing run. Without ``block``, None when that
        needs a verdict still to come (the jobs it needs are started, as slots allow).

        Rounds: the next checks are chosen only once every check running has ended or turned
        pointless (verdicts a few milliseconds apart would otherwise be chosen on half the
        news), and a run made pointless is stopped at once."""
        while True:
            verdicts, generations = self._known()
            fails = [m for m, v in verdicts.items() if not v.passed]
            hi = min(fails) if fails else None
            lo = max([0] + [m for m, v in verdicts.items() if v.passed and (hi is None or m < hi)])
            after = max(self.after, generations.get(lo, 0), generations.get(hi or 0, 0))
            if (hi is None and lo == self.n) or (hi is not None and hi - lo <= 1):
                self.decision = after
                self.checker.stats.rounds = max(self.checker.stats.rounds, after)
                self._decided(lo)
                return lo, verdicts
            self.checker.stop_except(self._useful(lo, hi))
            if not self.checker.jobs:
                self._plan(lo, hi, after, build=block)
            if not block:
                return None
            self.checker.wait()

    def _useful(self, lo: int, hi: int | None) -> set[str]:
        """The trees whose verdicts could still tell something: prefixes inside the range the
        culprit is in (and the tip while unknown), and the rests of the possible culprits."""
        top = self.n if hi is None else hi
        trees = [self._tree(m) for m in range(lo + 1, top + (hi is None))]
        trees += [tip.tree for c in range(lo + 1, top + 1) if (tip := self.rests.get(c))]
        return {tree for tree in trees if tree is not None}

    def _decided(self, k: int) -> None:
        """Only the rest after the culprit is worth checking now: start it (before the target
        moves to the prefix) and stop everything else."""
        tip = self._rest_tip(k + 1) if k < self.n else None
        wanted = tip is not None and self.checker.verdict(tip.tree) is None
        self.checker.stop_except({tip.tree} if wanted and tip and tip.tree else set())
        if wanted and tip is not None:
            self.checker.start(tip, self.decision)

    def _plan(self, lo: int, hi: int | None, after: int, build: bool) -> None:
        """Start a round of checks (none runs): the tip while its verdict is unknown, points
        spread over the range the culprit is in, and, once those name the culprit whichever
        it is, the possible culprits' rests in the slots left (with ``build``, rests are
        built for that; otherwise only the ones built already)."""
        checker = self.checker
        top = self.n if hi is None else hi
        points = _spread(lo, top, self.parallel - (1 if hi is None else 0))
        for m in ([self.n] if hi is None else []) + points:
            checker.start(self.clean[m - 1], after)
        if len(points) < top - lo - 1:  # the culprit's range stays wider than one round
            if build:
                self._build_ahead([lo, *points, top])
            return
        chosen = {self._tree(m) for m in range(lo + 1, top + 1)}
        spare = self.parallel - len(points) - (1 if hi is None else 0)
        for c in range(top, lo, -1):  # idle slots: the rests, the latest culprit first
            if spare <= 0:
                break
            if not build and c not in self.rests:
                continue
            tip = self._rest_tip(c)
            if tip is None or tip.tree in chosen or checker.verdict(tip.tree) is not None:
                continue
            if checker.start(tip, after, speculative=True):
                chosen.add(tip.tree)
                spare -= 1
        for c in range(top, lo, -1) if build else ():  # the others, while the checks run
            if checker.ended():
                break
            self._rest_tip(c)

    def _build_ahead(self, edges: list[int]) -> None:
        """While a round runs: build the rests the next round will check, whichever range
        between the points of this one the culprit turns out to be in (the culprit's rest when
        the range is a single link, the speculative rests when the range leaves slots idle)."""
        for a, b in itertools.pairwise(edges):
            inside = b - a - 1
            if inside > self.parallel:
                continue
            for c in list(range(b, a, -1))[: self.parallel - inside]:
                if self.checker.ended():
                    return
                self._rest_tip(c)


def _finals(
    chain: list[_Link],
    k: int,
    verdicts: dict[int, CheckRun],
    base: str,
    target: str,
    note: str | None,
    final: Callable[[int, LandStep], None],
) -> None:
    """Report a decided chain: the links before its culprit (the first k clean ones landed,
    ``note`` on the last of them), then the culprit with its failing run."""
    clean = [link for link in chain if link.step.status == "landed"]
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
    if culprit is not None:
        tip = clean[k - 1].step.commit if k else base
        ran = verdicts[k + 1]
        final(culprit.index, LandStep(culprit.branch, target, "check_failed", tip, check=ran))


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

    todo: list[_Entry] = [(i, branch, message) for i, (branch, message) in enumerate(branches)]
    chains = _Chains(top, strategy, stats)
    checker = _Checker(check or "", check_timeout, scratches, cache, stop, stats, report)
    try:
        _land(top, todo, target, chains, checker, parallel, check, stop, stats, final)
    finally:
        checker.close()
    for index, (branch, _message) in enumerate(branches):
        if index not in steps:
            final(index, LandStep(branch, target, "skipped", None, reason=CANCELLED))
    with contextlib.suppress(KeyError):
        return BatchResult([steps[i] for i in range(len(branches))], stats)
    raise GitError("a batch landing lost track of a branch")  # unreachable: every index is final


def _land(
    top: Path,
    todo: list[_Entry],
    target: str,
    chains: _Chains,
    checker: _Checker,
    parallel: int,
    check: str | None,
    stop: threading.Event | None,
    stats: BatchStats,
    final: Callable[[int, LandStep], None],
) -> None:
    """Pass after pass on the target's tip: decide chains in order (the first may wait for
    checks; the ones after it only while their verdicts are known already), move the target
    once to the last decided prefix, report, and go on with what is left."""
    moved_elsewhere = 0
    bisections: dict[int, tuple[list[_Link], _Bisection]] = {}  # by chain: what it started
    generation = 0  # of the verdicts that decided the last chain
    while todo:
        name, tip = chains.begin(target, todo)
        if stop is not None and stop.is_set():
            return
        decided: list[tuple[list[_Link], int, dict[int, CheckRun], str]] = []
        at, rest = tip, todo
        while rest:
            chain = chains.build(rest, at)
            clean = [link for link in chain if link.step.status == "landed"]
            verdicts: dict[int, CheckRun] = {}
            k = len(clean)
            if clean and check:
                known = bisections.get(id(chain))
                if known is None or known[0] is not chain:
                    bisection = _Bisection(chains, checker, parallel, chain, rest, at, generation)
                    known = chain, bisection
                    bisections[id(chain)] = known
                bisection = known[1]
                try:
                    found = bisection.step(block=not decided)
                    while found is None and checker.running_since(generation):
                        # Its check started beside the verdicts that decided the chain before
                        # (a speculative rest): it ends about now, and both land in one move.
                        checker.wait()
                        found = bisection.step(block=False)
                except _Stopped:
                    if not decided:
                        return
                    break  # what is decided lands; the next pass sees the stop
                if found is None:
                    break  # land what is decided first, then wait for this one
                k, verdicts = found
                generation = bisection.decision
            decided.append((chain, k, verdicts, at))
            if k:
                at = clean[k - 1].step.commit or at
            rest = [] if k == len(clean) else [e for e in rest if e[0] > clean[k].index]
        note: str | None = None
        if at != tip:
            count = sum(d[1] for d in decided)
            action = f"codex-swarm land {chains.strategy} {count} branch{'es' if count > 1 else ''}"
            started = time.monotonic()
            with repository_lock(top):
                if commit_of(top, f"refs/heads/{name}") != tip:
                    moved_elsewhere += 1  # another writer moved the target: build again
                    if moved_elsewhere >= ATTEMPTS:
                        raise GitError(
                            f"'{name}' kept moving while a batch was being landed ({ATTEMPTS} "
                            f"attempts); land again when the other writers are done"
                        )
                    checker.stop_except(set())
                    continue
                moved, note = move_target(top, name, tip, at, action)
            stats.move_seconds += time.monotonic() - started
            if not moved:
                checker.stop_except(set())
                chain = decided[0][0]
                for link in chain:
                    status = "skipped" if link.step.status == "landed" else link.step.status
                    reason = note if status == "skipped" else link.step.reason
                    final(link.index, replace(link.step, status=status, commit=tip, reason=reason))
                return
            stats.moves += 1
        last = max((i for i, d in enumerate(decided) if d[1]), default=-1)
        for i, (chain, k, verdicts, base) in enumerate(decided):
            _finals(chain, k, verdicts, base, name, note if i == last else None, final)
        todo = rest
