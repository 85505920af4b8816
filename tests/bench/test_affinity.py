"""B6's cores set apart: the server's whole process tree on one side, the bench and the fake on
the other, and everyone's cores given back afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.affinity import cores_apart, cpu_seconds, process_tree

# A parent whose child starts a thread after the cores were set: both must follow the parent.
SERVER_LIKE = """
import subprocess, sys, threading, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
sys.stdin.readline()  # the test sets the cores apart meanwhile
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("started", flush=True)
time.sleep(60)
"""


@contextmanager
def started(source: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", source], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def thread_cores(pid: int) -> set[frozenset[int]]:
    """The distinct core sets of ``pid``'s threads."""
    return {frozenset(os.sched_getaffinity(int(t))) for t in os.listdir(f"/proc/{pid}/task")}


def test_process_tree_lists_a_process_and_its_descendants() -> None:
    with started(SERVER_LIKE) as server:
        assert server.stdout is not None
        child = int(server.stdout.readline())
        assert process_tree(server.pid) == [server.pid, child]
        assert process_tree(child) == [child]


def test_the_server_and_the_bench_get_cores_apart_and_all_of_them_back() -> None:
    cores = frozenset(os.sched_getaffinity(0))
    with started(SERVER_LIKE) as server, started("import time; time.sleep(60)") as fake:
        assert server.stdout is not None and server.stdin is not None
        child = int(server.stdout.readline())
        with cores_apart(server.pid, [fake.pid]) as apart:
            server.stdin.write("go\n")
            server.stdin.flush()
            assert server.stdout.readline().strip() == "started"
            if len(cores) < 2:  # nothing to set apart on one core: nothing moves
                assert apart is False
                expected_server, expected_bench = {cores}, {cores}
            else:
                last = max(cores)
                assert apart is True
                expected_server, expected_bench = {cores - {last}}, {frozenset({last})}
            for pid in (server.pid, child):  # the new thread included
                assert thread_cores(pid) == expected_server
            for pid in (os.getpid(), fake.pid):
                assert thread_cores(pid) == expected_bench
        for pid in (server.pid, child, os.getpid(), fake.pid):
            assert thread_cores(pid) == {cores}


# Spins until it has used a quarter of a second of CPU in each of two processes, then waits.
SPINNING = """
import os, time
os.fork()
while time.process_time() < 0.25:
    pass
print("spun", flush=True)
time.sleep(60)
"""


def test_cpu_seconds_counts_every_process_of_a_tree() -> None:
    with started(SPINNING) as spinner:
        assert spinner.stdout is not None
        assert [spinner.stdout.readline(), spinner.stdout.readline()] == ["spun\n"] * 2
        tree = process_tree(spinner.pid)
        assert len(tree) == 2
        used = cpu_seconds(tree)
        assert 0.45 <= used < 5.0  # both quarters counted (to a few 10 ms clock ticks)
        assert cpu_seconds(tree) - used < 0.05  # nothing more while they wait
        assert cpu_seconds([spinner.pid]) < used and cpu_seconds([]) == 0.0
