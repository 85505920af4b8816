"""``api.http.supervisor``: the process that keeps ``amphion serve --api-only``'s workers running.

Each test runs a real supervisor process on a free loopback port with stand-in workers
(``fake_web_worker.py``, which start in milliseconds) and checks what an operator relies on:
the workers share the port, a dead one is replaced, SIGTERM stops every worker (a stuck one
is killed after the kill time), and a worker that cannot start or keeps crashing stops the
server instead of spinning. The real worker is tested through ``amphion serve --api-only``
(tests/test_cli.py, tests/ops/test_faults.py and tests/ops/test_graceful_shutdown.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.launcher import REPO_ROOT
from console.local_server import free_port
from tests.helpers import wait_until
from tests.scaleout.cluster import child_processes

FAKE_WORKER = str(Path(__file__).with_name("fake_web_worker.py"))
KILL_AFTER = 1.0  # the supervisor's kill time in these tests (8 s in the real server)
PATIENCE = 10.0

# The supervisor with stand-in workers: ``serve``'s bind and its Supervisor, a shorter kill time.
SUPERVISOR = """
import logging, sys
from api.http.supervisor import Supervisor, listening_socket
logging.basicConfig(level=logging.INFO)
with listening_socket("127.0.0.1", int(sys.argv[1])) as listener:
    command = (sys.executable, sys.argv[2])
    sys.exit(Supervisor(listener, int(sys.argv[3]), command, kill_after=float(sys.argv[4])).run())
"""


class Served:
    """A running supervisor and the port its workers answer on."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def workers(self) -> list[int]:
        return sorted(pid for pid, _command in child_processes(self.process.pid))

    def answer(self) -> int:
        """The PID of the worker that took a new connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE) as connection:
            return int(connection.makefile().readline())

    def log(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode()


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str, workers: int = 1) -> Served:
        port = free_port()
        env = {**os.environ, "FAKE_WORKER": mode, "FAKE_WORKER_MARK": str(tmp_path / "mark")}
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(port), FAKE_WORKER, str(workers),
             str(KILL_AFTER)],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its workers go with it if a test fails
        )  # fmt: skip
        started.append(process)
        served = Served(process, port)
        if mode != "fail":
            wait_until(lambda: len(served.workers()) == workers, PATIENCE, "the workers")
            served.answer()  # serving (a lone worker is past its start-up)
        return served

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=PATIENCE)


def gone(pid: int) -> bool:
    """Ended (a zombie nobody reaped yet counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_the_workers_share_the_port_and_sigterm_stops_them_all(
    supervise: Callable[..., Served],
) -> None:
    served = supervise("serve", workers=2)
    workers = served.workers()
    answered = {served.answer() for _ in range(40)}
    assert answered <= set(workers) and answered  # only the supervisor's workers answer
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=PATIENCE) == 0
    assert all(gone(pid) for pid in workers)
    assert "SIGTERM: stopping the web workers" in served.log()


def test_a_worker_killed_outright_is_replaced_on_the_same_port(
    supervise: Callable[..., Served],
) -> None:
    served = supervise("serve", workers=2)
    crashed, survivor = served.workers()
    os.kill(crashed, signal.SIGKILL)
    wait_until(
        lambda: len(served.workers()) == 2 and crashed not in served.workers(),
        PATIENCE,
        "a replacement worker",
    )
    assert survivor in served.workers()  # the other worker was left alone
    assert served.answer() in served.workers()
    assert served.process.poll() is None
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=PATIENCE) == 0
    assert "died: SIGKILL" in served.log()


def test_a_worker_stuck_past_the_kill_time_is_killed(supervise: Callable[..., Served]) -> None:
    served = supervise("stubborn")
    [stuck] = served.workers()
    signalled = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=PATIENCE) == 0
    assert time.monotonic() - signalled >= KILL_AFTER  # it was given the kill time first
    assert gone(stuck)
    assert "still there: killed" in served.log()


def test_a_worker_that_cannot_start_stops_the_server(supervise: Callable[..., Served]) -> None:
    served = supervise("fail", workers=2)
    assert served.process.wait(timeout=PATIENCE) == 3  # the worker's own exit code
    assert "ended itself with an error" in served.log()
    assert not child_processes(served.process.pid)


def test_a_crash_loop_stops_the_server(supervise: Callable[..., Served]) -> None:
    served = supervise("crash-again")
    [first] = served.workers()
    os.kill(first, signal.SIGKILL)  # replaced once; the replacement dies at once
    assert served.process.wait(timeout=PATIENCE) == 1
    log = served.log()
    assert "died: SIGKILL" in log and "died: SIGABRT" in log
    assert "a replacement died" in log


# A parent that starts a process calling ``die_with_parent``, prints its PID and waits.
PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
print(child.pid, flush=True)
time.sleep(60)
"""
CHILD = """
import sys, time
from api.http.web_worker import die_with_parent
die_with_parent(int(sys.argv[1]))  # as the real worker: the PID it was given
time.sleep(60)
"""


def test_a_real_worker_ends_with_its_supervisor_even_when_that_is_killed() -> None:
    """``api.http.web_worker`` asks the kernel for SIGTERM when its supervisor ends: a
    supervisor killed outright (SIGKILL: no chance to stop anything) leaves no worker behind."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD], cwd=REPO_ROOT, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
        # Killed before or after the child's request: either way the child ends (a child
        # that finds its parent already gone ends itself).
        parent.kill()
        parent.wait(timeout=PATIENCE)
        wait_until(lambda: gone(child), PATIENCE, "the orphaned worker to end")
    finally:
        parent.kill()
        parent.wait(timeout=PATIENCE)
