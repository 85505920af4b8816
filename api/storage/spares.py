"""Empty files made ahead of the writes that fill them: creating a file off the request path.

    spares = SpareFiles(root / ".spare", keep=16)
    path = spares.take()      # an empty file for the caller alone, or None: make one as before
    ...                       # fill it, then os.replace it into place

Creating a file is the one part of storing an object whose cost depends on the disk's recent
past: ext4 without a journal (and ext2) looks for a free inode from the start of a block group
and skips every inode deleted there in the last minutes, one buffer lookup each. After a few
thousand deletions nearby (a retention sweep, a test suite, a removed temp dir), each file made
there cost 0.4-0.9 ms of kernel CPU on the bench's machine instead of 0.02-0.09 ms, on every
billable response (bench row B6; bench/RESULTS.md). A write that takes a spare only opens it;
a daemon thread makes new spares once half of them are gone.

Each process keeps its spares in a folder of its own, ``<directory>/<token>/``, and holds an
exclusive ``flock`` on the folder's ``.lock`` for as long as it runs: a spare is handed out
once, never to two processes (a forked child starts a folder of its own). When a pool starts,
it removes the folders whose lock nobody holds any more: a process that crashed, or a server
worker that ended without running Python's exit hooks (as granian's do on SIGTERM). A pool
removes its own when it is dropped or the interpreter exits normally. Object keys cannot reach
any of it: no key segment starts with a dot.
"""

from __future__ import annotations

import collections
import fcntl
import os
import secrets
import shutil
import threading
import weakref

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
LOCK_NAME = ".lock"

# One pool start at a time in a process; a forked child gets a new lock, since the fork may
# have copied this one held by a thread of the parent.
_starting = threading.Lock()


def _new_start_lock() -> None:
    global _starting
    _starting = threading.Lock()


os.register_at_fork(after_in_child=_new_start_lock)


class SpareFiles:
    """Up to ``keep`` empty files (mode 0600) in this process's own folder under ``directory``."""

    def __init__(self, directory: str, keep: int) -> None:
        self._directory = directory
        self._keep = keep
        self._pid = -1
        self._folder = ""
        self._ready: collections.deque[str] = collections.deque()
        self._filling = threading.Lock()
        self._release: weakref.finalize | None = None

    def take(self) -> str | None:
        """An empty file the caller alone will use, or None when none is ready yet."""
        if os.getpid() != self._pid:  # first use, or a forked child: the parent's are its own
            with _starting:  # two first calls at once would make two folders, one leaked
                if os.getpid() != self._pid:
                    self._start()
        try:
            path: str | None = self._ready.popleft()
        except IndexError:
            path = None
        if len(self._ready) <= self._keep // 2 and self._folder:
            self._refill_soon()
        return path

    def ready(self) -> int:
        """How many spares are waiting."""
        return len(self._ready)

    def _start(self) -> None:
        # The pid is set last: a call that sees it has found this process's own queue (a
        # forked child's calls must never reach the parent's spares meanwhile).
        self._ready = collections.deque()
        self._filling = threading.Lock()  # a fork may copy it held by a thread that is gone
        if self._release is not None:
            self._release.detach()  # a forked child: the parent's folder is the parent's
            self._release = None
        try:
            self._folder, lock = _locked_folder(self._directory)
        except OSError:
            self._folder = ""  # no spares: every write makes its own file, as without a pool
        else:
            _remove_abandoned(self._directory)
            # When the pool goes (its store dropped, or the process ending): lock and folder.
            self._release = weakref.finalize(self, _release, self._folder, lock, os.getpid())
        self._pid = os.getpid()

    def _refill_soon(self) -> None:
        if self._filling.acquire(blocking=False):
            thread = threading.Thread(target=self._refill, name="spare-files", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # the interpreter is shutting down
                self._filling.release()

    def _refill(self) -> None:
        try:
            while len(self._ready) < self._keep:
                path = os.path.join(self._folder, secrets.token_hex(8))
                os.close(os.open(path, _CREATE, 0o600))
                self._ready.append(path)
        except OSError:
            pass  # a full disk, a removed folder: writes make their own files and say why
        finally:
            self._filling.release()


def _locked_folder(directory: str) -> tuple[str, int]:
    """A new folder under ``directory`` and the descriptor holding its ``.lock``.

    The lock is taken under another name and renamed into place, so nobody finds the folder's
    ``.lock`` free between its creation and its locking."""
    folder = os.path.join(directory, secrets.token_hex(8))
    os.makedirs(folder)
    pending = os.path.join(folder, ".lock-pending")
    descriptor = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)  # held until the pool is released
    os.rename(pending, os.path.join(folder, LOCK_NAME))
    return folder, descriptor


def _remove_abandoned(directory: str) -> None:
    """Remove the folders whose lock is free: their process no longer runs."""
    try:
        folders = os.listdir(directory)
    except OSError:
        return
    for folder in folders:
        path = os.path.join(directory, folder)
        try:
            descriptor = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # not a pool's folder, or one still being made
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its process runs
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(descriptor)


def _release(folder: str, lock: int, owner: int) -> None:
    # A forked child that never took a spare still has its parent's finalizer, and runs it
    # if it exits normally: the folder is the parent's to remove. (Closing the child's copy of
    # the descriptor leaves the parent's lock held: a flock belongs to the open file.)
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)
    os.close(lock)
