"""Cores set apart for row B6: the server on its own, the callers and the provider fake on one more.

    with cores_apart(server.pid, [fake_pid]) as apart:   # apart: False on a one-core machine
        ...   # the server's processes run on every core but the last; this process and the
              # fake on the last one; every thread started meanwhile inherits its side's cores

B6 measures what the gateway adds in front of a remote provider. Its callers and its provider
stand for other machines, yet here they share two cores with the server, and when they run
they take the core the server's request was about to use: alternating rounds of B6's load on
one server (06 Dec) added 3.7 ms at p50 with them kept on a core of their own against 4.7 ms
with all three processes free to use both cores, every round of the pair lower. The row
reports both: the judged figure with the cores apart, the shared one as a note.

Linux only (``sched_setaffinity`` on every thread, found under ``/proc``). On leaving, every
thread of the same processes gets back the cores this process had when it entered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (``/proc``'s child lists), parents first."""
    found = [pid]
    for task in _tasks(pid):
        for child in _task_file(pid, task, "children").split():
            found += process_tree(int(child))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time (user and system) the processes ``pids`` have used so far, all their threads
    together, from ``/proc`` (a process that has ended counts nothing)."""
    ticks = 0
    for pid in pids:
        try:
            stat = (Path("/proc") / str(pid) / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the fields after it are safe.
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def context_switches(pids: Iterable[int]) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of every thread of ``pids`` so far, from
    ``/proc``: a thread that waited (for I/O, a lock, the GIL) against one the scheduler took
    the core from while it could still run."""
    voluntary = involuntary = 0
    for pid in pids:
        for task in _tasks(pid):
            for line in _task_file(pid, task, "status").splitlines():
                name, _, value = line.partition(":")
                if name == "voluntary_ctxt_switches":
                    voluntary += int(value)
                elif name == "nonvoluntary_ctxt_switches":
                    involuntary += int(value)
    return voluntary, involuntary


def _task_file(pid: int, task: int, name: str) -> str:
    """``/proc/PID/task/TASK/NAME``; empty when the thread ended meanwhile."""
    try:
        return (Path("/proc") / str(pid) / "task" / str(task) / name).read_text()
    except OSError:
        return ""


def _tasks(pid: int) -> list[int]:
    try:
        return [int(task) for task in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []  # the process ended meanwhile


def pin(pids: Iterable[int], cores: set[int]) -> None:
    """Every thread of ``pids`` on ``cores`` (threads they start later inherit it)."""
    for pid in pids:
        for task in _tasks(pid):
            try:
                os.sched_setaffinity(task, cores)
            except (ProcessLookupError, PermissionError):
                continue  # ended meanwhile, or not ours to move


@contextmanager
def cores_apart(server_pid: int, others: Iterable[int]) -> Iterator[bool]:
    """The server's process tree on all of this process's cores but the last; this process
    and ``others`` on the last one. Yields whether the cores could be set apart (a machine
    with one core cannot); restores everything on leaving."""
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        yield False
        return
    own = {max(cores)}
    bench = [os.getpid(), *others]
    server = process_tree(server_pid)
    pin(server, cores - own)
    pin(bench, own)
    try:
        yield True
    finally:
        pin(process_tree(server_pid), cores)
        pin(bench, cores)
