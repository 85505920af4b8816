"""The supervising process of ``amphion serve --api-only``: one port, N web worker processes.

The supervisor binds the listening socket, starts ``workers`` processes of
``api.http.web_worker`` that all accept on it (the kernel spreads connections between them),
and then only watches:

* **A worker that dies is replaced** (a crash in an engine's native code, the OOM killer): the
  port keeps answering from the other workers meanwhile, and the dead one's credit holds are
  released by the sweeper once its heartbeat is stale. Two cases stop the server instead, as
  a respawn could not help: a worker that *exits with an error code* (it ended itself: uvicorn
  does so when the app cannot start, say with a bad setting or a database it cannot reach; a
  crash is a death by a signal), and a replacement that dies again within
  ``CRASH_LOOP_SECONDS`` of its start (a crash loop).
* **SIGTERM or SIGINT stops everything**: the workers get SIGTERM (they stop accepting, let
  streams finish within their grace and settle; see ``api.http.shutdown``); one still there
  ``SERVER_KILL_AFTER_SECONDS`` after the signal is killed; the supervisor exits 0.

Signals and child exits wake the supervisor through ``signal.set_wakeup_fd`` and ``select``:
it does not poll, so it takes no CPU from the workers while they serve. Each worker is a fresh
interpreter (``subprocess``, not ``fork``): nothing the supervisor imported or opened is
shared, and a worker's children are its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from api.http.shutdown import SERVER_KILL_AFTER_SECONDS, STOP_SIGNALS

logger = logging.getLogger("amphion.http.supervisor")

# A replacement worker that dies this soon after its start is in a crash loop: the server
# stops rather than spin.
CRASH_LOOP_SECONDS = 5.5
LISTEN_BACKLOG = 2048


@dataclass
class WorkerSlot:
    """One of the N places for a worker process, and who fills it now."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    replacement: bool = False


# A worker is this command with two arguments: the listening socket's descriptor (inherited)
# and the supervisor's PID.
WORKER_COMMAND = (sys.executable, "-m", "api.http.web_worker")


@dataclass
class Supervisor:
    listener: socket.socket
    workers: int
    command: tuple[str, ...] = WORKER_COMMAND
    kill_after: float = SERVER_KILL_AFTER_SECONDS
    slots: list[WorkerSlot] = field(init=False)

    def __post_init__(self) -> None:
        self.slots = [WorkerSlot(number) for number in range(1, self.workers + 1)]

    def start(self, slot: WorkerSlot, *, replacement: bool = False) -> None:
        fd = self.listener.fileno()
        slot.process = subprocess.Popen([*self.command, str(fd), str(os.getpid())], pass_fds=(fd,))
        slot.started = time.monotonic()
        slot.replacement = replacement
        logger.info("web worker %d started (pid %d)", slot.number, slot.process.pid)

    def run(self) -> int:
        """Serve until a stop signal (0) or until workers cannot be kept running (the dead
        worker's exit code, or 1 for a crash loop)."""
        with _wakeups() as wakeups:
            for slot in self.slots:
                self.start(slot)
            failure = self._watch(wakeups)
            self._stop_all()
        return failure

    def _watch(self, wakeups: socket.socket) -> int:
        """Replace dead workers until a stop signal; the exit code of a server that cannot."""
        while True:
            for signum in _drain(wakeups):
                if signum in STOP_SIGNALS:
                    logger.info("%s: stopping the web workers", signal.Signals(signum).name)
                    return 0
            for slot in self.slots:
                failure = self._check(slot)
                if failure is not None:
                    return failure
            select.select([wakeups], [], [])

    def _check(self, slot: WorkerSlot) -> int | None:
        """Replace the slot's worker if it died; the server's exit code if it must stop."""
        assert slot.process is not None
        code = slot.process.poll()
        if code is None:
            return None
        lived = time.monotonic() - slot.started
        cause = f"exit code {code}" if code >= 0 else signal.Signals(-code).name
        logger.error("web worker %d (pid %d) died: %s", slot.number, slot.process.pid, cause)
        if code > 0:  # uvicorn's answer to a failed start-up, or an import error
            logger.error("it ended itself with an error: stopping the server")
            return code
        if slot.replacement and lived < CRASH_LOOP_SECONDS:
            logger.error("a replacement died %.1f s after its start: stopping the server", lived)
            return 1
        self.start(slot, replacement=True)
        return None

    def _stop_all(self) -> None:
        """SIGTERM to every live worker; SIGKILL to those still there after the kill time."""
        running = [s.process for s in self.slots if s.process and s.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.kill_after
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                logger.warning("web worker pid %d still there: killed", process.pid)
                process.kill()
                process.wait()


@contextlib.contextmanager
def _wakeups():  # noqa: ANN202 - Iterator[socket.socket]
    """A socket that receives a byte for every stop signal and child exit."""
    receiver, sender = socket.socketpair()
    for end in (receiver, sender):
        end.setblocking(False)
    previous_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    watched = (*STOP_SIGNALS, signal.SIGCHLD)
    # A Python-level handler is what makes the signal write to the wakeup fd; it does nothing
    # itself (the byte carries the signal's number). Stop signals no longer end the process.
    previous = {signum: signal.signal(signum, _noted) for signum in watched}
    try:
        yield receiver
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        receiver.close()
        sender.close()


def _noted(_signum: int, _frame: object) -> None:
    """The wakeup fd already has the signal's number."""


def _drain(wakeups: socket.socket) -> list[int]:
    """The signal numbers received since the last call."""
    received = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := wakeups.recv(512):
            received += chunk
    return list(received)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's TCP socket, bound and listening, for the workers to accept on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


def serve(host: str, port: int, workers: int) -> int:
    """``amphion serve --api-only``: bind, supervise ``workers`` processes, return the exit code."""
    with listening_socket(host, port) as listener:
        logger.info("serving the API on http://%s:%d with %d web worker(s)", host, port, workers)
        return Supervisor(listener, workers).run()
