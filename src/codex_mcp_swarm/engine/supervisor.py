"""The runner's supervision of one task: its Codex process(es) from start to recorded end.

A runner process (see :mod:`.runner` for how it is started) runs :func:`run_task`, which runs
the task's stored :class:`~.plan.LaunchPlan` with a :class:`Runner`. It:

* becomes a child subreaper on Linux, so commands that Codex starts in their own sessions
  (``danger-full-access``) re-parent to it and can be found and stopped; on macOS it remembers
  every descendant it has seen instead;
* writes the task's output schema (if any) privately into the task dir for ``--output-schema``;
* starts Codex with the prompt on stdin, appends the raw JSONL to ``events.jsonl`` (files:
  :mod:`.taskfiles`, framing: :mod:`.lines`), folds it into progress and writes that to the
  store at most every :data:`FLUSH_INTERVAL` seconds;
* on SIGTERM (cancel) or a timeout sends Codex SIGINT (its graceful stop), waits a grace period,
  then kills Codex and every descendant; a model Codex keeps reconnecting to counts as silent for
  the idle timeout (Codex 0.171 never gives up on it by itself);
* on a steer (a message waiting in the store's ``steers`` table; SIGUSR1 says "look now")
  interrupts the turn the same way and continues the thread at once with ``codex exec resume``
  and the waiting message(s), under the same lock, limits and task record;
* runs a failed turn again when :mod:`.retry` judges the failure transient;
* when Codex has exited, stops whatever it left behind and records phase, exit code or signal,
  error, final message and usage in one transaction. Exit codes are read, never guessed; the
  error of a Codex that exited non-zero on its own is its ``Error:`` sentence when it printed one.

One thread does it all (cheap to start, nothing to lock): it writes the prompt to Codex's stdin
as the pipe takes it, reads Codex's stdout and stderr and, between reads, every :data:`TICK`,
flushes progress and checks limits, the cancel flag and steers. The one other thread is the
hard-kill timer armed when Codex is asked to stop (a stuck store call must not delay the kill);
the attempt that armed it cancels and joins it once that Codex is gone, so nothing of an
attempt outlives it.

Owns: the life of one task's Codex process tree in this process, and recording its end.
Must not: talk MCP, decide anything about other tasks, or parse the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from ..codex.command import SpecError, continue_argv, exec_prefix, with_output_schema
from ..codex.events import cap, parse_line
from ..codex.progress import TaskProgress, fold, gave_up_text
from ..codex.stderr import codex_error
from . import procs
from .lines import Lines
from .phases import Phase
from .retry import is_transient, retry_delay
from .store import Store, TaskRow
from .taskfiles import (
    OUTPUT_SCHEMA_FILE,
    EventLog,
    StderrLog,
    stderr_since,
    stderr_tail,
    write_private,
)

FLUSH_INTERVAL = 0.25  # seconds between progress writes while events stream in
TICK = 0.25  # seconds between progress flushes and limit checks
SLOW_TICKS = 4  # every this many ticks: the store's cancel flag, descendants (macOS)
STDIO_DRAIN = 2.0  # seconds to wait for stdout EOF after Codex exited before killing holders
FINISH_RETRY_FOR = 120.0  # seconds to keep trying to record the end (a full disk may clear)


class Runner:
    """The life of one task's Codex process(es). ``run()`` returns when the end is recorded."""

    def __init__(self, store: Store, row: TaskRow) -> None:
        self.store = store
        self.row = row
        self.task_id = row.id
        plan = row.plan
        self.plan = plan
        self.argv: list[str] = list(plan.argv)
        schema = row.task.output_schema
        if schema is not None:  # Codex reads it from a file: written here, where Codex runs
            path = store.task_path(row.id) / OUTPUT_SCHEMA_FILE
            write_private(path, json.dumps(schema).encode())
            self.argv = with_output_schema(self.argv, str(path))
        self.cwd: str = plan.cwd
        # This process is the task's own: its environment becomes Codex's (no copy per start).
        os.environ.update(plan.env)
        self.grace: float = plan.grace
        self.timeout: float | None = plan.timeout
        self.idle_timeout: float | None = plan.idle_timeout
        self.retries: int = plan.retries
        self.backoff: float = plan.retry_backoff
        self.prompt: str = plan.prompt
        # Codex gets SIGINT if this runner dies. Bound now, before any thread starts: the child
        # between fork and exec only makes the call (or ``setpriv`` does it, see procs).
        self.launch_prefix, self.preexec = procs.parent_death_launch(signal.SIGINT)
        self.progress = TaskProgress()
        self.dirty = False
        self.last_flush = 0.0
        self.last_event = time.monotonic()
        self.unreachable_since: float | None = None  # when Codex began reconnecting to the model
        self.stderr_start = 0  # where this attempt's Codex began writing in stderr.log
        self.started = time.monotonic()
        self.stop_reason: str | None = None  # why we are stopping Codex (cancel or a limit)
        self.cancelled = False
        self.stopping = threading.Event()
        self.next_tick = 0.0  # monotonic time of the next round of periodic duties
        self.ticks = 0
        self.eof = False  # the current Codex's stdout reached its end
        self.exited_at: float | None = None  # when a tick first saw Codex gone, stdout open
        self.seen: dict[int, psutil.Process] = {}  # every descendant seen (macOS fallback)
        self.subreaper = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.kill_timer: threading.Timer | None = None  # the hard kill armed for ``proc``
        # Steering: the argv a continued thread runs with (None: this task cannot be steered).
        self.prefix: list[str] | None = None
        if row.task.review is None:
            with contextlib.suppress(SpecError):
                self.prefix = exec_prefix(self.argv)
        self.steer_signal = False  # SIGUSR1 came: a steer may wait
        self.interrupting = False  # a steer's SIGINT is out; later steers wait for its end

    # ---- stopping ----------------------------------------------------------------------------

    def request_stop(self, reason: str, *, cancelled: bool) -> None:
        """Ask Codex to stop (SIGINT) and arm the hard kill after the grace period."""
        if self.stopping.is_set():
            return
        self.stop_reason = reason
        self.cancelled = cancelled
        self.stopping.set()
        proc = self.proc
        if proc is None:
            return  # between attempts: the loop sees ``stopping`` and ends
        self._interrupt(proc)

    def _interrupt(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGINT (Codex's graceful stop) and the hard kill armed for after the grace period
        (only once per attempt: the earliest deadline stands). The attempt disarms it."""
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGINT)
        if self.kill_timer is None:
            self.kill_timer = threading.Timer(self.grace, self._hard_kill, args=(proc,))
            self.kill_timer.daemon = True  # never holds the process up; disarmed before then
            self.kill_timer.name = f"hard-kill-{proc.pid}"
            self.kill_timer.start()

    def _disarm(self) -> None:
        """Cancel the hard-kill timer and wait until its thread is gone."""
        timer, self.kill_timer = self.kill_timer, None
        if timer is not None:
            timer.cancel()
            timer.join()

    def _hard_kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        procs.signal_all(self._tree(), signal.SIGKILL)

    def _on_sigterm(self, _signum: int, _frame: object) -> None:
        self.request_stop("cancelled by request", cancelled=True)

    # ---- steering ----------------------------------------------------------------------------

    def _on_sigusr1(self, _signum: int, _frame: object) -> None:
        self.steer_signal = True  # the next tick looks at the store (no store work in a handler)

    def _check_steer(self) -> None:
        """Interrupt the running turn (SIGINT, Codex's graceful stop) if a steer waits."""
        self.steer_signal = False
        proc = self.proc
        if self.interrupting or self.stopping.is_set() or self.prefix is None:
            return
        if proc is None or proc.poll() is not None or not self.progress.thread_id:
            return  # between runs the loop takes the steer; before thread.started it waits
        if not self.store.has_pending_steer(self.task_id):
            return
        self.interrupting = True
        self._interrupt(proc)

    def _continue_steered(self) -> bool:
        """After a run ended: if steers wait, set up the run that continues the thread with
        them (True). The interrupted turn stays in the thread; its open items are closed."""
        thread_id = self.progress.thread_id
        if self.stopping.is_set() or self.prefix is None or not thread_id:
            return False
        try:  # a read first: most runs end with no steer waiting (no write lock taken then)
            messages = (
                self.store.take_steers(self.task_id)
                if self.store.has_pending_steer(self.task_id)
                else []
            )
        except (sqlite3.Error, OSError) as exc:
            print(f"runner: steers not read: {exc}", file=sys.stderr)
            return False
        if not messages:
            return False
        self.argv = continue_argv(self.prefix, thread_id)
        self.prompt = "\n\n".join(messages)
        last = self.progress.last_tool
        if last is not None and last.status == "in_progress":
            last.status = "interrupted"
        self.progress._open_items.clear()
        self.progress.failure = None  # an interrupted turn is not a failed task
        self.dirty = True
        self.interrupting = False
        self.last_event = time.monotonic()
        return True

    def _can_continue(self) -> bool:
        return (
            not self.stopping.is_set() and self.prefix is not None and bool(self.progress.thread_id)
        )

    def _sweep(self, grace: float) -> list[psutil.Process]:
        """Stop every descendant, walking again for any started meanwhile; the survivors."""
        survivors: list[psutil.Process] = []
        for _ in range(3):
            tree = self._tree()
            if not tree:
                break
            survivors = procs.kill_all(tree, grace)
        return survivors

    def _tree(self) -> list[psutil.Process]:
        """Every live descendant: the current tree plus (for macOS) those seen before."""
        live = {p.pid: p for p in procs.descendants()}
        for pid, proc in list(self.seen.items()):
            if pid not in live and proc.is_running():
                live[pid] = proc
        return list(live.values())

    # ---- progress ----------------------------------------------------------------------------

    def _flush(self) -> None:
        if not self.dirty:
            return
        data = self.progress.to_dict()
        self.dirty = False
        self.last_flush = time.monotonic()
        try:
            self.store.set_progress(self.task_id, data)
        except (sqlite3.Error, OSError) as exc:  # best effort: the next flush tries again
            print(f"runner: progress not saved: {exc}", file=sys.stderr)
            self.dirty = True

    def _tool_running(self) -> bool:
        last = self.progress.last_tool
        return last is not None and last.status == "in_progress"

    def _tick(self) -> None:
        """The periodic duties, when due (every TICK seconds; the reading loop, the waits
        between attempts and the wait for Codex's exit call it): flush progress, watch the
        limits, the cancel flag and steers. One thread does everything: no ticker thread."""
        now = time.monotonic()
        if now < self.next_tick:
            return
        self.next_tick = now + TICK
        self.ticks += 1
        slow = self.ticks % SLOW_TICKS == 0
        try:
            if self.dirty and now - self.last_flush >= FLUSH_INTERVAL:
                self._flush()
            if slow and not self.subreaper:
                # Without a subreaper (macOS) orphans escape the tree: remember them now.
                for proc in procs.descendants():
                    self.seen.setdefault(proc.pid, proc)
            now = time.monotonic()
            if self.timeout and now - self.started > self.timeout:
                self.request_stop(
                    f"timed out: ran longer than the task's timeout of {self.timeout:g} s",
                    cancelled=False,
                )
            elif (reason := self.progress.reconnecting) is not None:
                # Reconnect events are no sign of life: the model is as silent as without them.
                # Codex 0.171 retries a model it cannot reach for ever; the idle limit ends it.
                since = self.unreachable_since = self.unreachable_since or now
                if self.idle_timeout and now - since > self.idle_timeout:
                    tries = self.progress.reconnect_attempts
                    self.request_stop(
                        f"{gave_up_text(reason, tries)}; stopped after {self.idle_timeout:g} s "
                        "without an answer (the task's idle timeout)",
                        cancelled=False,
                    )
            elif self._tool_running():
                self.last_event = now  # a long command is work, not a silent model
            elif self.idle_timeout and now - self.last_event > self.idle_timeout:
                self.request_stop(
                    f"idle timeout: no event from Codex for {self.idle_timeout:g} s while "
                    "no command was running (the model may have stopped answering)",
                    cancelled=False,
                )
            if self.progress.reconnecting is None:
                self.unreachable_since = None
            if (codex := self.proc) is not None:
                self._watch_exit(codex)
            # SIGTERM is the fast path; the flag catches a cancel sent before we listened.
            if slow and self.store.cancel_requested(self.task_id):
                self.request_stop("cancelled by request", cancelled=True)
            if slow or self.steer_signal:  # SIGUSR1 is the fast path here too
                self._check_steer()
        except Exception as exc:  # keep ticking whatever one tick hit
            print(f"runner tick: {exc!r}", file=sys.stderr)

    # ---- one Codex process -------------------------------------------------------------------

    def _pause(self, seconds: float) -> bool:
        """Wait between attempts with the periodic duties going on; True if a stop came."""
        end = time.monotonic() + seconds
        while not self.stopping.is_set() and (left := end - time.monotonic()) > 0:
            self.stopping.wait(min(left, max(0.0, self.next_tick - time.monotonic())))
            self._tick()
        return self.stopping.is_set()

    def _wait_exit(self, proc: subprocess.Popen[bytes]) -> int:
        """Codex's return code, the periodic duties going on meanwhile (limits still apply)."""
        while True:
            try:
                return proc.wait(timeout=max(0.0, self.next_tick - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._tick()

    @staticmethod
    def _feed_prompt(proc: subprocess.Popen[bytes], data: memoryview) -> memoryview:
        """Write to Codex's stdin (non-blocking) what the pipe takes now; what is left. Once
        all is written, or Codex stopped reading, stdin is closed (Codex reads to its end)."""
        assert proc.stdin is not None
        try:
            while data:
                data = data[os.write(proc.stdin.fileno(), data) :]
        except BlockingIOError:
            return data
        except OSError:
            data = data[:0]
        with contextlib.suppress(OSError):
            proc.stdin.close()
        return data

    def _watch_exit(self, proc: subprocess.Popen[bytes]) -> None:
        """(From a tick.) If something Codex started still holds our stdout STDIO_DRAIN
        seconds after Codex exited, stop it, so the event reader sees EOF."""
        if self.eof or proc.poll() is None:
            self.exited_at = None
            return
        now = time.monotonic()
        if self.exited_at is None:
            self.exited_at = now
        elif now - self.exited_at >= STDIO_DRAIN:
            self.exited_at = None
            self._sweep(grace=0.5)

    def _pump(
        self, proc: subprocess.Popen[bytes], events: EventLog, stderr_path: Path, prompt: bytes
    ) -> None:
        """Write the prompt to Codex's stdin as the pipe takes it, and read Codex's events
        (stdout) and its stderr, in this one thread until stdout and stderr end. Once stdout
        has ended, stderr gets STDIO_DRAIN seconds more (a leftover may hold it)."""
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out, err, into = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
        stderr_log = StderrLog(stderr_path)
        lines = Lines()
        poller = select.poll()
        for fd in (out, err):
            poller.register(fd, select.POLLIN)
        reading = {out, err}
        os.set_blocking(into, False)  # our end of the pipe only: Codex's end stays as it was
        pending = self._feed_prompt(proc, memoryview(prompt))  # an empty pipe takes most
        if pending:
            poller.register(into, select.POLLOUT)
        give_up: float | None = None
        try:
            while reading:
                self._tick()
                now = time.monotonic()
                timeout = max(0.0, self.next_tick - now)
                if out not in reading:
                    give_up = give_up or now + STDIO_DRAIN
                    if give_up <= now:
                        break
                    timeout = min(timeout, give_up - now)
                ready = poller.poll(timeout * 1000)
                for fd, _mask in ready:
                    if fd == into:
                        pending = self._feed_prompt(proc, pending)
                        if not pending:
                            poller.unregister(into)
                        continue
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        poller.unregister(fd)
                        reading.discard(fd)
                        if fd == out:
                            for piece, size in lines.end():
                                self._on_output(piece, size, events)
                            self.eof = True
                    elif fd == err:
                        stderr_log.write(chunk)
                    else:
                        self.last_event = time.monotonic()
                        for piece, size in lines.feed(chunk):
                            self._on_output(piece, size, events)
        finally:
            if pending:  # Codex ended without reading all of its prompt
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            stderr_log.close()
            events.flush()

    def _on_output(self, piece: bytes, size: int, events: EventLog) -> None:
        """One piece of stdout (see :class:`Lines`): stored raw, folded into the progress."""
        events.write(piece)
        if size < 0:
            return
        if size > 0:
            self.progress.warnings.append(f"an event of {size} bytes was stored, not parsed")
            self.dirty = True
            return
        event = parse_line(piece)
        if event is None:
            return
        fold(self.progress, event)
        self.dirty = True
        if events.failure and events.failure not in self.progress.warnings:
            self.progress.warnings.append(events.failure)
        if event.type in ("thread.started", "turn.completed", "turn.failed"):
            events.flush()
            self._flush()

    def _attempt(self, events: EventLog, stderr_path: Path) -> int | str:
        """Run Codex once; return its return code, or a sentence if it could not start."""
        if self.launch_prefix and not shutil.which(self.argv[0]):
            return f"could not start Codex ({self.argv[0]}): No such file or directory"
        try:
            proc = subprocess.Popen(
                [*self.launch_prefix, *self.argv],
                cwd=self.cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=self.preexec,
            )
        except OSError as exc:
            return f"could not start Codex ({self.argv[0]}): {exc.strerror or exc}"
        self.proc = proc
        with contextlib.suppress(OSError):
            self.stderr_start = stderr_path.stat().st_size
        try:  # from here on, whatever happens, Codex does not outlive this attempt
            try:
                ctime = procs.create_time(proc.pid) or time.time()
                self.store.set_running(self.task_id, proc.pid, ctime)
            except (sqlite3.Error, OSError) as exc:  # the run goes on; the end is retried
                print(f"runner: 'running' not recorded: {exc}", file=sys.stderr)
            if self.stopping.is_set():  # a cancel that came while we were starting
                self.stopping.clear()
                self.request_stop(
                    self.stop_reason or "cancelled by request", cancelled=self.cancelled
                )
            self.eof = False
            self._pump(proc, events, stderr_path, self.prompt.encode("utf-8"))
            return self._wait_exit(proc)
        finally:
            if proc.poll() is None:
                self._hard_kill(proc)
                proc.wait()
            self.proc = None  # first: a stop from now on arms nothing for this Codex
            self._disarm()

    # ---- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        self.subreaper = procs.become_subreaper()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, self._on_sigusr1)
        stderr_path = self.store.stderr_path(self.task_id)
        attempt = 0
        task_path = self.store.task_path(self.task_id)
        events = EventLog(self.store.events_path(self.task_id), task_path / ".reserve")
        try:
            while True:
                attempt += 1
                outcome = self._attempt(events, stderr_path)
                # Whatever Codex left running (a server an agent started, a command that
                # outlived the turn) is part of this task: stop it before going on.
                leftovers = self._sweep(grace=1.0)
                if self._continue_steered():  # the same thread goes on with the steer
                    attempt = 0
                    continue
                failure = self.progress.failure
                if (
                    isinstance(outcome, int)
                    and outcome != 0
                    and attempt <= self.retries
                    and not self.stopping.is_set()
                    and failure
                    and is_transient(failure)
                ):
                    delay = retry_delay(attempt, self.backoff)
                    warnings = [
                        *self.progress.warnings,
                        f"attempt {attempt} failed ({cap(failure, 200)}); retrying in {delay:g} s",
                    ]
                    self.progress = TaskProgress(warnings=warnings[-10:])
                    self.dirty = True
                    if not self._pause(delay):
                        continue
                # Recorded unless a steer came in meanwhile: then the thread goes on with it.
                if self._record(outcome, stderr_path, leftovers) or not self._continue_steered():
                    break
                attempt = 0
        except BaseException:
            self._sweep(grace=1.0)  # an internal error must not leave the task's tree running
            raise
        finally:
            events.close()

    def _commit_worktree(self, phase: Phase) -> None:
        if self.row.extra.worktree is not None:  # git code is only loaded for worktree tasks
            from . import branches

            branches.finish_worktree(self.store, self.row, phase)

    def _finish(self, **end: Any) -> bool:
        """Record the end; on a full or busy disk keep trying for a while before giving up.
        False when a steer waits (and the thread can go on with it): nothing was recorded."""
        deadline = time.monotonic() + FINISH_RETRY_FOR
        while True:
            try:
                recorded = self.store.finish(
                    self.task_id, unless_steered=self._can_continue(), **end
                )
                return recorded or not self._can_continue()
            except (sqlite3.Error, OSError) as exc:
                if time.monotonic() > deadline:
                    raise
                print(f"runner: the end is not recorded yet ({exc}); retrying", file=sys.stderr)
                time.sleep(1.0)

    def _record(
        self,
        outcome: int | str,
        stderr_path: Path,
        leftovers: list[psutil.Process],
    ) -> bool:
        """Record the end (True), or False when a steer came in first and nothing was written."""
        progress = self.progress
        if not self._can_continue():
            with contextlib.suppress(sqlite3.Error, OSError):
                if waiting := self.store.pending_steers(self.task_id):
                    progress.warnings.append(
                        f"{waiting} steer message(s) were not delivered: the task ended first"
                    )
        if leftovers:
            progress.warnings.append(
                "processes that could not be stopped: " + ", ".join(str(p.pid) for p in leftovers)
            )
        if isinstance(outcome, str):
            self._commit_worktree("failed")
            return self._finish(phase="failed", error=outcome, progress=progress.to_dict())
        returncode = outcome
        exit_code = returncode if returncode >= 0 else None
        exit_signal = -returncode if returncode < 0 else None
        how = f"exit code {exit_code}" if exit_code is not None else f"signal {exit_signal}"
        phase: Phase
        if self.cancelled:
            phase, error = "cancelled", self.stop_reason
        elif self.stop_reason:
            phase, error = "failed", self.stop_reason
        elif returncode == 0 and not progress.failure:
            phase, error = "completed", None
        elif progress.failure:
            phase, error = "failed", f"the model turn failed: {progress.failure}"
        elif progress.reconnecting is not None:
            tries = progress.reconnect_attempts
            phase, error = "failed", gave_up_text(progress.reconnecting, tries)
        elif said := codex_error(stderr_since(stderr_path, self.stderr_start)):
            phase, error = "failed", said  # Codex's own sentence, not its backtrace
        else:
            tail = stderr_tail(stderr_path)
            error = f"Codex stopped with {how}" + (f": {cap(tail, 1500)}" if tail else "")
            phase = "failed"
        # The work is committed on the task's branch before anyone hears the task has ended.
        self._commit_worktree(phase)
        return self._finish(
            phase=phase,
            exit_code=exit_code,
            exit_signal=exit_signal,
            error=error,
            progress=progress.to_dict(),
            result=progress.final_message,
            usage=progress.usage or None,
        )


def run_task(task_dir: Path, task_id: str) -> int:
    """Run task ``task_id`` of the store in ``task_dir`` to its recorded end (the caller holds
    the task's lock for the whole call). The exit code of the runner process."""
    os.umask(0o077)
    store = Store(task_dir, role="runner")
    row = store.get(task_id)
    if row is None:
        print(f"runner: no task {task_id}", file=sys.stderr)
        return 2
    if row.terminal:
        return 0
    if row.cancel_requested:
        store.finish(row.id, phase="cancelled", error="cancelled before it started")
        return 0
    try:
        Runner(store, row).run()
    except BaseException as exc:
        store.finish(
            row.id,
            phase="failed",
            error=f"internal error in the task runner: {exc!r}; see runner.log in the task dir",
        )
        raise
    finally:
        store.close()
    return 0
