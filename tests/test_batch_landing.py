"""Batch landing at the git level (no Codex): the same outcome as one-by-one landing, for fewer
checks; bisection, speculation, the verdict cache and stopping, on plain repositories."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from codex_mcp_swarm.git.batch import BatchProgress, BatchResult, BatchStats, land_batch
from codex_mcp_swarm.git.checkcache import CheckCache
from codex_mcp_swarm.git.landing import LandStep, Scratch, land_branch

pytestmark = pytest.mark.e2e  # real git processes

# Fails when any break-* file exists, or when a pair-a-* and a pair-b-* file exist together
# (a breakage only two branches make together). Failures persist as branches are added.
CHECK = (
    "if ls break-* >/dev/null 2>&1; then echo 'broken by a break file'; exit 3; fi; "
    "if ls pair-a-* >/dev/null 2>&1 && ls pair-b-* >/dev/null 2>&1; then "
    "echo 'the pair broke it'; exit 4; fi; echo ok"
)
# clean: a file of its own; break: and a break file; pair-a / pair-b: a pair file; conflict: a
# change to shared.txt (conflicts with every other conflict kind); conflict-break: both (the
# conflicts it causes go away when it fails the check); same: an earlier branch's very commit;
# stacked: branched from the branch before it (carrying its work, breakage or conflict).
KINDS = ("clean", "break", "pair-a", "pair-b", "conflict", "conflict-break", "same", "stacked")
FAILING = ("break", "pair-b", "conflict-break")


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


@dataclass(frozen=True)
class Plan:
    kinds: list[str]
    strategy: str


def make_repo(path: Path, plan: Plan) -> list[str]:
    """A repository with ``main`` and one branch per kind, all from main's first commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "t")
    git(path, "config", "user.email", "t@example.invalid")
    (path / "shared.txt").write_text("line one\nvalue: base\nline three\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    names: list[str] = []
    for i, kind in enumerate(plan.kinds):
        name = f"b{i}"
        if kind == "same" and names:
            git(path, "branch", name, names[i // 2])  # an earlier branch's exact commit
            names.append(name)
            continue
        start = names[-1] if kind == "stacked" and names else "main"
        git(path, "checkout", "-q", "-b", name, start)
        (path / f"f-{i}.txt").write_text(f"work of branch {i}\n")
        if kind in ("break", "pair-a", "pair-b", "conflict-break"):
            marker = kind if kind.startswith("pair") else "break"
            (path / f"{marker}-{i}").write_text("x\n")
        if kind in ("conflict", "conflict-break"):
            (path / "shared.txt").write_text(f"line one\nvalue: {i}\nline three\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"branch {i}")
        git(path, "checkout", "-q", "main")
        names.append(name)
    return names


def one_by_one(repo: Path, names: list[str], strategy: str) -> list[LandStep]:
    scratch = Scratch(repo, repo.parent / f"{repo.name}-scratch")
    try:
        return [
            land_branch(
                repo,
                name,
                target="main",
                strategy=strategy,
                message=f"land {name}",
                check=CHECK,
                scratch=scratch,
            )
            for name in names
        ]
    finally:
        scratch.close()


def outcome(steps: list[LandStep]) -> list[tuple[str, str, list[str]]]:
    return [(s.branch, s.status, sorted(s.conflicts)) for s in steps]


def compare(base: Path, kinds: list[str], strategy: str, parallel: int) -> BatchStats:
    """Land the same branches one by one and in a batch, in two copies of one repository: the
    same outcome and tree; each failing branch carries its own check's output; every landed
    branch a passing check; the target only ever moved to a tree whose check passed."""
    plan = Plan(kinds, strategy)
    names = make_repo(base / "single", plan)
    shutil.copytree(base / "single", base / "batched", symlinks=True)
    single = one_by_one(base / "single", names, strategy)
    batched_repo = base / "batched"
    moves_before = len(git(batched_repo, "reflog", "show", "--format=%H", "main").split())
    result = land(batched_repo, names, parallel, strategy=strategy)
    batched = result.steps
    assert outcome(batched) == outcome(single), kinds
    assert git(batched_repo, "rev-parse", "main^{tree}") == git(
        base / "single", "rev-parse", "main^{tree}"
    ), kinds
    for step in batched:
        if step.status == "check_failed":  # a failing branch carries its own check's output
            assert step.check is not None and step.check.exit_code in (3, 4), kinds
        if step.status == "landed":  # and a landed one the passing check that let it in
            assert step.check is not None and step.check.passed, kinds
    reflog = git(batched_repo, "reflog", "show", "--format=%H", "main").split()
    verdicts = CheckCache(batched_repo)
    for commit in reflog[: len(reflog) - moves_before]:
        tree = git(batched_repo, "rev-parse", f"{commit}^{{tree}}")
        checked = verdicts.get(tree, CHECK)
        assert checked is not None and checked.passed, (kinds, commit)
    assert result.stats.moves == len(reflog) - moves_before
    return result.stats


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kinds=st.lists(
        st.sampled_from(KINDS),
        min_size=1,
        max_size=9,
    ),
    strategy=st.sampled_from(["merge", "squash", "rebase"]),
    parallel=st.integers(min_value=1, max_value=3),
)
def test_batch_equals_one_by_one(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str], strategy: str, parallel: int
) -> None:
    compare(tmp_path_factory.mktemp("prop"), kinds, strategy, parallel)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kinds=st.builds(
        lambda kinds, failing, at: [*kinds[:at], failing, *kinds[at:]],
        st.lists(st.sampled_from(KINDS), min_size=4, max_size=11),
        st.sampled_from(FAILING),
        st.integers(min_value=0, max_value=11),
    ),
    strategy=st.sampled_from(["merge", "squash", "rebase"]),
    parallel=st.integers(min_value=2, max_value=3),
)
def test_speculative_batches_equal_one_by_one(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str], strategy: str, parallel: int
) -> None:
    """With idle slots and a failing branch, the rests after possible culprits are checked
    speculatively (passing, failing, conflicting anew or no more): still one-by-one's outcome."""
    stats = compare(tmp_path_factory.mktemp("spec"), kinds, strategy, parallel)
    event(f"speculative runs: {min(stats.speculative, 2)}")


SPECULATION_CASES = [
    # the 8th of 12 breaks: its rest passes beside the last bisection step
    (["clean"] * 7 + ["break"] + ["clean"] * 4, 2),
    # the culprit's conflict with a later branch goes away in the rest, which lands it
    (["clean", "clean", "conflict-break", "clean", "conflict", "clean"], 3),
    # the culprit's twin is already in the chain; in the rest it is merged, and fails too
    (["clean", "clean", "break", "clean", "same", "clean", "clean"], 3),
    # a branch stacked on the culprit carries its breakage into the rest
    (["clean", "clean", "clean", "break", "stacked", "clean", "clean"], 3),
    # only the pair breaks: the rest after pair-b still holds pair-a's file and passes
    (["clean", "pair-a", "clean", "clean", "pair-b", "clean", "pair-b"], 3),
]


@pytest.mark.parametrize(("kinds", "parallel"), SPECULATION_CASES)
def test_speculation_cases_equal_one_by_one(
    tmp_path: Path, kinds: list[str], parallel: int
) -> None:
    stats = compare(tmp_path, kinds, "merge", parallel)
    assert stats.speculative >= 1, "a rest should have been checked speculatively"


def landed_count(steps: list[LandStep]) -> int:
    return sum(step.status == "landed" for step in steps)


def run_batch(
    repo: Path, names: list[str], parallel: int, check: str = CHECK, strategy: str = "merge"
) -> tuple[list[LandStep], int, int]:
    """(steps, rounds of checks, check runs) of landing ``names`` in a batch."""
    result = land(repo, names, parallel, check, strategy)
    return result.steps, result.stats.rounds, result.stats.checks


def land(
    repo: Path, names: list[str], parallel: int, check: str = CHECK, strategy: str = "merge"
) -> BatchResult:
    scratches = [Scratch(repo, repo.parent / f"{repo.name}-s{i}") for i in range(parallel)]
    try:
        return land_batch(
            repo,
            [(name, f"land {name}") for name in names],
            target="main",
            strategy=strategy,
            check=check,
            scratches=scratches,
            cache=CheckCache(repo),
        )
    finally:
        for scratch in scratches:
            scratch.close()


def test_twelve_clean_branches_take_one_check(tmp_path: Path) -> None:
    names = make_repo(tmp_path / "r", Plan(["clean"] * 12, "merge"))
    steps, rounds, checks = run_batch(tmp_path / "r", names, 1)
    assert landed_count(steps) == 12 and rounds == 1 and checks == 1


def test_one_breaking_branch_is_found_by_bisection(tmp_path: Path) -> None:
    kinds = ["clean"] * 12
    kinds[7] = "break"
    names = make_repo(tmp_path / "r", Plan(kinds, "merge"))
    steps, rounds, _checks = run_batch(tmp_path / "r", names, 1)
    assert [s.status for s in steps].count("check_failed") == 1
    assert steps[7].status == "check_failed" and landed_count(steps) == 11
    assert rounds <= 6  # the tip, four bisection steps at most, the rest once


def test_speculation_with_two_slots_needs_fewer_rounds(tmp_path: Path) -> None:
    kinds = ["clean"] * 12
    kinds[7] = "break"
    names = make_repo(tmp_path / "r", Plan(kinds, "merge"))
    steps, rounds, _checks = run_batch(tmp_path / "r", names, 2)
    assert steps[7].status == "check_failed" and landed_count(steps) == 11
    # the tip and the 6th; the 8th and the 10th; the 7th beside the rest after the 8th
    assert rounds == 3


def test_a_conflicting_branch_is_set_aside_before_any_check(tmp_path: Path) -> None:
    kinds = ["clean"] * 12
    kinds[2] = kinds[9] = "conflict"
    names = make_repo(tmp_path / "r", Plan(kinds, "merge"))
    steps, rounds, _checks = run_batch(tmp_path / "r", names, 1)
    assert steps[9].status == "conflicted" and steps[9].conflicts == ["shared.txt"]
    assert landed_count(steps) == 11 and rounds == 1


def test_verdicts_are_cached_per_tree_and_command(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    names = make_repo(repo, Plan(["break"], "merge"))
    first, _rounds, checks = run_batch(repo, names, 1)
    assert first[0].status == "check_failed" and checks == 1
    again, rounds, checks = run_batch(repo, names, 1)
    assert again[0].status == "check_failed" and checks == 0 and rounds == 0
    assert again[0].check is not None and again[0].check.cached
    assert "break file" in again[0].check.output_tail
    _steps, _rounds, checks = run_batch(repo, names, 1, check=CHECK + " ")
    assert checks == 1  # another command: checked anew


def test_stopping_kills_the_checks_and_leaves_the_target(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    names = make_repo(repo, Plan(["clean"] * 4, "merge"))
    before = git(repo, "rev-parse", "main")
    stop = threading.Event()
    started = threading.Event()
    seen: list[BatchProgress] = []

    def progress(p: BatchProgress) -> None:
        seen.append(p)
        if p.checking:
            started.set()

    scratches = [Scratch(repo, tmp_path / f"s{i}") for i in range(2)]
    result: list[list[LandStep]] = []

    def landing() -> None:
        out = land_batch(
            repo,
            [(n, n) for n in names],
            target="main",
            strategy="merge",
            check="sleep 61.5",
            scratches=scratches,
            on_progress=progress,
            stop=stop,
        )
        result.append(out.steps)

    worker = threading.Thread(target=landing)
    worker.start()
    assert started.wait(30)
    sleepers: list[psutil.Process] = []
    deadline = time.monotonic() + 30
    while not sleepers and time.monotonic() < deadline:  # the check's shell is starting
        sleepers = [
            p
            for p in psutil.process_iter(["cmdline"])
            if "sleep 61.5" in " ".join(p.info["cmdline"] or [])
        ]
        time.sleep(0.05)
    if not sleepers:
        stop.set()
        worker.join(30)
    assert sleepers, "the checks should be running"
    stop.set()
    began = time.monotonic()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - began < 10
    for scratch in scratches:
        scratch.close()
    assert git(repo, "rev-parse", "main") == before
    assert [s.status for s in result[0]] == ["skipped"] * 4
    gone = psutil.wait_procs(sleepers, timeout=5)[1]
    assert not gone, "a stopped check was left running"
    assert seen[0].total == 4
