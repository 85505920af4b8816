"""One web worker process of ``amphion serve --api-only``: the API under uvicorn on a given socket.

    python -m api.http.web_worker FD      (started by ``api.http.supervisor``, which owns FD)

uvicorn with its C parts (``httptools`` for HTTP/1.1, ``uvloop`` for the event loop) and
nothing in between: the request is parsed and answered on the thread that runs the app.
granian, the server before, hands every request between its Rust runtime thread and the Python
event loop's thread. Under bench row B6's load, eight rounds each against granian
(``python -m bench.compare``): 11.9 context switches a call instead of 22.4, 4.2 ms of CPU a
call instead of 4.7, and the added p50 lower in 7 of 8 rounds (median 4.9 against 5.8 ms).

The worker dies with its supervisor (``PR_SET_PDEATHSIG``): a supervisor killed outright does
not leave workers serving a port nobody watches. SIGTERM and SIGINT stop it gracefully:
uvicorn stops accepting, ``api.http.shutdown`` cuts streams after their grace, and uvicorn
cancels whatever is still running ``WORKER_STOP_SECONDS`` after the signal, a second before
the supervisor's kill.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys

import uvicorn

from api.http.shutdown import SERVER_KILL_AFTER_SECONDS

# uvicorn's own limit for open connections after SIGTERM: streams are cut at 5 s
# (STREAM_GRACE_SECONDS); the lifespan's clean-up then runs before the supervisor's kill.
WORKER_STOP_SECONDS = SERVER_KILL_AFTER_SECONDS - 1
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Have the kernel send SIGTERM to this process when ``parent`` ends (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM is all there is
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def worker_config() -> uvicorn.Config:
    """uvicorn's settings for the API; the socket comes from the supervisor."""
    return uvicorn.Config(
        "api.http.app:create_api",
        factory=True,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        # Logging is the process's own (``main``); uvicorn's start-up lines are the
        # supervisor's to say, its access log is off (one line a request is measurable).
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        # X-Forwarded-For is the app's to weigh, against AMPHION_TRUSTED_PROXIES
        # (api.security.client_address); uvicorn would otherwise believe any loopback peer.
        proxy_headers=False,
        timeout_graceful_shutdown=WORKER_STOP_SECONDS,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m api.http.web_worker FD SUPERVISOR_PID", file=sys.stderr)
        return 2
    fd, supervisor = int(args[0]), int(args[1])
    die_with_parent(supervisor)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    listener = socket.socket(fileno=fd)
    uvicorn.Server(worker_config()).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
