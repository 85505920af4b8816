"""A stand-in for ``api.http.web_worker`` in the supervisor's tests: starts in milliseconds.

    python tests/http/fake_web_worker.py FD SUPERVISOR_PID     (what the supervisor runs)

What it does comes from ``FAKE_WORKER`` in its environment:

* ``serve``: answers every connection on the inherited socket with its PID, until SIGTERM;
* ``stubborn``: as ``serve``, but ignores SIGTERM (a worker stuck past the grace);
* ``fail``: exits with code 3 at once, as uvicorn does when the app cannot start;
* ``crash-again``: as ``serve`` the first time; a replacement (the file named by
  ``FAKE_WORKER_MARK`` exists by then) dies of SIGABRT at once: a crash loop.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path


def serve(listener: socket.socket) -> None:
    while True:
        connection, _address = listener.accept()
        with connection:
            connection.sendall(f"{os.getpid()}\n".encode())


def main() -> int:
    mode = os.environ["FAKE_WORKER"]
    listener = socket.socket(fileno=int(sys.argv[1]))
    if mode == "fail":
        return 3
    if mode == "crash-again":
        mark = Path(os.environ["FAKE_WORKER_MARK"])
        if mark.exists():
            os.abort()
        mark.touch()
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())
