"""A pre-imported parent that forks task runners, so a runner costs a fork, not a Python start.

Owns: the fork server process (``python -m codex_mcp_swarm.engine.runner --forkserver-fd N``,
started by :class:`ForkServer` with every module a runner needs already imported) and the small
protocol to it over a Unix socket: the engine sends ``{"task_dir", "task_id"}`` with the task's
locked ``runner.lock`` descriptor attached (``SCM_RIGHTS``); the fork server forks, the child
starts a new session and forks again, and the grandchild (the runner, in its own session,
re-parented away from the fork server at once) gets fresh stdio and signal dispositions and runs
:func:`.supervisor.run_task` while holding the lock. The intermediate child answers with the
runner's pid and exits. The fork server process is started with the runner's command line
(:mod:`.runner`, ``--forkserver-fd``), so forked runners carry it as spawned ones do.

So a runner outlives the server and the fork server alike, holds its task's lock for its whole
life, and records its end, exactly as a runner started with ``subprocess``. When anything about
the fork server fails, :class:`ForkServer` says so and the caller spawns runners the plain way.

Must not: run tasks itself, or hold a task's lock after handing it to the runner (a waiter would
not wake until the fork server exits). The fork server has no threads: forking is safe (the
engine's side, :class:`ForkServer`, starts it from one warm-up thread, which ``close`` joins).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .errors import Code, EngineError

RUNNER_MODULE = "codex_mcp_swarm.engine.runner"
FORK_TIMEOUT = 10.0  # seconds to wait for the fork server's answer before giving up on it
MAX_MESSAGE = 8192


class ForkServerError(EngineError):
    """The fork server could not start a runner. ``maybe_started``: the request had been sent
    when it failed, so a runner holding the task's lock may exist: starting another would run
    the task twice (the caller leaves it to adoption, which judges by the lock)."""

    default_code = Code.UNAVAILABLE

    def __init__(self, template: str, *, maybe_started: bool = False, **facts: Any) -> None:
        super().__init__(template, **facts)
        self.maybe_started = maybe_started


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(MAX_MESSAGE)
        if not chunk:
            raise ForkServerError("the fork server closed its socket")
        data += chunk
    return data


class ForkServer:
    """The engine's side: starts the fork server on first use; :meth:`spawn` a runner."""

    def __init__(self, log_path: Path | None = None) -> None:
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._broken = False
        self._warmer: threading.Thread | None = None  # joined by close()
        self._closing = False

    def _ensure(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._close_locked()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log = subprocess.DEVNULL
        log_fd = None
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                log_fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", RUNNER_MODULE, "--forkserver-fd", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=log_fd if log_fd is not None else log,
                stderr=log_fd if log_fd is not None else log,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a Ctrl-C in the server's terminal does not reach it
            )
        finally:
            theirs.close()
            if log_fd is not None:
                os.close(log_fd)
        ours.settimeout(FORK_TIMEOUT)
        self._sock = ours
        # Ready once its imports are done: it answers a ping.
        ours.sendall(b'{"ping": true}\n')
        if json.loads(_read_line(ours)).get("pong") is not True:
            raise ForkServerError("the fork server did not answer its ping")
        return ours

    def warm(self) -> None:
        """Start the fork server now (in the background), so the first task does not wait for
        its imports. Failures are left for :meth:`spawn` to report. :meth:`close` waits for it."""
        if self._warmer is not None or self._proc is not None:
            return
        self._warmer = threading.Thread(target=self._warm, daemon=True, name="forkserver-warm")
        self._warmer.start()

    def _warm(self) -> None:
        with self._lock, contextlib.suppress(Exception):
            if not self._broken and not self._closing:
                self._ensure()

    def spawn(self, task_dir: Path, task_id: str, lock_fd: int) -> int:
        """Fork a runner for ``task_id`` holding ``lock_fd`` (the caller keeps and then closes
        its own copy); returns the runner's pid. Raises ForkServerError when it could not."""
        with self._lock:
            if self._broken:
                raise ForkServerError("the fork server failed before")
            sent = False
            try:
                sock = self._ensure()
                message = json.dumps({"task_dir": str(task_dir), "task_id": task_id}).encode()
                socket.send_fds(sock, [message + b"\n"], [lock_fd])
                sent = True
                answer = json.loads(_read_line(sock))
            except (OSError, ValueError, ForkServerError) as exc:
                self._broken = True  # do not pay the timeout again: spawn plainly from now on
                self._close_locked()
                raise ForkServerError(
                    "the fork server failed: {reason}", maybe_started=sent, reason=str(exc)
                ) from exc
            pid = answer.get("pid")
            if not isinstance(pid, int) or pid <= 0:
                raise ForkServerError(
                    "the fork server could not fork: {reason}", reason=str(answer.get("error"))
                )
            return pid

    def _close_locked(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()  # EOF: the fork server exits
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Stop the fork server (runners it forked run on), after a warm-up still under way:
        nothing of it is left running once this returns."""
        self._closing = True  # a warm-up that has not started yet does nothing
        warmer, self._warmer = self._warmer, None
        if warmer is not None:
            warmer.join()
        with self._lock:
            self._close_locked()
        self._closing = False


# ---- the fork server process ---------------------------------------------------------------


def _child(sock: socket.socket, request: dict[str, str], lock_fd: int) -> None:
    """In the forked child: new session, fork the runner, report its pid, exit."""
    code = 0
    try:
        os.setsid()
        pid = os.fork()
        if pid:
            sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        else:
            sock.close()
            code = _run_forked(Path(request["task_dir"]), request["task_id"], lock_fd)
    except BaseException as exc:  # never return into the fork server's loop
        with contextlib.suppress(Exception):
            sock.sendall(json.dumps({"pid": 0, "error": repr(exc)}).encode() + b"\n")
        code = 70
    finally:
        os._exit(code)


def _run_forked(task_dir: Path, task_id: str, lock_fd: int) -> int:
    """The runner's life in the forked grandchild: fresh stdio and signal dispositions, then
    :func:`.supervisor.run_task`. ``lock_fd`` stays open (held) until the process ends."""
    from .store import Store
    from .supervisor import run_task

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        log = os.open(
            Store.runner_log_path(task_dir, task_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    except OSError:
        pass
    os.set_inheritable(lock_fd, False)  # Codex must not inherit the task's lock
    code = 70
    try:
        code = run_task(task_dir, task_id)
    except BaseException as exc:  # recorded by run_task; the traceback goes to runner.log
        import traceback

        traceback.print_exception(exc)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    return code


def serve(fd: int) -> int:
    """The fork server's loop: one request at a time until the engine closes the socket."""
    import gc

    # Imported once here, shared by every fork.
    from . import branches, procs, supervisor  # noqa: F401
    from .rehearsal import rehearse

    procs.preload()  # libc and setpriv found once here, not in every runner
    rehearse()  # and the runner's first steps run once, so forks start with warm code

    sock = socket.socket(fileno=fd)
    gc.freeze()  # objects imported so far stay out of the collector: fewer copied pages per fork
    buffer = b""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
        except OSError:
            return 0
        if not data:
            return 0  # the engine is gone
        buffer += data
        if not buffer.endswith(b"\n"):
            for extra in fds:
                os.close(extra)
            continue
        line, buffer = buffer, b""
        try:
            request = json.loads(line)
        except ValueError:
            request = {}
        try:
            if request.get("ping"):
                sock.sendall(b'{"pong": true}\n')
                continue
            if len(fds) != 1 or not request.get("task_id"):
                for extra in fds:
                    os.close(extra)
                sock.sendall(b'{"pid": 0, "error": "bad request"}\n')
                continue
        except OSError:
            return 0  # the engine is gone
        pid = os.fork()
        if pid == 0:
            _child(sock, request, fds[0])
        os.close(fds[0])  # the runner holds the lock now; the fork server must not
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
