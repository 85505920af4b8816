"""A serving process's threads under Linux's ``SCHED_BATCH`` (what ``chrt --batch`` sets).

Every thread of a server process needs the GIL to run Python: the event loop, the worker
threads of blocking work, the HTTP server's own threads when they hand a request over. Under
the default policy a thread that I/O wakes (a provider's answer arrived, the writer lock was
handed over, a result came back to the event loop) preempts the thread running on its core,
which most of the time holds the GIL: the woken thread runs just long enough to find the GIL
taken and sleeps again, the preempted one resumes. Two context switches for nothing, each
one leaving cold caches behind, and under load they come many times per request.

Under ``SCHED_BATCH`` a thread woken up does not preempt: it runs when the running thread
blocks (which releases the GIL) or uses up its time slice. Niceness is unchanged, so the
process's share of the CPU is too; sched(7): such a thread is "mildly disfavored in
scheduling decisions" on wake-up. Measured with bench row B6's load (50 hosted calls in
flight, the server on one core of its own; ``python -m bench.compare``, servers with and
without it taking turns for six rounds, 07 Dec): context switches 40.8 → 22.5 a call (of them
involuntary 14.9 → 4.0), added latency at p50 5.3 → 4.2 ms and at p99 9.9 → 5.7 ms, the
server's CPU a call unchanged. Sharing both cores with the load's other processes
(``--shared``): p50 3.8 → 3.0 ms, p99 8.5 → 4.7 ms.

Threads inherit the policy of the thread that starts them, so moving every thread of the
process once, when the server starts, covers the worker threads started later too.
"""

from __future__ import annotations

import os
from pathlib import Path

_TASKS = Path("/proc/self/task")


def run_threads_as_batch() -> int:
    """Put every thread of this process under ``SCHED_BATCH``; the threads they start later
    inherit it. Returns how many threads were moved: 0 where the system has no such policy
    (not Linux) or refuses it (a sandbox that filters the call), and the server runs as
    before."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return 0
    try:
        tasks = [int(task.name) for task in _TASKS.iterdir()]
    except OSError:
        return 0
    moved = 0
    for task in tasks:
        try:
            os.sched_setscheduler(task, policy, os.sched_param(0))
        except OSError:  # the thread ended meanwhile, or the call is not allowed here
            continue
        moved += 1
    return moved
