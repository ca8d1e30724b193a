"""Landing branches one at a time: build the merge on the target's tip, check it, then move.

Owns: :func:`land_branch` (one step of a merge queue: the candidate built in memory on the
target's current tip, an optional check command run in a scratch worktree of that candidate,
and the target moved to it with a compare-and-swap under the repository's merge lock, so a
crash leaves the target at its old tip or the new one, never between); the :class:`Scratch`
worktree checks run in; :func:`conflicted_merge` (a commit holding a conflicted merge with its
markers, for someone to resolve); :func:`merge_into_worktree` (the target's tip merged into a
task's branch where its worktree has it, markers committed for a conflict, so the task's agent
can take it from there; :func:`undo_merge_into` takes it back); and :func:`touched_paths`
(what a branch changed).

The user's checkout follows the target only when it has the target checked out, is at the old
tip and is clean; when a checkout holding the target has local changes the step is skipped
(moving a checked-out branch under uncommitted changes would make them lie), and when no
checkout holds the target only the branch moves.

Must not: know about tasks or the store (the engine decides which branches, in which order,
and records what landed), or leave a half-moved target or a changed checkout after a refusal.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .lock import repository_lock
from .merging import Candidate, build_candidate, fast_forward_checkout, merge_tree
from .refs import branch_tip
from .run import (
    REPO_ENV_VARS,
    GitError,
    commit_of,
    common_dir,
    identity_options,
    is_ancestor,
    run_git,
    same_path,
)
from .worktrees import holders_of, mkdir_private

CHECK_TIMEOUT = 900.0  # default seconds a check may run
OUTPUT_TAIL = 2000  # characters of a check's output kept
ATTEMPTS = 5  # rebuilds when another writer moved the target meanwhile


@dataclass(frozen=True)
class CheckRun:
    command: str
    exit_code: int | None  # None when it timed out (it was killed)
    seconds: float
    output_tail: str
    timed_out: bool = False
    prepare_seconds: float = 0.0  # putting the candidate into the scratch worktree
    stopped: bool = False  # killed because its verdict was no longer needed (or a cancel)
    cached: bool = False  # the verdict of an earlier run on the same tree and command

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.stopped


@dataclass
class LandStep:
    """One branch's landing: status landed, already, conflicted, check_failed or skipped."""

    branch: str
    target: str
    status: str
    commit: str | None = None  # the target's tip after this step
    conflicts: list[str] = field(default_factory=list)
    check: CheckRun | None = None
    reason: str | None = None
    checkout: str | None = None  # what happened to the checkout holding the target
    build_seconds: float = 0.0  # building the candidate and moving the target, check excluded


# Kills the check's process group when its stdin reaches end of file: when the process that
# landed (and holds the other end of the pipe) dies, however it dies, the check dies with it.
_WATCHDOG = 'read _ignored; kill -9 "-$1" 2>/dev/null'


def _watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "codex-swarm-check-watchdog", str(pgid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None


STOP_POLL = 0.01  # seconds between looks at a check's stop event (a stopped run frees its slot)


class _Exit:
    """Waits up to a given time for a process's exit code, returning the moment it exits: on a
    pidfd where the kernel has them (``Popen.wait`` with a timeout polls, up to 50 ms late)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.poll: select.poll | None = None
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(proc.pid)
            self.poll = select.poll()
            self.poll.register(self.fd, select.POLLIN)

    def wait(self, seconds: float) -> int | None:
        if self.poll is None:
            try:
                return self.proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                return None
        if not self.poll.poll(math.ceil(max(seconds, 0.0) * 1000)):
            return None
        return self.proc.wait()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = self.poll = None


_ADDING = threading.Lock()  # serialises ``git worktree add`` of scratch worktrees


class Scratch:
    """A detached worktree of the repository where checks run, reused from check to check.

    ``keep``: :meth:`close` leaves the worktree in place, and a later landing reuses it (a
    checkout of a candidate that differs in a few files is far cheaper than adding a worktree
    of the whole tree again)."""

    def __init__(self, top: Path, path: Path, *, keep: bool = False) -> None:
        self.top = Path(top)
        self.path = Path(path)
        self.keep = keep
        self._made = False

    def _reusable(self) -> bool:
        """Whether ``path`` is already a worktree of this repository (a kept scratch)."""
        if not (self.path / ".git").is_file():
            return False
        try:
            found = run_git(self.path, ["rev-parse", "--path-format=absolute", "--git-common-dir"])
            return same_path(Path(found.line()), common_dir(self.top))
        except GitError:
            return False

    def checkout(self, commit: str) -> None:
        if not self._made:
            # One at a time: git reads every worktree's admin files while it adds one, and a
            # half-made sibling (a parallel check's scratch) makes it fail.
            with _ADDING:
                if self.keep and self._reusable():
                    self._made = True
                else:
                    self._discard()
                    mkdir_private(self.path.parent)
                    run_git(
                        self.top,
                        ["worktree", "add", "--detach", "--quiet", "--", str(self.path), commit],
                    )
                    self._made = True
                    return
        # A split index: each checkout writes the few entries that changed beside a shared
        # index of the whole tree, not the whole index again (a third less time on a
        # 20,000-file tree). Only the scratch's own index is split.
        run_git(
            self.path,
            ["checkout", "--detach", "--force", "--quiet", commit],
            config=("-c", "core.splitIndex=true"),
        )
        run_git(self.path, ["clean", "-ffdq"])

    def run(
        self, command: str, commit: str, timeout: float, stop: threading.Event | None = None
    ) -> CheckRun:
        """Run ``command`` with ``sh -c`` at the top of a checkout of ``commit``; when ``stop``
        is set meanwhile, its process group is killed and the run says ``stopped``."""
        preparing = time.monotonic()
        self.checkout(commit)
        prepared = round(time.monotonic() - preparing, 3)
        env = {k: v for k, v in os.environ.items() if k not in REPO_ENV_VARS}
        env["CODEX_SWARM_CANDIDATE"] = commit
        started = time.monotonic()
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=self.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            watchdog = _watchdog(proc.pid)
            exited = _Exit(proc)
            timed_out = stopped = False
            code: int | None = None
            try:
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        break
                    if stop is not None and stop.is_set():
                        stopped = True
                        break
                    code = exited.wait(min(left, STOP_POLL) if stop is not None else left)
                    if code is not None:
                        break
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)  # whatever the check left running
                proc.wait()
                exited.close()
                if watchdog is not None:  # its job is done: stop it before it could act
                    watchdog.kill()
                    watchdog.wait()
                    if watchdog.stdin is not None:
                        watchdog.stdin.close()
            seconds = time.monotonic() - started
            size = out.seek(0, os.SEEK_END)
            out.seek(max(size - OUTPUT_TAIL * 4, 0))
            tail = out.read().decode("utf-8", "replace")[-OUTPUT_TAIL:]
        if timed_out:
            tail += f"\n[check killed after {timeout:g} s]"
        return CheckRun(command, code, round(seconds, 3), tail, timed_out, prepared, stopped)

    def _discard(self) -> None:
        if os.path.lexists(self.path):
            with contextlib.suppress(GitError):
                run_git(self.top, ["worktree", "remove", "--force", "--", str(self.path)])
            shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(GitError):
            run_git(self.top, ["worktree", "prune"])

    def close(self) -> None:
        if self.keep and self._made:
            self._made = False  # left for the next landing of this repository
            return
        if self._made or os.path.lexists(self.path):
            self._discard()
        self._made = False


def move_target(top: Path, target: str, old: str, new: str, action: str) -> tuple[bool, str]:
    """(moved, what happened to the checkout). Call with the repository lock held."""
    holders = holders_of(top, target)
    if holders:
        where = holders[0]
        why = fast_forward_checkout(where, target, old, new, action)
        if why:
            return False, why
        return True, f"the checkout at {where} was fast-forwarded"
    run_git(top, ["update-ref", "-m", action, f"refs/heads/{target}", new, old])
    return True, f"'{target}' is not checked out anywhere; only the branch moved"


def land_branch(
    repo: Path,
    branch: str,
    *,
    target: str,
    strategy: str,
    message: str,
    check: str | None = None,
    check_timeout: float = CHECK_TIMEOUT,
    scratch: Scratch | None = None,
) -> LandStep:
    """Land ``branch`` on ``target``: build, optionally check, then move the target atomically.

    The target's tip is read, the candidate built on it and, after the check passed, the target
    moved only if it still is at that tip (under the repository's merge lock); when another
    writer moved it meanwhile the step starts over on the new tip.
    """
    top = Path(repo)
    started = time.monotonic()
    checked = 0.0
    for _attempt in range(ATTEMPTS):
        found, ran = _attempt_landing(
            top, branch, target, strategy, message, check, check_timeout, scratch
        )
        checked += (ran.seconds + ran.prepare_seconds) if ran is not None else 0.0
        if found is not None:
            found.build_seconds = round(time.monotonic() - started - checked, 4)
            return found
    raise GitError(
        f"'{target}' kept moving while '{branch}' was being landed ({ATTEMPTS} attempts); "
        f"land again when the other writers are done"
    )


def _attempt_landing(
    top: Path,
    branch: str,
    target: str,
    strategy: str,
    message: str,
    check: str | None,
    check_timeout: float,
    scratch: Scratch | None,
) -> tuple[LandStep | None, CheckRun | None]:
    """One try; (None, check) when the target moved meanwhile and the step must start over."""
    branch, tip = branch_tip(top, branch, "branch")
    target, target_tip = branch_tip(top, target, "target")
    if branch == target:
        raise GitError(f"cannot land branch '{branch}' on itself")
    candidate: Candidate = build_candidate(
        top, branch, tip, target, target_tip, strategy=strategy, message=message
    )
    if candidate.already:
        return LandStep(branch, target, "already", target_tip, reason=candidate.reason), None
    if candidate.commit is None:
        stop = LandStep(
            branch,
            target,
            "conflicted",
            target_tip,
            conflicts=candidate.conflicts,
            reason=candidate.reason,
        )
        return stop, None
    ran: CheckRun | None = None
    if check:
        if scratch is None:
            raise GitError("a check needs a scratch worktree to run in")
        ran = scratch.run(check, candidate.commit, check_timeout)
        if not ran.passed:
            return LandStep(branch, target, "check_failed", target_tip, check=ran), ran
    action = f"codex-swarm land {strategy} {branch}"
    with repository_lock(top):
        if commit_of(top, f"refs/heads/{target}") != target_tip:
            return None, ran  # someone else moved the target: build again on its new tip
        moved, note = move_target(top, target, target_tip, candidate.commit, action)
    if not moved:
        return LandStep(branch, target, "skipped", target_tip, check=ran, reason=note), ran
    return LandStep(branch, target, "landed", candidate.commit, check=ran, checkout=note), ran


def conflicted_merge(repo: Path, branch: str, target: str, message: str) -> tuple[str, list[str]]:
    """(commit, conflicting paths): a commit whose parents are ``target``'s tip and ``branch``'s
    and whose files hold the merge's conflict markers where the two disagree."""
    top = Path(repo)
    branch, tip = branch_tip(top, branch, "branch")
    target, target_tip = branch_tip(top, target, "target")
    merged = merge_tree(top, target_tip, tip)
    args = ["commit-tree", merged.tree, "-p", target_tip, "-p", tip, "-F", "-"]
    commit = run_git(top, args, stdin=message.encode(), config=identity_options(top)).line()
    return commit, merged.conflicts


def merge_into_worktree(
    worktree: Path, branch: str, target: str, message: str
) -> tuple[str, list[str]]:
    """(the branch's new tip, conflicting paths): ``target``'s tip merged into ``branch`` as a
    merge commit (the branch first), conflict markers committed where the two disagree, and the
    worktree holding ``branch`` moved to it (a fast-forward: it refuses to touch local
    changes). A branch that already holds the target is left as it is."""
    where = Path(worktree)
    branch, tip = branch_tip(where, branch, "branch")
    target, target_tip = branch_tip(where, target, "target")
    if is_ancestor(where, target_tip, tip):
        return tip, []
    merged = merge_tree(where, tip, target_tip)
    args = ["commit-tree", merged.tree, "-p", tip, "-p", target_tip, "-F", "-"]
    commit = run_git(where, args, stdin=message.encode(), config=identity_options(where)).line()
    run_git(where, ["merge", "--ff-only", "-q", "--end-of-options", commit])
    return commit, merged.conflicts


def undo_merge_into(worktree: Path, merged: str) -> None:
    """Take back :func:`merge_into_worktree`'s merge ``merged`` (its first parent becomes the
    branch's tip again, in the worktree too), when what it was for could not go on."""
    where = Path(worktree)
    if commit_of(where, "HEAD") != merged:
        return
    run_git(where, ["reset", "-q", "--keep", f"{merged}^1"])


def markers_left(repo: Path, commit: str, paths: list[str]) -> list[str]:
    """Which of ``paths`` still hold a conflict marker line at ``commit``."""
    if not paths:
        return []
    specs = [f":(top,literal){p}" for p in paths]
    result = run_git(
        Path(repo),
        ["grep", "-l", "-I", "-E", "-e", "^(<<<<<<<|>>>>>>>) ", commit, "--", *specs],
        ok=(0, 1),
    )
    prefix = f"{commit}:"
    return [line.removeprefix(prefix) for line in result.text().splitlines() if line]


def touched_paths(repo: Path, base: str, head: str) -> list[str]:
    """Paths changed between two commits."""
    out = run_git(Path(repo), ["diff", "--name-only", "-z", "--no-renames", base, head]).text()
    return [path for path in out.split("\0") if path]
